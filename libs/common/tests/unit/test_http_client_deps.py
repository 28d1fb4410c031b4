"""httpcore asks which async library runs it on every pooled request (6 times per request on a kept-alive
connection). Without `sniffio` installed it answers through a failed `import sniffio` each time, which goes through
the whole import machinery (136 µs a call on the 2-vCPU development VM, against 1 µs with sniffio: issue 7's
profile of the gateway). anyio stopped bringing sniffio in, so motcua-common depends on it; this keeps it there."""

import asyncio
import sys

from httpcore._synchronization import current_async_library


def test_httpcore_finds_the_async_library_through_sniffio():
    sys.modules.pop("sniffio", None)

    async def ask() -> str:
        return current_async_library()

    assert asyncio.run(ask()) == "asyncio"
    assert "sniffio" in sys.modules, "httpcore fell back to a failed import of sniffio on every call"


def test_clients_drop_idle_connections_before_the_services_close_them():
    """The clients between services (the gateway's, intake's registry session, `upstream_client`) keep an idle
    connection for less time than uvicorn does: else a request can be written into a connection the service is
    closing, and the caller answers 503 for a healthy service (seen once right after an idle pause)."""
    import uvicorn

    from motcua_common.http_client import DEFAULT_LIMITS, KEEPALIVE_SECONDS

    assert KEEPALIVE_SECONDS < uvicorn.Config("services:app").timeout_keep_alive  # the default of every service
    assert DEFAULT_LIMITS.keepalive_expiry == KEEPALIVE_SECONDS


def test_a_service_session_keeps_no_cookies_reads_no_proxy_and_drops_idle_connections_first():
    import aiohttp

    from motcua_common.http_client import KEEPALIVE_SECONDS, service_session

    async def make() -> None:
        async with service_session(limit=7, timeout=aiohttp.ClientTimeout(total=3)) as session:
            assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar) and not session.trust_env
            assert session.connector is not None and session.connector.limit == 7
            assert session.connector._keepalive_timeout == KEEPALIVE_SECONDS
            assert session.timeout.total == 3

    asyncio.run(make())
