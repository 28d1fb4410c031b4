"""The mock VNeID provider end to end on the real PostgreSQL: discovery, JWKS, the login page, the
authorization code flow with PKCE, refresh-token rotation, client credentials and key rotation. Tokens
are checked with the platform's own verifier (motcua_common.auth) over the provider's JWKS."""

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from fastapi import FastAPI

from citizen_id import keys, oidc
from citizen_id.accounts import seed_accounts
from citizen_id.main import MIGRATIONS, create_app
from citizen_id.seed import seed
from citizen_id.settings import Settings
from citizen_id.subjects import citizen_subject
from motcua_common import ProblemError
from motcua_common.auth import JWKSCache, Principal, ServiceCredentials, TokenVerifier
from motcua_common.testing import create_database, drop_database, per_run_settings

pytestmark = pytest.mark.integration
BASE = "http://citizen-id"
APP = "motcua-app"
REDIRECT = "http://127.0.0.1:8000/oauth/callback"
AN = "001090001234"
DECEASED = "036045000999"
PASSWORD = "demo1234"
WRONG_CREDENTIALS = "Thông tin đăng nhập không đúng"


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    s = per_run_settings(Settings, "citizen-id-oidc")
    await drop_database(s)
    await create_database(s, MIGRATIONS)
    await seed(s.dsn, 0, verbose=False)  # the demo citizens only
    yield s
    await drop_database(s)


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
async def db(settings: Settings) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    yield conn
    await conn.close()


