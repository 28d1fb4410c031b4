"""The gateway: one public REST API in front of the services."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import swagger_ui
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from motcua_common import create_app as create_base_app
from motcua_common import instrument_app, instrument_httpx, setup_tracing
from motcua_common.problems import ProblemError
from motcua_common.telemetry import configure_logging

from .openapi import OpenAPIMerger
from .proxy import forward, to_response
from .routing import ROUTES, Route
from .settings import Officer, Settings

DESCRIPTION = """Một Cửa (“one door”): the public REST API for online public services.

Citizens and businesses browse the procedure catalogue, submit dossiers (send an `Idempotency-Key`) and
follow them; officers move dossiers through their workflow with a bearer token. Errors are
`application/problem+json` (RFC 9457); every response carries `X-Request-ID`; lists use cursor pagination
(`limit`, `cursor`, `next_cursor`)."""


def _authenticate(request: Request, settings: Settings) -> Officer:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    officer = settings.officer_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if officer is None:
        raise ProblemError(
            401,
            "unauthorized",
            "Chưa xác thực cán bộ",
            "This operation needs an officer's bearer token.",
            headers={"WWW-Authenticate": 'Bearer realm="motcua"'},
        )
    return officer


def _handler(route: Route):
    async def handle(request: Request) -> Response:
        state = request.app.state
        officer = _authenticate(request, state.settings) if route.officer else None
        body = await request.body()
        resp = await forward(state.clients[route.upstream], request, route.upstream, body, officer)
        if resp.status_code == 404 and route.fallback:
            resp = await forward(state.clients[route.fallback], request, route.fallback, body, officer)
        return to_response(resp)

    return handle


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.upstream_timeout, connect=settings.connect_timeout)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)
            for name, url in settings.upstreams().items()
        }
        for client in clients.values():
            instrument_httpx(client)
        app.state.clients = clients
        app.state.merger = OpenAPIMerger(clients, title="Một Cửa API", version="1.0.0", description=DESCRIPTION)
        try:
            yield
        finally:
            await asyncio.gather(*(c.aclose() for c in clients.values()))

    async def upstreams_alive(app: FastAPI) -> None:
        async def ping(name: str, client: httpx.AsyncClient) -> None:
            (await client.get("/healthz", timeout=2)).raise_for_status()

        await asyncio.gather(*(ping(n, c) for n, c in app.state.clients.items()))

    app = create_base_app(
        title="Một Cửa API",
        description=DESCRIPTION,
        lifespan=lifespan,
        readiness=[upstreams_alive],
        max_body_bytes=settings.max_body_bytes,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    for route in ROUTES:
        app.add_api_route(
            route.path,
            _handler(route),
            methods=[route.method],
            include_in_schema=False,
            name=f"{route.method} {route.path}",
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await request.app.state.merger.build(request.app.openapi()))

    # Swagger UI 5 (OpenAPI 3.1) served from a package, not a CDN: the docs work on closed networks.
    app.mount("/docs-static", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Một Cửa API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )

    instrument_app(app)
    return app
