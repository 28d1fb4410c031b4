"""Use cases of the identity provider (mock VNeID): the authorization request, the login, authorization
codes with PKCE, tokens, refresh-token rotation and client authentication. Never commits: the route's
transaction does (so side effects of a refused request, like a burnt code or a revoked family, are kept
when the route answers with an OAuth error instead of raising).

Secrets (passwords, client secrets) are argon2id hashes (argon2-cffi), checked in a worker thread so a
login does not stall the event loop. Codes and refresh tokens are random (``secrets``) and stored only by
their SHA-256."""

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import keys
from . import oidc_repository as repo
from .settings import Settings
from .subjects import citizen_subject

log = logging.getLogger("citizen_id.oidc")

_hasher = PasswordHasher()
PERSONAL_ID_RE = re.compile(r"[0-9]{12}")
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, no padding
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
MAX_PASSWORD = 256
MAX_PARAM = 512
DEFAULT_APP_SCOPE = "openid"

AccountKind = Literal["citizen", "officer"]


# --- secrets ---


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_hasher.hash, secret)


def _verify(hashed: str, secret: str) -> bool:
    try:
        return _hasher.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(hashed: str | None, secret: str) -> bool:
    """Check ``secret`` against an argon2 hash; with no hash, spend the same time and answer False
    (so a login for an unknown account takes as long as one with a wrong password)."""
    if hashed is None:
        await asyncio.to_thread(_verify, _dummy_hash(), secret)
        return False
    return await asyncio.to_thread(_verify, hashed, secret[:MAX_PASSWORD])


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_matches(verifier: str, challenge: str) -> bool:
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")
    return hmac.compare_digest(computed, challenge)


def scope_set(scope: str | None) -> list[str]:
    """Scopes in request order, without duplicates."""
    return list(dict.fromkeys((scope or "").split()))


# --- accounts ---


@dataclass(frozen=True)
class Account:
    kind: AccountKind
    id: str  # citizens: personal id; officers: username
    name: str
    unit: str | None = None
    roles: tuple[str, ...] = ()


def _citizen_account(row: asyncpg.Record | None) -> Account | None:
    if row is None or not row["active"] or row["status"] != "active":
        return None  # a deceased citizen cannot log in, nor keep a session
    return Account("citizen", row["personal_id"], row["full_name"])


def _officer_account(row: asyncpg.Record | None) -> Account | None:
    if row is None or not row["active"]:
        return None
    return Account("officer", row["username"], row["full_name"], row["unit_code"], tuple(row["roles"]))


async def authenticate(conn: asyncpg.Connection, kind: str, identifier: str, password: str) -> Account | None:
    """The account if the credentials are right and the account may log in, else None (one answer for
    every failure: callers must not tell an unknown account from a wrong password)."""
    identifier = identifier.strip()
    row = None
    if kind == "citizen" and PERSONAL_ID_RE.fullmatch(identifier):
        row = await repo.citizen_login(conn, identifier)
    elif kind == "officer" and USERNAME_RE.fullmatch(identifier.lower()):
        row = await repo.officer(conn, identifier.lower())
    if not password or len(password) > MAX_PASSWORD:
        return None
    if not await verify_secret(row["password_hash"] if row else None, password):
        return None
    return _citizen_account(row) if kind == "citizen" else _officer_account(row)


async def load_account(conn: asyncpg.Connection, kind: str, account_id: str) -> Account | None:
    """The account as it is now (names, roles, units change; people die): checked on every grant."""
    if kind == "citizen":
        return _citizen_account(await repo.citizen_login(conn, account_id))
    return _officer_account(await repo.officer(conn, account_id))


# --- the authorization request ---


class PageError(Exception):
    """An authorization request that must not be redirected (unknown client, unregistered redirect_uri):
    shown to the user as an error page."""

    def __init__(self, status: int, message_vi: str):
        super().__init__(message_vi)
        self.status, self.message_vi = status, message_vi