def make_verifier(client: httpx.AsyncClient, settings: Settings) -> TokenVerifier:
    """A fresh verifier, as another service would build it: the JWKS fetched over HTTP from the provider."""
    return TokenVerifier(
        JWKSCache(f"{BASE}/oauth/jwks", client, min_refresh=0), issuer=settings.issuer, audience=settings.audience
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_params(challenge: str, **overrides) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": APP,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(8),
        "scope": "openid",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


async def login(
    client: httpx.AsyncClient, account_type: str, username: str, password: str = PASSWORD, **overrides
) -> tuple[httpx.Response, dict[str, str], str]:
    """GET the login page, then POST the credentials: (the POST's response, the params, the PKCE verifier)."""
    verifier, challenge = pkce()
    params = authorize_params(challenge, **overrides)
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    assert "Số định danh cá nhân" in page.text and "Cán bộ" in page.text
    form = {**params, "account_type": account_type, "username": username, "password": password}
    resp = await client.post("/oauth/authorize", data=form)
    return resp, params, verifier


async def code_for(client: httpx.AsyncClient, account_type: str, username: str, **overrides):
    resp, params, verifier = await login(client, account_type, username, **overrides)
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == params["redirect_uri"]
    assert query["state"] == params["state"]
    return query["code"], verifier, params


async def exchange(client: httpx.AsyncClient, code: str, verifier: str | None, redirect_uri: str = REDIRECT):
    data = {"grant_type": "authorization_code", "client_id": APP, "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return await client.post("/oauth/token", data=data)


async def refresh(client: httpx.AsyncClient, refresh_token: str, **extra):
    return await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": APP, "refresh_token": refresh_token, **extra},
    )


async def tokens_for(client: httpx.AsyncClient, account_type: str, username: str, **overrides) -> dict:
    code, verifier, params = await code_for(client, account_type, username, **overrides)
    resp = await exchange(client, code, verifier, params["redirect_uri"])
    assert resp.status_code == 200, resp.text
    return resp.json()


def error_message(page: str) -> str:
    return page.split('role="alert">')[1].split("</div>")[0]


def assert_oauth_error(resp: httpx.Response, status: int, error: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == error
    assert body["error_description"]


# --- discovery and keys ---


async def test_discovery_document(client: httpx.AsyncClient, settings: Settings):
    resp = await client.get("/.well-known/openid-configuration")
    assert resp.status_code == 200
    doc = resp.json()
    issuer = settings.issuer.rstrip("/")
    assert doc["issuer"] == settings.issuer
    assert doc["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert doc["token_endpoint"] == f"{issuer}/oauth/token"
    assert doc["jwks_uri"] == f"{issuer}/oauth/jwks"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"none", "client_secret_basic", "client_secret_post"}


async def test_jwks_publishes_one_active_public_key(client: httpx.AsyncClient):
    resp = await client.get("/oauth/jwks")
    assert resp.status_code == 200
    (key,) = resp.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()  # never the private half


# --- authorization code + PKCE ---


async def test_citizen_logs_in_with_pkce(client: httpx.AsyncClient, settings: Settings):
    body = await tokens_for(client, "citizen", AN, nonce="n-123")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["refresh_token"] and body["scope"] == "openid"
    principal = await make_verifier(client, settings).verify(body["access_token"])
    assert principal.kind == "citizen"
    assert principal.personal_id == AN and principal.name == "Nguyễn Văn An"
    assert principal.subject == citizen_subject(AN, settings.subject_secret)
    assert principal.subject.startswith("vn1.") and AN not in principal.subject
    assert principal.client_id == APP and principal.scopes == {"openid"}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600 and claims["aud"] == "motcua"
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["aud"] == APP and id_token["sub"] == principal.subject and id_token["nonce"] == "n-123"


async def test_officer_logs_in_with_pkce(client: httpx.AsyncClient, settings: Settings):
    verifier = make_verifier(client, settings)
    hoa = await verifier.verify((await tokens_for(client, "officer", "hoa.tiepnhan"))["access_token"])
    assert hoa == Principal(
        kind="officer",
        subject="hoa.tiepnhan",
        client_id=APP,
        scopes=frozenset({"openid"}),
        name="Nguyễn Thị Hoa",
        unit_code="000.26.01.H29",
        roles=frozenset({"receiving_officer"}),
    )
    minh = await verifier.verify((await tokens_for(client, "officer", "minh.congan"))["access_token"])
    assert minh.unit_code == "000.26.02.H29"
    assert minh.roles == {"receiving_officer", "specialist", "approver"}
    assert minh.has_role("approver") and not minh.has_role("unit_head")


async def test_loopback_redirect_on_any_port(client: httpx.AsyncClient, settings: Settings):
    body = await tokens_for(client, "citizen", AN, redirect_uri="http://127.0.0.1:53123/oauth/callback")
    assert (await make_verifier(client, settings).verify(body["access_token"])).personal_id == AN
    # ...but not another path, host or scheme
    _, challenge = pkce()
    for uri in (
        "http://127.0.0.1:53123/elsewhere",
        "http://localhost:8000/oauth/callback",
        "https://127.0.0.1:8000/oauth/callback",
        "http://127.0.0.1:8000@evil.example/oauth/callback",
    ):
        resp = await client.get("/oauth/authorize", params=authorize_params(challenge, redirect_uri=uri))
        assert resp.status_code == 400, uri
        assert "location" not in resp.headers


async def test_wrong_code_verifier_is_refused_and_burns_the_code(client: httpx.AsyncClient):
    code, verifier, _ = await code_for(client, "citizen", AN)
    assert_oauth_error(await exchange(client, code, pkce()[0]), 400, "invalid_grant")
    assert_oauth_error(await exchange(client, code, verifier), 400, "invalid_grant")  # one attempt per code


async def test_missing_code_verifier_is_refused(client: httpx.AsyncClient):
    code, _, _ = await code_for(client, "citizen", AN)
    assert_oauth_error(await exchange(client, code, None), 400, "invalid_grant")


async def test_redirect_uri_must_match_at_exchange(client: httpx.AsyncClient):
    code, verifier, _ = await code_for(client, "citizen", AN)
    resp = await exchange(client, code, verifier, "vn.motcua.app:/oauth/callback")
    assert_oauth_error(resp, 400, "invalid_grant")


async def test_code_replay_is_refused_and_revokes_its_tokens(client: httpx.AsyncClient):
    code, verifier, _ = await code_for(client, "citizen", AN)
    first = await exchange(client, code, verifier)
    assert first.status_code == 200
    assert_oauth_error(await exchange(client, code, verifier), 400, "invalid_grant")
    assert_oauth_error(await refresh(client, first.json()["refresh_token"]), 400, "invalid_grant")


async def test_expired_code_is_refused(client: httpx.AsyncClient, db: asyncpg.Connection):
    code, verifier, _ = await code_for(client, "citizen", AN)
    await db.execute(
        "UPDATE authorization_codes SET expires_at = now() - interval '1 second' WHERE code_hash = $1",
        hashlib.sha256(code.encode()).hexdigest(),
    )
    assert_oauth_error(await exchange(client, code, verifier), 400, "invalid_grant")


async def test_unregistered_redirect_uri_shows_an_error_page(client: httpx.AsyncClient, db: asyncpg.Connection):
    _, challenge = pkce()
    params = authorize_params(challenge, redirect_uri="https://evil.example/cb")
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 400 and "location" not in page.headers
    assert "không được đăng ký" in page.text and page.headers["content-type"].startswith("text/html")
    before = await db.fetchval("SELECT count(*) FROM authorization_codes")
    resp = await client.post(
        "/oauth/authorize", data={**params, "account_type": "citizen", "username": AN, "password": PASSWORD}
    )
    assert resp.status_code == 400 and "location" not in resp.headers
    assert await db.fetchval("SELECT count(*) FROM authorization_codes") == before
    unknown = await client.get("/oauth/authorize", params=authorize_params(challenge, client_id="nobody"))
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_request_errors_go_back_to_a_registered_redirect_uri(client: httpx.AsyncClient):
    params = authorize_params("x", code_challenge=None, code_challenge_method=None)
    resp = await client.get("/oauth/authorize", params=params)
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == [params["state"]]
    _, challenge = pkce()
    plain = await client.get("/oauth/authorize", params=authorize_params(challenge, code_challenge_method="plain"))
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    scope = await client.get("/oauth/authorize", params=authorize_params(challenge, scope="openid registry:read"))
    assert parse_qs(urlsplit(scope.headers["location"]).query)["error"] == ["invalid_scope"]


async def test_login_page_escapes_what_it_echoes(client: httpx.AsyncClient):
    _, challenge = pkce()
    page = await client.get("/oauth/authorize", params=authorize_params(challenge, state='"><script>alert(1)</script>'))
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_wrong_password_shows_the_page_again(client: httpx.AsyncClient, db: asyncpg.Connection):
    before = await db.fetchval("SELECT count(*) FROM authorization_codes")
    wrong, _, _ = await login(client, "citizen", AN, "sai-mat-khau")
    unknown, _, _ = await login(client, "citizen", "001450000001", PASSWORD)
    officer, _, _ = await login(client, "officer", "hoa.tiepnhan", "sai-mat-khau")
    for resp in (wrong, unknown, officer):
        assert resp.status_code == 401 and "location" not in resp.headers
        assert WRONG_CREDENTIALS in resp.text and "Đăng nhập" in resp.text
    # an unknown account and a wrong password get the same message
    assert len({error_message(r.text) for r in (wrong, unknown, officer)}) == 1
    assert await db.fetchval("SELECT count(*) FROM authorization_codes") == before


async def test_deceased_citizen_cannot_log_in(client: httpx.AsyncClient, db: asyncpg.Connection):
    assert await db.fetchval("SELECT status FROM citizens WHERE personal_id = $1", DECEASED) == "deceased"
    assert await db.fetchval("SELECT count(*) FROM citizen_credentials WHERE personal_id = $1", DECEASED) == 1
    resp, _, _ = await login(client, "citizen", DECEASED)
    assert resp.status_code == 401 and WRONG_CREDENTIALS in resp.text


async def test_a_citizen_who_died_loses_the_session(client: httpx.AsyncClient, db: asyncpg.Connection):
    body = await tokens_for(client, "citizen", "092301002222")
    await db.execute("UPDATE citizens SET status = 'deceased' WHERE personal_id = '092301002222'")
    try:
        assert_oauth_error(await refresh(client, body["refresh_token"]), 400, "invalid_grant")
    finally:
        await db.execute("UPDATE citizens SET status = 'active' WHERE personal_id = '092301002222'")


# --- refresh tokens ---


async def test_refresh_rotation_and_reuse_detection(client: httpx.AsyncClient, settings: Settings):
    first = await tokens_for(client, "officer", "son.truong")
    second = await refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    principal = await make_verifier(client, settings).verify(rotated["access_token"])
    assert principal.subject == "son.truong" and principal.roles == {"unit_head"}
    # the old one is spent; presenting it again revokes the whole family, the newest token included
    assert_oauth_error(await refresh(client, first["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(await refresh(client, rotated["refresh_token"]), 400, "invalid_grant")


async def test_refresh_cannot_widen_the_scope_nor_cross_clients(client: httpx.AsyncClient):
    body = await tokens_for(client, "citizen", AN)
    assert_oauth_error(await refresh(client, body["refresh_token"], scope="openid profile"), 400, "invalid_scope")
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=("vcci", "vcci-secret"),
    )
    assert_oauth_error(resp, 400, "unauthorized_client")
    assert (await refresh(client, body["refresh_token"])).status_code == 200
    assert_oauth_error(await refresh(client, "not-a-token"), 400, "invalid_grant")


# --- client credentials ---


async def test_partner_client_credentials(client: httpx.AsyncClient, settings: Settings):
    verifier = make_verifier(client, settings)
    basic = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("vcci", "vcci-secret"))
    assert basic.status_code == 200, basic.text
    body = basic.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and "refresh_token" not in body
    vcci = await verifier.verify(body["access_token"])
    assert (vcci.kind, vcci.subject, vcci.client_id) == ("partner", "vcci", "vcci")
    assert vcci.scopes == {"dossiers:read"} and vcci.unit_code == "VCCI.HN"

    post = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "vietnam-post",
            "client_secret": "vietnam-post-secret",
            "scope": "dossiers:submit-post",
        },
    )
    assert post.status_code == 200, post.text
    vnpost = await verifier.verify(post.json()["access_token"])
    assert vnpost.kind == "partner" and vnpost.has_scope("dossiers:submit-post") and vnpost.unit_code is None


async def test_partner_scope_must_be_a_subset(client: httpx.AsyncClient):
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "dossiers:read dossiers:submit-post"},
        auth=("provincial-system", "provincial-system-secret"),
    )
    assert_oauth_error(resp, 400, "invalid_scope")


