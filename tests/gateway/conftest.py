"""Fixtures of the gateway tests: stand-in upstreams (small aiohttp servers on loopback ports) that record and echo
what they received, tokens from a throw-away issuer, and gateway apps whose rate-limit counters live in a per-run
PostgreSQL database."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web

from gateway.main import create_app
from gateway.ratelimit import MIGRATIONS
from gateway.routing import ROUTES
from gateway.settings import Settings
from motcua_common.testing import create_database, drop_database, per_run_settings
from motcua_common.testing_auth import TestIssuer

# What the stand-in upstreams received, newest last, as httpx requests (headers, content, url.params, url.raw_path).
SEEN: list[httpx.Request] = []
UPSTREAMS = ("intake", "processing", "citizen-id", "notify")
SLOW_SECONDS = 3.0  # how long a ".../slow" path takes to answer: longer than the timeout of the tests about it
# Generous limits for tests that are not about rate limiting.
HIGH = {
    f"rate_{b}_per_minute": 100_000 for b in ("citizen", "officer", "client", "anonymous", "public_lookup", "login")
}


def upstream(name: str) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        content = await request.read()
        SEEN.append(
            httpx.Request(
                request.method, f"http://{name}.test{request.raw_path}", headers=request.raw_headers, content=content
            )
        )
        path = request.path
        if path == "/openapi.json":
            return web.json_response(openapi_doc(name))
        if path == "/healthz":
            return web.json_response({"status": "ok"})
        if "slow" in path:
            await asyncio.sleep(SLOW_SECONDS)
        if "drop" in path:  # the connection is closed without an answer (a crashed or restarting service)
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if name == "processing" and path.startswith(("/api/v1/dossiers/", "/api/v1/public/")) and path.endswith("NEW"):
            return web.json_response(
                {"type": "x/dossier-not-found", "status": 404}, status=404, content_type="application/problem+json"
            )
        if name == "citizen-id" and path == "/oauth/authorize" and request.method == "POST":
            # the login form accepted: back to the app's redirect URI, exactly as the provider wrote it
            return web.Response(
                status=302,
                headers={"location": "vn.motcua.app:/oauth/callback?code=c%2Fd&state=s1", "set-cookie": "sid=1"},
            )
        echo = {
            "served_by": name,
            "path": path,
            "headers": dict(request.headers),
            "body": content.decode("utf-8", "replace"),
        }
        return web.json_response(
            echo,
            status=201 if request.method == "POST" else 200,
            headers={
                "location": "/x",
                "idempotent-replayed": "true",
                "set-cookie": "no=1",
                "cache-control": "no-store",
                "content-disposition": "inline; filename*=UTF-8''Gi%E1%BA%A5y.pdf",
                "x-content-type-options": "nosniff",
            },
        )

    return handle


def openapi_doc(name: str) -> dict:
    paths: dict[str, Any] = {}
    for r in ROUTES:
        if r.upstream == name:
            paths.setdefault(r.path, {})[r.method.lower()] = {
                "operationId": f"{name}_{r.method}_{r.path}",
                "parameters": [
                    {"name": "x-officer-id", "in": "header"},
                    {"name": "X-On-Behalf-Of", "in": "header"},
                    {"name": "Authorization", "in": "header"},
                    {"name": "code", "in": "path"},
                ],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            }
    return {
        "openapi": "3.1.0",
        "paths": paths,
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "title": f"Thing of {name}",
                    "properties": {"x": {"$ref": "#/components/schemas/Inner"}},
                },
                "Inner": {"type": "string"},
            }
        },
    }


# The minute every pinned clock counts from, taken once: two clocks of one test made a second apart would otherwise
# fall in different minutes whenever the wall clock crossed a minute between them (the windows a test expects moved
# by 60 s under it: a flake of about one run in eight on a loaded machine)
BASE_MINUTE = int(time.time()) // 60


def window_clock(hours_ahead: int, into_window: float = 30.0) -> Callable[[], float]:
    """A pinned clock ``into_window`` seconds into a minute some hours after this test session started: a window
    edge never falls inside the test, and no replica's clean-up (which deletes only past windows) touches its
    counters (a session lasts minutes, not hours)."""
    t = (BASE_MINUTE + 60 * hours_ahead) * 60 + into_window
    return lambda: t


@pytest.fixture(scope="session")
async def counter_settings() -> AsyncIterator[Settings]:
    """Settings whose counter database is this run's own (created and migrated here, dropped at the end)."""
    # rate_db_timeout is the generous one of TEST_TIMEOUTS: a test of the counts must count. Fail-open on a slow
    # database has its own test, with the production timeout (test_a_slow_counter_database_fails_open)
    settings = per_run_settings(Settings, "gateway", **HIGH, rate_cleanup_interval=3600.0)
    await create_database(settings, MIGRATIONS)
    yield settings
    await drop_database(settings)


@pytest.fixture(scope="session")
def issuer(counter_settings) -> TestIssuer:
    return TestIssuer(issuer=counter_settings.issuer, audience=counter_settings.audience)


@pytest.fixture(scope="session")
async def upstream_urls() -> AsyncIterator[dict[str, str]]:
    """The stand-in upstreams, one aiohttp server each on a free loopback port, for the whole session: name → URL."""
    runners, urls = [], {}
    for name in UPSTREAMS:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", upstream(name))
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        urls[name] = f"http://127.0.0.1:{port}"
    yield urls
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(scope="session")
def gateway_factory(counter_settings, issuer, upstream_urls):
    """``async with gateway_factory(**settings) as (app, client)``: a started gateway in front of the stand-in
    upstreams (``<name>_url`` settings override them) with ``issuer``'s key trusted. ``ip`` is the address the
    client calls from."""

    @asynccontextmanager
    async def start(
        *, ip: str = "198.51.100.7", verifier=None, own_verifier: bool = False, **overrides
    ) -> AsyncIterator[tuple]:
        addresses = {f"{name.replace('-', '_')}_url": url for name, url in upstream_urls.items()}
        settings = counter_settings.model_copy(update={**addresses, **overrides})
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            if not own_verifier:  # else the gateway's own, built by its lifespan, stays
                app.state.verifier = verifier or issuer.verifier()
            transport = httpx.ASGITransport(app=app, client=(ip, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                yield app, client

    return start


@pytest.fixture(scope="session")
def seen() -> list[httpx.Request]:
    """Every request the stand-in upstreams received, newest last."""
    return SEEN


@pytest.fixture(scope="session")
def problem() -> Callable[[httpx.Response, int, str], dict]:
    def check(resp: httpx.Response, status: int, slug: str) -> dict:
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        body = resp.json()
        assert body["type"].endswith("/" + slug) and body["status"] == status
        return body

    return check


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """A function giving a loopback port nothing listens on (for a service or database that is down)."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick


@pytest.fixture(scope="session")
def pinned_clock() -> Callable[..., Callable[[], float]]:
    return window_clock
