"""Forwarding a request to its upstream: selected headers in and out, timeouts, problem+json on failure."""

import logging
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import Response

from motcua_common.problems import ProblemError

from .settings import Officer

log = logging.getLogger("gateway.proxy")
FORWARD_REQUEST = ("content-type", "accept", "accept-language", "idempotency-key")
FORWARD_RESPONSE = ("content-type", "location", "idempotent-replayed", "retry-after", "www-authenticate")


async def forward(
    client: httpx.AsyncClient, request: Request, upstream: str, body: bytes, officer: Officer | None
) -> httpx.Response:
    headers = {k: v for k, v in request.headers.items() if k in FORWARD_REQUEST}
    headers["x-request-id"] = request.state.request_id
    if officer is not None:
        headers.update(
            {
                "x-officer-id": officer.id,
                "x-officer-name": quote(officer.name),
                "x-officer-unit": officer.unit_code,
            }
        )
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
