"""HTTP clients for the calls between our own processes.

- :func:`service_session`: aiohttp's own ``ClientSession`` with the rules every such call keeps (idle connections
  dropped before the service drops them, no cookie jar, no proxy from the environment): the gateway's upstreams
  (``gateway.proxy.Upstream``) and intake's registry reads outside recorded traces (``intake.clients``).
- :func:`upstream_client`: httpx's API on the same kind of session (``httpx-aiohttp``, by an httpx maintainer), for
  callers whose calls are traced by the httpx instrumentation and whose tests use ``httpx.MockTransport``.

Why aiohttp: the issue 7 profile found httpx's own pool (httpcore) to be the largest single cost of the gateway, about
a third of its CPU: every request scans every pooled connection, asking each socket whether it is readable. Measured
with the same client code and 2,000 POSTs at concurrency 16 to a local server (docs/performance.md), CPU per request
was about 4 ms with httpcore's pool, 1.3 ms with httpx on aiohttp's and 0.4 ms with aiohttp's session alone.
"""

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# Idle connections to a service are dropped after this, below uvicorn's keep-alive (5 s): the client closes an idle
# connection before the service does, so a request is never written into a connection the other end is closing (a
# race that made the gateway answer 503 to a submission right after an idle pause, with httpx's 5 s)
KEEPALIVE_SECONDS = 4.0
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS)


def service_session(
    *,
    limit: int,
    timeout: aiohttp.ClientTimeout | None = None,
    keepalive: float | None = KEEPALIVE_SECONDS,
    **options: Any,
) -> aiohttp.ClientSession:
    """A session for calls to one of our services: up to ``limit`` connections (0: no limit), idle ones dropped after
    ``keepalive`` seconds, no cookie jar (one session carries every user's calls, so nothing one answer sets may ride
    on the next), no proxy settings from the environment (these calls stay on the internal network); ``timeout``
    (aiohttp's default without one) and aiohttp's other session ``options`` as given. Make it inside the running
    event loop."""
    if timeout is not None:
        options["timeout"] = timeout
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, keepalive_timeout=keepalive),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        **options,
    )


class UpstreamTransport(AiohttpTransport):
    """``AiohttpTransport`` with two fixes for service-to-service calls:

    - no cookie jar: one client carries many users' calls, so nothing one answer sets may ride on the next call;
    - failures keep their meaning: httpx-aiohttp 0.2 reports a refused or dropped connection as
      ``httpx.ConnectTimeout``, which the gateway would answer as a timeout (504) instead of an unreachable
      service (503). A ``ConnectTimeout`` that did not come from a timeout is raised as ``httpx.ConnectError``
      (the connection could not be made) or ``httpx.RemoteProtocolError`` (the server closed it mid-request).
    """

    def __init__(self, limits: httpx.Limits = DEFAULT_LIMITS):
        super().__init__(limits=limits, trust_env=False, client=self._session)

    def _session(self) -> aiohttp.ClientSession:  # called on the first request, inside the running loop
        return service_session(limit=self.limits.max_connections or 0, keepalive=self.limits.keepalive_expiry)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if cause is None or isinstance(cause, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
                raise
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(cause), request=request) from cause
            raise httpx.RemoteProtocolError(str(cause) or type(cause).__name__, request=request) from cause


def upstream_client(
    base_url: str, *, timeout: httpx.Timeout, limits: httpx.Limits = DEFAULT_LIMITS
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for calls to one of our services (see the module's docstring). Proxy variables of
    the environment are not read (``trust_env=False``): these calls stay on the internal network, and a proxy
    transport mounted from the environment would bypass this one. httpx keeps the cookies an answer sets and sends
    them on every later call of the client; one client carries many users' calls, so its jar accepts none."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=UpstreamTransport(limits),
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # a jar: httpx would copy a Cookies
    )
