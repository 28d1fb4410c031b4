"""One OpenAPI document for the whole public API, merged from the upstream services' own documents.

Only the operations in the route table are taken, with every schema they reference; a schema name
that two services define differently is prefixed with the service name. Upstream documents are
cached once fetched; one that cannot be fetched yet is retried on the next request for the docs.
"""

import copy
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from .proxy import is_identity_header
from .routing import ROUTES
from .settings import Settings

log = logging.getLogger("gateway.openapi")
# The public API's version: a breaking change needs a new major (or new /api/v2 paths); see tests/test_contracts.py.
API_VERSION = "1.0.0"
REF = re.compile(r"#/components/schemas/([^\"'/]+)")
# Header parameters a client does not send through the gateway: the request id is the gateway's (a client may
# send one, it is optional), ``Authorization`` is described by the security schemes, and identity headers
# are stripped by the gateway whatever a service declares.
GATEWAY_SET = {"x-request-id", "authorization"}
TOKEN_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"oauth2": []}]
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def security_schemes(issuer: str) -> dict[str, Any]:
    base = issuer.rstrip("/")
    return {
        "oauth2": {
            "type": "oauth2",
            "description": (
                "Tokens from the Một Cửa identity provider (mock VNeID). Apps use the authorization-code flow "
                "with PKCE (S256, required for the public client `motcua-app`, no secret); partner systems and "
                "services use client credentials (HTTP Basic client authentication at the token endpoint)."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{base}/oauth/authorize",
                    "tokenUrl": f"{base}/oauth/token",
                    "refreshUrl": f"{base}/oauth/token",
                    "scopes": {"openid": "Sign in as a citizen or an officer"},
                },
                "clientCredentials": {
                    "tokenUrl": f"{base}/oauth/token",
                    "scopes": {
                        "dossiers:read": "Partner: read any dossier's tracking (or only its unit's)",
                        "dossiers:submit-post": "Partner: submit dossiers received at a post office",
                    },
                },
            },
        },
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from `POST /oauth/token` (RS256 JWT, 10 minutes).",
        },
    }


def description(settings: Settings) -> str:
    s, base = settings, settings.issuer.rstrip("/")
    return f"""Một Cửa (“one door”): the public REST API for online public services.

Citizens and businesses browse the procedure catalogue, submit dossiers (send an `Idempotency-Key`) and
follow them; officers work the dossiers of their unit; partner systems read or submit with client
credentials. Errors are `application/problem+json` (RFC 9457); every response carries `X-Request-ID`; lists
use cursor pagination (`limit`, `cursor`, `next_cursor`).

## Logging in
Everything, the identity provider included, is on this one base URL (`{base}`); discovery at
`/.well-known/openid-configuration`, keys at `/oauth/jwks`.

1. The app makes a PKCE pair: a random `code_verifier` and `code_challenge = BASE64URL(SHA-256(verifier))`.
2. It opens `GET /oauth/authorize?response_type=code&client_id=motcua-app&redirect_uri=...&state=...`
   `&code_challenge=...&code_challenge_method=S256` in a browser: a Vietnamese login page where a citizen signs
   in with their 12-digit personal id and password, an officer with their username and password.
3. The browser is sent to the `redirect_uri` with `code` and `state` (`{base}/oauth/callback` shows them on a
   page; apps use `vn.motcua.app:/oauth/callback` or any `http://127.0.0.1:<port>/...`).
4. `POST /oauth/token` (form: `grant_type=authorization_code`, `code`, `redirect_uri`, `client_id`,
   `code_verifier`) answers an access token (10 minutes) and a refresh token (30 days, rotated on use:
   `grant_type=refresh_token`).
5. Send `Authorization: Bearer <access token>` on every call.

Partner systems: `POST /oauth/token` with `grant_type=client_credentials`, their client id and secret in HTTP
Basic authentication and the `scope` they need.

The gateway verifies every token it is sent (also on public operations) and refuses a missing, expired,
tampered or foreign one with 401; it strips any identity header a client sends. Each service then decides
what the caller may see: a citizen their own dossiers, an officer their unit's, a partner what its scopes
grant.

**Demo accounts** (password `demo1234` for all): citizens `001090001234` (Nguyễn Văn An, may act for his son
and for company 0101234567), `079195005678` (Trần Thị Bình, authorized by `048200001111`), `048200001111`,
`092301002222`; officers `hoa.tiepnhan` (receiving officer), `lan.chuyenvien` (specialist), `tuan.lanhdao`
(approver), `son.truong` (unit head) of unit 000.26.01.H29, `minh.congan` (000.26.02.H29), `ha.tthcc` and
`quan.vanhanh` (provincial operator) of 000.00.01.H29; partners `provincial-system`, `vietnam-post`, `vcci`
(secret `<client_id>-secret` in development).

## Public lookup
`GET /api/v1/public/dossiers/{{code}}` needs no login and shows only a dossier's status, current step, unit and
due date: no name, id or address. Dossier codes end in 6 random characters (about 30 bits), so they cannot
be enumerated in practice; the lookup also has its own strict rate limit per IP address.

## Rate limits
Counted per minute, shared by all gateway replicas: {s.rate_citizen_per_minute} requests per citizen,
{s.rate_officer_per_minute} per officer, {s.rate_client_per_minute} per partner or service client,
{s.rate_anonymous_per_minute} per IP address without a token; on top of those, {s.rate_public_lookup_per_minute}
public lookups and {s.rate_login_per_minute} login attempts (`POST /oauth/authorize`, `POST /oauth/token`) per IP
address. Over a limit the answer is `429` problem+json with `Retry-After` (seconds until the window ends)."""


