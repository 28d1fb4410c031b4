"""Forged identities are refused on the real servers: at the gateway (tokens checked against the provider's real
JWKS), and by a service reached without the gateway (it verifies the token itself and trusts no header)."""

import base64
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import PASSWORD


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forgeries(real: str, issuer: str) -> dict[str, str]:
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    head, body, sig = real.split(".")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return {
        "signed by another key under the real kid": jwt.encode(
            claims, other_key, "RS256", headers={"kid": header["kid"]}
        ),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{body}.",
        "expired": jwt.encode(
            {**claims, "iat": now - 7200, "exp": now - 3600}, other_key, "RS256", headers={"kid": header["kid"]}
        ),
        "a claim changed (officer of another unit)": f"{head}.{b64({**claims, 'unit': '000.26.02.H29'})}.{sig}",
        "a claim changed (wrong audience)": f"{head}.{b64({**claims, 'aud': 'someone-else'})}.{sig}",
        "a claim changed (wrong issuer)": f"{head}.{b64({**claims, 'iss': 'http://127.0.0.1:1'})}.{sig}",
        "garbage": "not.a.token",
    }


@pytest.fixture(scope="module")
async def officer_token(system) -> str:
    from motcua_common.oidc_client import login

    async with httpx.AsyncClient(base_url=system.gateway, timeout=15) as api:
        return (await login(api, "hoa.tiepnhan", PASSWORD, account="officer")).access_token


async def test_forged_tokens_are_refused_at_the_gateway(api, system, officer_token):
    assert (
        await api.get("/api/v1/work-queue", headers={"Authorization": f"Bearer {officer_token}"})
    ).status_code == 200
    for name, token in forgeries(officer_token, system.gateway).items():
        resp = await api.get("/api/v1/work-queue", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, (name, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json"), name
        assert resp.headers["www-authenticate"].startswith("Bearer"), name


async def test_a_service_reached_directly_refuses_forged_identities(system, officer_token):
    """Processing is reached without the gateway: identity headers mean nothing to it, forged tokens are 401."""
    async with httpx.AsyncClient(base_url=system.urls["processing"], timeout=15) as direct:
        spoofed = {"X-Officer-Id": "hoa.tiepnhan", "X-Officer-Unit": "000.26.01.H29", "X-User": "admin"}
        assert (await direct.get("/api/v1/work-queue", headers=spoofed)).status_code == 401
        for name, token in forgeries(officer_token, system.gateway).items():
            resp = await direct.get("/api/v1/work-queue", headers={"Authorization": f"Bearer {token}", **spoofed})
            assert resp.status_code == 401, (name, resp.text)
        ok = await direct.get("/api/v1/work-queue", headers={"Authorization": f"Bearer {officer_token}"})
        assert ok.status_code == 200


async def test_a_key_rotation_reaches_the_gateway_and_the_services(api, system, officer_token):
    """After the provider rotates its signing key, new tokens carry the new kid and are accepted (the gateway and
    processing refetch the JWKS on the unknown kid), and tokens signed before the rotation stay valid."""
    import asyncio

    import asyncpg

    from citizen_id.keys import rotate
    from motcua_common.oidc_client import login

    settings = system.settings["citizen-id"]
    old_kid = jwt.get_unverified_header(officer_token)["kid"]
    conn = await asyncpg.connect(settings.dsn)
    try:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        retired, new_kid = await rotate(conn, settings)
    finally:
        await conn.close()
    assert retired == old_kid and new_kid != old_kid
    jwks = (await api.get("/oauth/jwks")).json()
    assert {old_kid, new_kid} <= {k["kid"] for k in jwks["keys"]}
    await asyncio.sleep(5.5)  # JWKS refetches are rate-limited to one per 5 s per process
    fresh = (await login(api, "tuan.lanhdao", PASSWORD, account="officer")).access_token
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    for token in (fresh, officer_token):
        resp = await api.get("/api/v1/work-queue", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text