async def test_wrong_client_secret_is_refused(client: httpx.AsyncClient):
    resp = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("vcci", "wrong"))
    assert_oauth_error(resp, 401, "invalid_client")
    assert resp.headers["www-authenticate"].startswith("Basic")
    post = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "vcci", "client_secret": "wrong"}
    )
    assert_oauth_error(post, 401, "invalid_client")
    public = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": APP})
    assert_oauth_error(public, 400, "unauthorized_client")
    nobody = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert_oauth_error(nobody, 401, "invalid_client")
    json_body = await client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert_oauth_error(json_body, 400, "invalid_request")


async def test_service_credentials_of_intake(client: httpx.AsyncClient, settings: Settings):
    creds = ServiceCredentials(
        client,
        token_url=f"{BASE}/oauth/token",
        client_id="intake",
        client_secret="intake-secret",
        scope="registry:read",
    )
    principal = await make_verifier(client, settings).verify(await creds.token())
    assert (principal.kind, principal.subject, principal.scopes) == ("service", "intake", frozenset({"registry:read"}))


# --- seeding ---


async def test_seeding_is_idempotent_and_secrets_follow_settings(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
):
    again = await seed_accounts(db, settings)
    assert again == {"officers": 0, "citizens": 0, "clients": 5, "secrets": 0}
    assert await db.fetchval("SELECT count(*) FROM officers") == 7
    assert await db.fetchval("SELECT count(*) FROM citizen_credentials") == 6
    assert await db.fetchval("SELECT count(*) FROM oauth_clients WHERE secret_hash LIKE '$argon2id$%'") == 4
    changed = settings.model_copy(update={"client_secrets": {"vcci": "a-new-secret"}})
    try:
        assert (await seed_accounts(db, changed))["secrets"] == 1
        old = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("vcci", "vcci-secret"))
        assert_oauth_error(old, 401, "invalid_client")
        new = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("vcci", "a-new-secret")
        )
        assert new.status_code == 200
    finally:
        await seed_accounts(db, settings)