class DocumentSource(Protocol):
    """Where a service's OpenAPI document comes from: the gateway's :class:`~gateway.proxy.Upstream`, or the
    service app itself when the contracts are generated (scripts/gen_contracts.py)."""

    async def get(self, path: str) -> bytes: ...


class OpenAPIMerger:
    def __init__(
        self,
        upstreams: Mapping[str, DocumentSource],
        *,
        title: str,
        version: str,
        description: str,
        issuer: str,
    ):
        self.upstreams, self.title, self.version, self.description = upstreams, title, version, description
        self.issuer = issuer
        self._docs: dict[str, dict[str, Any]] = {}

    async def _doc(self, upstream: str) -> dict[str, Any] | None:
        if upstream not in self._docs:
            try:
                self._docs[upstream] = json.loads(await self.upstreams[upstream].get("/openapi.json"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("cannot fetch %s OpenAPI yet: %r", upstream, exc)
                return None
        return self._docs[upstream]

    async def build(self, gateway_doc: dict[str, Any]) -> dict[str, Any]:
        merged = copy.deepcopy(gateway_doc)
        merged["info"] = {"title": self.title, "version": self.version, "description": self.description}
        paths: dict[str, dict[str, Any]] = merged.setdefault("paths", {})
        schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
        merged["components"]["securitySchemes"] = security_schemes(self.issuer)
        missing = []
        for route in ROUTES:
            if not route.documented:
                continue
            doc = await self._doc(route.upstream)
            op = (doc or {}).get("paths", {}).get(route.path, {}).get(route.method.lower())
            if doc is None or op is None:
                missing.append(f"{route.method} {route.path} ({route.upstream})")
                continue
            op = copy.deepcopy(op)
            op["parameters"] = [p for p in op.get("parameters", []) if not _hidden_header(p)]
            renames = self._take_schemas(route.upstream, doc, op, schemas)
            op = _rewrite_refs(op, renames)
            responses = op.setdefault("responses", {})
            if route.auth == "token":
                op["security"] = TOKEN_SECURITY
                responses.setdefault("401", {"description": "Missing, expired or invalid token", "content": PROBLEM})
                responses.setdefault("403", {"description": "Not allowed for this caller", "content": PROBLEM})
            else:
                # no token needed; one that is sent is verified (401 when bad)
                op["security"] = [{}, *TOKEN_SECURITY]
                responses.setdefault("401", {"description": "The token sent is invalid", "content": PROBLEM})
            responses.setdefault(
                "429",
                {
                    "description": "Rate limit exceeded",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                    "content": PROBLEM,
                },
            )
            responses.setdefault("503", {"description": "Upstream unavailable", "content": PROBLEM})
            paths.setdefault(route.path, {})[route.method.lower()] = op
        schemas.setdefault("Problem", PROBLEM_SCHEMA)
        if missing:
            merged["info"]["description"] += "\n\nNot yet available (upstream down): " + "; ".join(missing)
        return merged

    def _take_schemas(
        self, upstream: str, doc: dict[str, Any], op: dict[str, Any], schemas: dict[str, Any]
    ) -> dict[str, str]:
        source = doc.get("components", {}).get("schemas", {})
        renames: dict[str, str] = {}
        pending = set(REF.findall(str(op)))
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in source:
                continue
            seen.add(name)
            pending |= set(REF.findall(str(source[name])))
        for name in seen:
            target = name
            if name in schemas and schemas[name] != source[name]:
                target = f"{upstream.replace('-', '_')}__{name}"
            renames[name] = target
        for name in seen:
            schemas[renames[name]] = _rewrite_refs(copy.deepcopy(source[name]), renames)
        return renames


def _hidden_header(param: dict[str, Any]) -> bool:
    if param.get("in") != "header":
        return False
    name = str(param.get("name", "")).lower()
    return name in GATEWAY_SET or is_identity_header(name)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                name = v.rsplit("/", 1)[1]
                out[k] = f"#/components/schemas/{renames.get(name, name)}"
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node