class RedirectError(Exception):
    """An authorization request error reported to the client at its (registered) redirect_uri."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None):
        super().__init__(description)
        self.location = redirect_with(redirect_uri, error=error, error_description=description, state=state)


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    client_name: str
    redirect_uri: str
    scope: str
    code_challenge: str
    state: str | None = None
    nonce: str | None = None

    def hidden_fields(self) -> dict[str, str]:
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.state is not None:
            fields["state"] = self.state
        if self.nonce is not None:
            fields["nonce"] = self.nonce
        return fields


def redirect_uri_allowed(uri: str, registered: list[str]) -> bool:
    """Exact match with a registered URI; for a loopback ``http://127.0.0.1`` (or ``[::1]``) URI any
    port is accepted when the rest matches (RFC 8252 §7.3: native apps listen on an ephemeral port)."""
    if not uri or len(uri) > 2048:
        return False
    if uri in registered:
        return True
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1") or parts.username or parts.fragment:
        return False
    if parts.password is not None or "@" in parts.netloc:
        return False
    for candidate in registered:
        reg = urlsplit(candidate)
        if (reg.scheme, reg.hostname, reg.path, reg.query) == ("http", parts.hostname, parts.path, parts.query):
            return True
    return False


def redirect_with(uri: str, **params: str | None) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def check_authorize(conn: asyncpg.Connection, params: Mapping[str, str]) -> AuthorizeRequest:
    """Validate an authorization request (the query of GET, or the form of POST). Raises
    :class:`PageError` while the client or its redirect_uri is in doubt, :class:`RedirectError` after."""
    client_id = params.get("client_id") or ""
    client = await repo.client(conn, client_id) if 0 < len(client_id) <= 128 else None
    if client is None or not client["active"] or "authorization_code" not in client["grant_types"]:
        raise PageError(400, "Ứng dụng yêu cầu đăng nhập không được đăng ký với hệ thống định danh.")
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri_allowed(redirect_uri, list(client["redirect_uris"])):
        raise PageError(400, "Địa chỉ chuyển hướng (redirect_uri) không được đăng ký cho ứng dụng này.")
    state = params.get("state")

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, error, description, state)

    if state is not None and len(state) > MAX_PARAM:
        raise fail("invalid_request", "state is too long")
    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if not challenge:
        raise fail("invalid_request", "code_challenge is required (PKCE)")
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not CHALLENGE_RE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge is not a base64url SHA-256")
    scopes = scope_set(params.get("scope") or DEFAULT_APP_SCOPE)
    if not set(scopes) <= set(client["allowed_scopes"]):
        raise fail("invalid_scope", f"allowed scopes: {' '.join(client['allowed_scopes'])}")
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > MAX_PARAM:
        raise fail("invalid_request", "nonce is too long")
    return AuthorizeRequest(client_id, client["name"], redirect_uri, " ".join(scopes), challenge, state, nonce)


async def issue_code(conn: asyncpg.Connection, settings: Settings, req: AuthorizeRequest, account: Account) -> str:
    """A single-use authorization code bound to the client, redirect_uri, PKCE challenge and account;
    answer with a 302 to the returned location."""
    code = secrets.token_urlsafe(32)
    await repo.insert_code(
        conn,
        code_hash=digest(code),
        client_id=req.client_id,
        redirect_uri=req.redirect_uri,
        code_challenge=req.code_challenge,
        scope=req.scope,
        account_kind=account.kind,
        account_id=account.id,
        nonce=req.nonce,
        ttl_seconds=settings.authorization_code_ttl,
    )
    return redirect_with(req.redirect_uri, code=code, state=req.state)


# --- the token endpoint ---


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``{"error": ..., "error_description": ...}``."""

    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.error, self.description, self.status, self.headers = error, description, status, headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class ClientAuth:
    client_id: str
    secret: str | None
    method: Literal["none", "client_secret_basic", "client_secret_post"]


