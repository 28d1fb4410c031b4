"""Forwarding a request to its upstream: selected headers in and out, timeouts, problem+json on failure.

The calls go out on aiohttp's ``ClientSession`` directly (its connection pool and C HTTP parser), one session per
upstream service. Issue 7's profile found the upstream call to be the largest share of the gateway's CPU, and httpx's
API on the same aiohttp pool (``motcua_common.http_client``) cost about 1 ms more per call than the session alone
(docs/performance.md, change 4 and the gateway's round).
"""

import logging
from typing import NamedTuple
from urllib.parse import quote_from_bytes

import aiohttp
from fastapi import Request
from fastapi.responses import Response
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from yarl import URL

from motcua_common.http_client import service_session
from motcua_common.problems import ProblemError

log = logging.getLogger("gateway.proxy")
tracer = trace.get_tracer("gateway.proxy")
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
# Characters that go into the upstream's request target as they are; any other byte is percent-encoded. ``%`` is
# among them: what the client encoded stays encoded, byte for byte.
PATH_SAFE = "/%:@!$&'()*+,;=~"
QUERY_SAFE = PATH_SAFE + "?"


def is_identity_header(name: str) -> bool:
    name = name.lower()
    return name in IDENTITY_HEADERS or name.startswith(IDENTITY_HEADER_PREFIXES)


# ASGI header names are lower-case bytes: the rules above, checked once here, not per header per request.
_FORWARDED_IN = frozenset(k.encode("latin-1") for k in FORWARD_REQUEST if not is_identity_header(k))
_FORWARDED_OUT = frozenset(k.encode("latin-1") for k in FORWARD_RESPONSE)


class Answer(NamedTuple):
    """What an upstream answered: the status, the headers the client may see (raw, as the upstream sent them) and
    the whole body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class Upstream:
    """One service behind the gateway: its address and aiohttp's connection pool to it. Made inside the running
    event loop (the gateway's lifespan); :meth:`close` when done.

    Timeouts, as the httpx client had them: ``connect_timeout`` to open a connection, ``timeout`` to get a free
    connection from the pool and between two reads of the answer; no cookie jar and no proxy from the environment
    (:func:`~motcua_common.http_client.service_session`). A body goes with the client's ``Content-Type`` or with
    none."""

    def __init__(self, name: str, base_url: str, *, timeout: float, connect_timeout: float, max_connections: int = 200):
        self.name = name
        self.base = base_url.rstrip("/")
        origin = URL(self.base)
        self.address, self.port = origin.host or "", origin.port
        self.session = service_session(
            limit=max_connections,
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=connect_timeout, sock_read=timeout),
            # the client's Content-Type or none: aiohttp would label a body without one application/octet-stream
            skip_auto_headers=("Content-Type",),
        )

    async def send(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """Send a request (``target``: path and query, already percent-encoded) and read the whole answer.
        Redirects are the client's to follow: they are passed on, never followed here."""
        url = URL(self.base + target, encoded=True)
        async with self.session.request(method, url, data=body or None, headers=headers, allow_redirects=False) as resp:
            content = await resp.read()
            kept = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() in _FORWARDED_OUT]
            return Answer(resp.status, kept, content)

    async def get(self, path: str) -> bytes:
        """The body of a ``GET path`` that answered 2xx (readiness, the OpenAPI documents); any other status raises
        ``aiohttp.ClientResponseError``, failures ``aiohttp.ClientError`` or ``TimeoutError``."""
        async with self.session.get(self.base + path, allow_redirects=False, raise_for_status=True) as resp:
            return await resp.read()

    async def close(self) -> None:
        await self.session.close()


def request_headers(request: Request) -> dict[str, str]:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"] if k in _FORWARDED_IN}
    headers["x-request-id"] = request.state.request_id
    return headers


async def forward(upstream: Upstream, request: Request, body: bytes) -> Answer:
    """Forward ``request`` with ``body`` to ``upstream``. The trace context goes along (``traceparent``); a client
    span is made only when the current trace is recorded (a span nobody records is pure cost: issue 7's profile).
    Failures are problems: no answer in time 504, no connection or a broken one 503 with ``Retry-After``."""
    headers = request_headers(request)
    method, target = request.method, _target(request)
    try:
        if not trace.get_current_span().is_recording():
            propagate.inject(headers)
            return await upstream.send(method, target, headers, body)
        return await _traced(upstream, method, target, headers, body)
    except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
        log.warning("%s timed out: %r", upstream.name, exc)
        raise ProblemError(
            504,
            "upstream-timeout",
            "Dịch vụ phía sau không phản hồi kịp",
            f"The {upstream.name} service did not answer in time.",
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning("%s unreachable: %r", upstream.name, exc)
        raise ProblemError(
            503,
            "upstream-unavailable",
            "Dịch vụ tạm thời không sẵn sàng",
            f"The {upstream.name} service is not reachable.",
            headers={"Retry-After": "5"},
        ) from exc


async def _traced(upstream: Upstream, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
    """The call inside a client span (OpenTelemetry's HTTP semantic conventions), whose context the service gets."""
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.full": upstream.base + target,
        "server.address": upstream.address,
        "server.port": upstream.port or 80,
    }
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        propagate.inject(headers)
        try:
            answer = await upstream.send(method, target, headers, body)
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
        span.set_attribute("http.response.status_code", answer.status)
        if answer.status >= 400:
            span.set_attribute("error.type", str(answer.status))
            span.set_status(Status(StatusCode.ERROR))
        return answer


def _target(request: Request) -> str:
    """The path and query as the client sent them, still percent-encoded (decoded, a path parameter holding
    control characters would not make a valid URL for the upstream call); a byte that may not stand in a URL as it
    is gets encoded."""
    scope = request.scope
    path = quote_from_bytes(scope.get("raw_path") or scope["path"].encode("utf-8"), PATH_SAFE)
    query = scope.get("query_string")
    return f"{path}?{quote_from_bytes(query, QUERY_SAFE)}" if query else path


def to_response(answer: Answer) -> Response:
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers.extend(answer.headers)
    return response