# --- signing keys ---


async def test_concurrent_starts_create_one_key(settings: Settings, db: asyncpg.Connection):
    await db.execute("UPDATE signing_keys SET retired_at = now() - interval '1 day' WHERE retired_at IS NULL")
    conns = [await asyncpg.connect(settings.dsn) for _ in range(4)]
    try:
        for conn in conns:
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        kids = await asyncio.gather(*(keys.ensure_active_key(conn) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert len(set(kids)) == 1
    assert await db.fetchval("SELECT count(*) FROM signing_keys WHERE retired_at IS NULL") == 1


async def test_expired_grants_are_purged(client: httpx.AsyncClient, db: asyncpg.Connection):
    code, _, _ = await code_for(client, "citizen", AN)
    body = await tokens_for(client, "citizen", AN)
    code_hash = hashlib.sha256(code.encode()).hexdigest()
    token_hash = hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    await db.execute(
        "UPDATE authorization_codes SET expires_at = now() - interval '2 days' WHERE code_hash = $1", code_hash
    )
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE token_hash = $1", token_hash
    )
    codes, tokens = await oidc.purge_expired(db)
    assert codes >= 1 and tokens >= 1
    assert await db.fetchval("SELECT count(*) FROM authorization_codes WHERE code_hash = $1", code_hash) == 0
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", token_hash) == 0
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens") > 0  # the live ones stay


async def test_key_rotation(app: FastAPI, client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection):
    async def partner_token() -> str:
        resp = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("vcci", "vcci-secret")
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    verifier = make_verifier(client, settings)
    before = await partner_token()
    old_kid = jwt.get_unverified_header(before)["kid"]
    await verifier.verify(before)

    retired, new_kid = await keys.rotate(db, settings)
    assert retired == old_kid and new_kid != old_kid
    published = {k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"]}
    assert published == {old_kid, new_kid}
    after = await partner_token()
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    # a service that cached the old JWKS learns the new key by itself (unknown kid -> refetch)
    assert (await verifier.verify(after)).subject == "vcci"
    fresh = make_verifier(client, settings)
    assert (await fresh.verify(before)).subject == "vcci"  # signed before the rotation, still valid
    assert (await fresh.verify(after)).subject == "vcci"
    assert (await app.state.verifier.verify(after)).subject == "vcci"  # citizen-id's own verifier (database JWKS)

    # once every token the old key signed has expired, it leaves the JWKS and its private half is erased
    await db.execute("UPDATE signing_keys SET retired_at = now() - interval '1 hour' WHERE kid = $1", old_kid)
    published = {k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"]}
    assert published == {new_kid}
    with pytest.raises(ProblemError) as refused:
        await make_verifier(client, settings).verify(before)
    assert refused.value.status == 401
    await keys.rotate(db, settings)
    assert await db.fetchval("SELECT private_key_pem FROM signing_keys WHERE kid = $1", old_kid) is None