def client_auth_from(form: Mapping[str, str], authorization: str | None) -> ClientAuth:
    """How the client authenticates: HTTP Basic, the form (client_secret_post) or not at all (public)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401, BASIC_CHALLENGE) from exc
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401, BASIC_CHALLENGE)
        client_id, secret = unquote_plus(user), unquote_plus(password)  # RFC 6749 §2.3.1
        if form.get("client_secret") is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        if form.get("client_id") not in (None, client_id):
            raise OAuthError("invalid_request", "client_id differs from the authenticated client")
        return ClientAuth(client_id, secret, "client_secret_basic")
    client_id = form.get("client_id") or ""
    if not client_id:
        raise OAuthError("invalid_client", "client authentication is required", 401, BASIC_CHALLENGE)
    post_secret = form.get("client_secret")
    return ClientAuth(client_id, post_secret, "client_secret_post" if post_secret is not None else "none")


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="motcua"'}


async def authenticate_client(conn: asyncpg.Connection, auth: ClientAuth) -> asyncpg.Record:
    client = await repo.client(conn, auth.client_id) if len(auth.client_id) <= 128 else None
    headers = BASIC_CHALLENGE if auth.method == "client_secret_basic" else {}
    if client is not None and client["active"]:
        if client["kind"] == "public":
            if auth.method == "none":
                return client
        elif auth.secret and await verify_secret(client["secret_hash"], auth.secret):
            return client
    elif auth.secret:
        await verify_secret(None, auth.secret)
    raise OAuthError("invalid_client", "client authentication failed", 401, headers)


async def token(
    conn: asyncpg.Connection, settings: Settings, form: Mapping[str, str], authorization: str | None
) -> dict[str, Any]:
    """The token endpoint's use case: authenticate the client, then the grant."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    client = await authenticate_client(conn, client_auth_from(form, authorization))
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    if grant_type not in client["grant_types"]:
        raise OAuthError("unauthorized_client", f"this client may not use {grant_type}")
    if grant_type == "authorization_code":
        return await _authorization_code(conn, settings, client, form)
    if grant_type == "refresh_token":
        return await _refresh(conn, settings, client, form)
    return await _client_credentials(conn, settings, client, form)


async def _authorization_code(conn: Any, settings: Settings, client: Any, form: Mapping[str, str]) -> dict[str, Any]:
    code = form.get("code")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    row = await repo.claim_code(conn, digest(code))
    if row is None or row["client_id"] != client["client_id"]:
        raise OAuthError("invalid_grant", "the authorization code is not valid")
    if row["used_at"] is not None:
        revoked = await repo.revoke_by_code(conn, row["code_hash"])
        log.warning("authorization code replayed by client %s: %d refresh tokens revoked", client["client_id"], revoked)
        raise OAuthError("invalid_grant", "the authorization code was already used")
    await repo.mark_code_used(conn, row["code_hash"])  # burnt whatever happens next: one attempt per code
    if row["expired"]:
        raise OAuthError("invalid_grant", "the authorization code has expired")
    if form.get("redirect_uri") != row["redirect_uri"]:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    verifier = form.get("code_verifier") or ""
    if not VERIFIER_RE.fullmatch(verifier) or not pkce_matches(verifier, row["code_challenge"]):
        raise OAuthError("invalid_grant", "PKCE verification failed (code_verifier)")
    account = await load_account(conn, row["account_kind"], row["account_id"])
    if account is None:
        raise OAuthError("invalid_grant", "the account can no longer log in")
    return await _issue(
        conn,
        settings,
        client,
        account,
        row["scope"],
        family_id=uuid.uuid4(),
        code_hash=row["code_hash"],
        auth_time=row["auth_time"],
        nonce=row["nonce"],
    )


async def _refresh(conn: Any, settings: Settings, client: Any, form: Mapping[str, str]) -> dict[str, Any]:
    presented = form.get("refresh_token")
    if not presented:
        raise OAuthError("invalid_request", "refresh_token is required")
    row = await repo.claim_refresh_token(conn, digest(presented))
    if row is None or row["client_id"] != client["client_id"] or row["revoked_at"] is not None:
        raise OAuthError("invalid_grant", "the refresh token is not valid")
    if row["used_at"] is not None:
        revoked = await repo.revoke_family(conn, row["family_id"])
        log.warning(
            "refresh token reused (client %s, family %s): %d revoked", client["client_id"], row["family_id"], revoked
        )
        raise OAuthError("invalid_grant", "the refresh token was already used; the session is revoked")
    if row["expired"]:
        raise OAuthError("invalid_grant", "the refresh token has expired")
    granted = scope_set(row["scope"])
    requested = scope_set(form.get("scope")) or granted
    if not set(requested) <= set(granted):
        raise OAuthError("invalid_scope", "a refresh cannot widen the granted scope")
    await repo.mark_refresh_token_used(conn, row["token_hash"])
    account = await load_account(conn, row["account_kind"], row["account_id"])
    if account is None:
        await repo.revoke_family(conn, row["family_id"])
        raise OAuthError("invalid_grant", "the account can no longer log in")
    return await _issue(
        conn,
        settings,
        client,
        account,
        " ".join(requested),
        family_id=row["family_id"],
        code_hash=None,
        auth_time=row["auth_time"],
        refresh_scope=row["scope"],
    )


