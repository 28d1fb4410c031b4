"""Who is calling: access tokens issued by citizen-id (the mock VNeID provider), verified by every service
and by the gateway with one cached JWKS.

Token contract (JWT, RS256 or ES256, ``kid`` in the header), the same for every kind of caller:

==============  =========================================================================================
claim           meaning
==============  =========================================================================================
``iss``         the public issuer (``MOTCUA_ISSUER``, the gateway's base URL)
``aud``         ``motcua`` (``MOTCUA_AUDIENCE``)
``sub``         an opaque, stable subject id: never the personal id number
``exp``/``iat`` expiry and issue time (access tokens live minutes)
``kind``        ``citizen`` | ``officer`` | ``partner`` | ``service``
``client_id``   the OAuth client the token was issued to (the app, a partner system, a service)
``scope``       space-separated scopes
``personal_id`` citizens only: the 12-digit personal id (số định danh cá nhân)
``name``        citizens and officers: display name (Vietnamese)
``unit``        officers: the unit the officer belongs to; partners: the one unit a delegated body serves
``roles``       officers only: a list of :data:`OFFICER_ROLES`
==============  =========================================================================================

Signatures are checked by PyJWT with the ``cryptography`` backend: no hand-written cryptography here.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from jwt import PyJWK

from .principal import (  # noqa: F401  # re-exported: services import these from here
    APPROVER,
    KINDS,
    OFFICER_ROLES,
    PARTNER_SCOPES,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    SCOPE_POST_SUBMIT,
    SCOPE_REGISTRY_READ,
    SPECIALIST,
    UNIT_HEAD,
    Kind,
    Principal,
)
from .problems import ProblemError

log = logging.getLogger("motcua.auth")

ALGORITHMS = ("RS256", "ES256")


def own_personal_id(principal: Principal) -> str:
    """A citizen's personal id (every citizen token carries one); 403 for a caller that is not a citizen."""
    if principal.personal_id is None:
        raise forbidden("Only a citizen has a personal id.")
    return principal.personal_id


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Chưa xác thực hoặc phiên đăng nhập không hợp lệ",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="motcua"'},
    )


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", "Bạn không có quyền thực hiện thao tác này", detail)


class JWKSCache:
    """The provider's public keys, fetched once and refreshed when a token names an unknown ``kid``
    (that is how a key rotation reaches us), at most once per ``min_refresh`` seconds so a flood of
    tokens with made-up ``kid`` values cannot turn into a flood of JWKS requests."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None, *, min_refresh: float = 5.0):
        self.url, self.client, self.min_refresh = url, client, min_refresh
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        keys = {}
        for jwk in jwks.get("keys", []):
            try:
                key = PyJWK.from_dict(jwk)
            except jwt.PyJWTError as exc:  # a key we cannot use is skipped, not fatal
                log.warning("skipping JWK %s: %s", jwk.get("kid"), exc)
                continue
            if key.key_id:
                keys[key.key_id] = key
        self._keys = keys

    async def refresh(self) -> None:
        if self.client is None:
            async with httpx.AsyncClient(timeout=5) as client:
                resp = await client.get(self.url)
        else:
            resp = await self.client.get(self.url, timeout=5)
        resp.raise_for_status()
        self.set_jwks(resp.json())
        self._fetched_at = time.monotonic()

    async def get(self, kid: str) -> PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._fetched_at >= self.min_refresh:
                try:
                    await self.refresh()
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("cannot fetch JWKS from %s: %r", self.url, exc)
                    raise ProblemError(
                        503,
                        "identity-provider-unavailable",
                        "Không kết nối được hệ thống định danh, vui lòng thử lại sau",
                        "The identity provider's keys could not be fetched.",
                        headers={"Retry-After": "5"},
                    ) from exc
                key = self._keys.get(kid)
            return key


class TokenVerifier:
    """Verifies access tokens: signature by a key of the provider's JWKS, algorithm in :data:`ALGORITHMS`
    (never ``none``), issuer, audience, expiry. Verified tokens are cached until they expire, keyed by the token
    itself (the cached :class:`Principal` holds it anyway, to pass it on; a SHA-256 per request cost more than the
    look-up), so a token used again costs a dictionary look-up, not a signature check."""

    def __init__(self, jwks: JWKSCache, *, issuer: str, audience: str, leeway: float = 30.0, cache_size: int = 10_000):
        self.jwks, self.issuer, self.audience, self.leeway = jwks, issuer, audience, leeway
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        if hit is not None and hit[0] > time.time():
            return hit[1]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized("The access token is malformed.") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise unauthorized(f"Tokens signed with {alg!r} are not accepted.")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("The access token names no signing key.")
        key = await self.jwks.get(kid)
        if key is None:
            raise unauthorized("The access token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            principal = Principal.from_claims(claims, token)
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("The access token has expired.") from exc
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise unauthorized(f"The access token is not valid: {exc}") from exc
        self._cache[token] = (float(claims["exp"]), principal)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(token)


async def _principal(request: Request) -> Principal:
    principal = await _optional_principal(request)
    if principal is None:
        raise unauthorized("This operation needs a bearer access token.")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require_kind(principal: Principal, *kinds: Kind) -> Principal:
    if principal.kind not in kinds:
        raise forbidden(f"This operation is for {' or '.join(kinds)} accounts, not {principal.kind}.")
    return principal


async def _citizen(principal: CurrentPrincipal) -> Principal:
    return require_kind(principal, "citizen")


async def _officer(principal: CurrentPrincipal) -> Principal:
    return require_kind(principal, "officer")


CurrentCitizen = Annotated[Principal, Depends(_citizen)]
CurrentOfficer = Annotated[Principal, Depends(_officer)]


class ServiceCredentials:
    """This service's own access token (OAuth client credentials), fetched from the provider and reused
    until shortly before it expires; concurrent callers share one fetch."""

    def __init__(
        self, client: httpx.AsyncClient, *, token_url: str, client_id: str, client_secret: str, scope: str = ""
    ):
        self.client, self.token_url, self.scope = client, token_url, scope
        self.client_id, self.client_secret = client_id, client_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                resp = await self.client.post(
                    self.token_url,
                    data={"grant_type": "client_credentials", "scope": self.scope},
                    auth=(self.client_id, self.client_secret),
                    timeout=5,
                )
                resp.raise_for_status()
                body = resp.json()
                self._token = body["access_token"]
                self._expires_at = time.monotonic() + max(float(body.get("expires_in", 60)) - 30, 5)
            return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}


def make_verifier(settings: Any, client: httpx.AsyncClient | None = None) -> TokenVerifier:
    """The verifier a service builds in its lifespan from :class:`ServiceSettings`."""
    return TokenVerifier(JWKSCache(settings.jwks_url, client), issuer=settings.issuer, audience=settings.audience)
