"""A small client of the platform's own login (authorization code + PKCE, then tokens), as a mobile app does it:
used by `make demo`, `make bench` and the end-to-end tests. Services never log users in; they only verify tokens
(:mod:`motcua_common.auth`)."""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

APP_CLIENT_ID = "motcua-app"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class LoginError(Exception):
    pass


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def login(
    api: httpx.AsyncClient,
    username: str,
    password: str,
    *,
    account: str = "citizen",
    client_id: str = APP_CLIENT_ID,
    redirect_uri: str | None = None,
) -> Tokens:
    """Log in through ``/oauth/authorize`` (the login page's form) and exchange the code at ``/oauth/token``.

    ``api`` has the gateway as ``base_url``; ``account`` is ``citizen`` (personal id as ``username``) or
    ``officer``."""
    redirect_uri = redirect_uri or f"{str(api.base_url).rstrip('/')}/oauth/callback"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = await api.get("/oauth/authorize", params=params)
    if page.status_code != 200:
        raise LoginError(f"login page: {page.status_code} {page.text[:200]}")
    resp = await api.post(
        "/oauth/authorize",
        data={**params, "account_type": account, "username": username, "password": password},
        follow_redirects=False,
    )
    if resp.status_code != 302:
        raise LoginError(f"login refused: {resp.status_code}")
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    if query.get("state") != [state] or "code" not in query:
        raise LoginError(f"unexpected redirect: {resp.headers['location']}")
    token = await api.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    if token.status_code != 200:
        raise LoginError(f"token exchange: {token.status_code} {token.text[:200]}")
    body = token.json()
    return Tokens(body["access_token"], body.get("refresh_token"), int(body.get("expires_in", 0)))


async def client_credentials(api: httpx.AsyncClient, client_id: str, client_secret: str, scope: str = "") -> Tokens:
    resp = await api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, client_secret),
    )
    if resp.status_code != 200:
        raise LoginError(f"client credentials: {resp.status_code} {resp.text[:200]}")
    body = resp.json()
    return Tokens(body["access_token"], None, int(body.get("expires_in", 0)))