async def _client_credentials(conn: Any, settings: Settings, client: Any, form: Mapping[str, str]) -> dict[str, Any]:
    if client["kind"] not in ("partner", "service"):
        raise OAuthError("unauthorized_client", "client credentials are for confidential clients")
    allowed = list(client["allowed_scopes"])
    requested = scope_set(form.get("scope")) or allowed
    if not set(requested) <= set(allowed):
        raise OAuthError("invalid_scope", f"allowed scopes: {' '.join(allowed)}")
    scope = " ".join(requested)
    now = int(time.time())
    claims = _base_claims(settings, now, client["kind"], client["client_id"], client["client_id"], scope)
    if client["unit_code"]:
        claims["unit"] = client["unit_code"]
    return {
        "access_token": await keys.sign(conn, claims, typ="at+jwt"),
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl,
        "scope": scope,
    }


def _base_claims(settings: Settings, now: int, kind: str, sub: str, client_id: str, scope: str) -> dict[str, Any]:
    return {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_token_ttl,
        "jti": uuid.uuid4().hex,
        "kind": kind,
        "client_id": client_id,
        "scope": scope,
    }


def account_claims(settings: Settings, account: Account) -> dict[str, Any]:
    """The person-specific claims of a citizen's or officer's tokens (see motcua_common.auth)."""
    if account.kind == "citizen":
        return {
            "sub": citizen_subject(account.id, settings.subject_secret),
            "personal_id": account.id,
            "name": account.name,
        }
    return {"sub": account.id, "name": account.name, "unit": account.unit, "roles": list(account.roles)}


async def _issue(
    conn: Any,
    settings: Settings,
    client: Any,
    account: Account,
    scope: str,
    *,
    family_id: uuid.UUID,
    code_hash: str | None,
    auth_time: datetime,
    nonce: str | None = None,
    refresh_scope: str | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    person = account_claims(settings, account)
    claims = {
        **_base_claims(settings, now, account.kind, person["sub"], client["client_id"], scope),
        **person,
        "auth_time": int(auth_time.timestamp()),
    }
    refresh_token = secrets.token_urlsafe(32)
    await repo.insert_refresh_token(
        conn,
        token_hash=digest(refresh_token),
        family_id=family_id,
        client_id=client["client_id"],
        account_kind=account.kind,
        account_id=account.id,
        scope=refresh_scope or scope,  # a narrower refresh keeps the right to the original scope
        code_hash=code_hash,
        auth_time=auth_time,
        ttl_seconds=settings.refresh_token_ttl,
    )
    body: dict[str, Any] = {
        "access_token": await keys.sign(conn, claims, typ="at+jwt"),
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl,
        "refresh_token": refresh_token,
        "scope": scope,
    }
    if "openid" in scope.split():
        id_claims = {
            "iss": settings.issuer,
            "sub": person["sub"],
            "aud": client["client_id"],
            "iat": now,
            "exp": now + settings.access_token_ttl,
            "auth_time": claims["auth_time"],
            "kind": account.kind,
            "name": account.name,
        }
        if nonce:
            id_claims["nonce"] = nonce
        body["id_token"] = await keys.sign(conn, id_claims)
    return body


# --- housekeeping ---

STALE_AFTER = 24 * 3600  # expired codes and refresh tokens are kept a day (replays still get a clear refusal)


async def purge_expired(conn: asyncpg.Connection) -> tuple[int, int]:
    """Delete authorization codes and refresh tokens expired more than a day ago (safe on every replica)."""
    return await repo.delete_stale_codes(conn, STALE_AFTER), await repo.delete_stale_refresh_tokens(conn, STALE_AFTER)


async def housekeeping(pool_of: Callable[[], Any], stop: asyncio.Event, every: float = 3600.0) -> None:
    """A runtime loop: purge expired grants every ``every`` seconds until ``stop``."""
    while not stop.is_set():
        async with pool_of().acquire() as conn:
            codes, tokens = await purge_expired(conn)
        if codes or tokens:
            log.info("purged %d expired authorization codes and %d expired refresh tokens", codes, tokens)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass
