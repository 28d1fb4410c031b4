"""Forwarding a request to its upstream: selected headers in and out, timeouts, problem+json on failure."""

import logging
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import Response

from motcua_common.problems import ProblemError

log = logging.getLogger("gateway.proxy")
# Only these request headers reach a service. ``authorization`` goes on unchanged: every service verifies the
# token again itself, it never trusts a header the gateway (or anyone) adds.
FORWARD_REQUEST = ("authorization", "content-type", "accept", "accept-language", "idempotency-key", "if-match")
FORWARD_RESPONSE = (
    "content-type",
    "etag",  # the dossier's version, for If-Match on the next action
    "content-disposition",  # a file's name (documents, the official forms as PDF)
    "x-content-type-options",
    "location",
    "idempotent-replayed",
    "retry-after",
    "www-authenticate",
    "cache-control",  # the token endpoint answers no-store (RFC 6749 §5.1)
    "pragma",
)
# Headers that look like an identity someone already vouched for. A client never gets to send one: they are
# dropped even if a later change adds them to FORWARD_REQUEST. (X-On-Behalf-Of is set by intake on its own
# service-to-service calls to citizen-id, never by a client through the gateway.)
IDENTITY_HEADER_PREFIXES = ("x-officer-", "x-user", "x-principal", "x-auth-", "x-citizen-")
IDENTITY_HEADERS = frozenset({"x-on-behalf-of", "x-forwarded-user", "x-remote-user", "remote-user"})


def is_identity_header(name: str) -> bool:
    name = name.lower()
    return name in IDENTITY_HEADERS or name.startswith(IDENTITY_HEADER_PREFIXES)


def request_headers(request: Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k in FORWARD_REQUEST and not is_identity_header(k)}
    headers["x-request-id"] = request.state.request_id
    return headers


async def forward(client: httpx.AsyncClient, request: Request, upstream: str, body: bytes) -> httpx.Response:
    headers = request_headers(request)
    try:
        return await client.request(
            request.method, _raw_path(request), params=request.query_params, content=body, headers=headers
        )
    except httpx.TimeoutException as exc:
        log.warning("%s timed out: %r", upstream, exc)
        raise ProblemError(
            504,
            "upstream-timeout",
            "Dịch vụ phía sau không phản hồi kịp",
            f"The {upstream} service did not answer in time.",
        ) from exc
    except httpx.HTTPError as exc:
        log.warning("%s unreachable: %r", upstream, exc)
        raise ProblemError(
            503,
            "upstream-unavailable",
            "Dịch vụ tạm thời không sẵn sàng",
            f"The {upstream} service is not reachable.",
            headers={"Retry-After": "5"},
        ) from exc


def _raw_path(request: Request) -> str:
    """The path as the client sent it, still percent-encoded: decoded, a path parameter holding control
    characters would not make a valid URL for the upstream call."""
    raw = request.scope.get("raw_path")
    return raw.decode("ascii", "replace") if raw else quote(request.url.path)


def to_response(upstream_response: httpx.Response) -> Response:
    headers = {k: v for k, v in upstream_response.headers.items() if k in FORWARD_RESPONSE}
    return Response(upstream_response.content, status_code=upstream_response.status_code, headers=headers)
