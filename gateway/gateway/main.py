"""The gateway: one public REST API in front of the services."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import swagger_ui
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from motcua_common import create_app as create_base_app
from motcua_common import instrument_app, instrument_httpx, setup_tracing
from motcua_common.auth import Principal, TokenVerifier, bearer_token, make_verifier, unauthorized
from motcua_common.telemetry import configure_logging

from .callback import callback_page
from .dashboard_site import DashboardFiles
from .openapi import API_VERSION, OpenAPIMerger, description
from .proxy import Upstream, forward, to_response
from .ratelimit import RateLimiter
from .routing import ROUTES, Route
from .settings import Settings


async def authenticate(request: Request, route: Route) -> Principal | None:
    """Every bearer token is verified here, on public routes too: a bad token is refused, never ignored.
    The services verify the forwarded token again; the gateway's check keeps forgeries out of the network
    and gives the rate limiter a verified identity to count."""
    token = bearer_token(request)
    if token is None:
        if route.auth == "token":
            raise unauthorized("This operation needs a bearer access token.")
        return None
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(token)


class ProxyRoute(StarletteRoute):
    """A Starlette route that names itself in the scope, as FastAPI's router does only for its own routes: the
    request metrics (``motcua_common.http``) label a request with its route's path."""

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]], **kwargs: Any):
        super().__init__(path, endpoint, include_in_schema=False, **kwargs)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


def _handler(route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        state = request.app.state
        principal = await authenticate(request, route)
        limiter: RateLimiter = state.limiter
        await limiter.check(limiter.buckets(request, route, principal))
        body = await request.body()
        answer = await forward(state.upstreams[route.upstream], request, body)
        if answer.status == 404 and route.fallback:
            answer = await forward(state.upstreams[route.fallback], request, body)
        return to_response(answer)

    return handle


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter, settings.otel_sample_ratio)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstreams = {
            name: Upstream(name, url, timeout=settings.upstream_timeout, connect_timeout=settings.connect_timeout)
            for name, url in settings.upstreams().items()
        }
        app.state.upstreams = upstreams
        # The provider's keys come from citizen-id's internal address (MOTCUA_JWKS_URL), on a client of their own.
        jwks_client = httpx.AsyncClient(timeout=httpx.Timeout(5, connect=settings.connect_timeout))
        instrument_httpx(jwks_client)
        verifier = make_verifier(settings, jwks_client)
        verifier.jwks.min_refresh = settings.jwks_min_refresh
        app.state.verifier = verifier
        app.state.merger = OpenAPIMerger(
            upstreams,
            title="Một Cửa API",
            version=API_VERSION,
            description=description(settings),
            issuer=settings.issuer,
        )
        limiter = RateLimiter(settings)
        await limiter.start()
        app.state.limiter = limiter
        try:
            yield
        finally:
            await limiter.close()
            await asyncio.gather(jwks_client.aclose(), *(u.close() for u in upstreams.values()))

    async def upstreams_alive(app: FastAPI) -> None:
        async with asyncio.timeout(2):
            await asyncio.gather(*(u.get("/healthz") for u in app.state.upstreams.values()))

    async def counter_database(app: FastAPI) -> None:
        await app.state.limiter.ping()

    app = create_base_app(
        title="Một Cửa API",
        description=description(settings),
        lifespan=lifespan,
        readiness=[upstreams_alive, counter_database],
        max_body_bytes=settings.max_body_bytes,
        body_limits={"/api/v1/me/documents": settings.max_upload_bytes},
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    for route in ROUTES:
        # Starlette routes, not FastAPI's: a proxied request needs none of FastAPI's per-request work (dependency
        # solving, which also parses the request's query, headers and cookies for parameters it has none of; a
        # response model), about 8% of the gateway's CPU in issue 7's profile. Errors still reach the app's problem
        # handlers.
        app.router.routes.append(
            ProxyRoute(route.path, _handler(route), methods=[route.method], name=f"{route.method} {route.path}")
        )

    app.add_api_route(
        "/oauth/callback",
        callback_page,
        methods=["GET"],
        response_class=HTMLResponse,
        tags=["identity"],
        summary="Show the authorization code to a browser user",
        description=(
            "The redirect target of the demo login (`redirect_uri=http://127.0.0.1:8000/oauth/callback`): a small "
            "page that shows the `code` and `state` it received (or the `error`), to be exchanged at "
            "`POST /oauth/token` with the PKCE `code_verifier`. Served by the gateway itself."
        ),
        openapi_extra={
            "parameters": [
                {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                for n in ("code", "state", "error", "error_description")
            ],
            "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
        },
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

    # The public dashboard (gateway/dashboard_site.py): static files calling this same API from the browser.
    app.mount("/dashboard", DashboardFiles(), name="dashboard")

    instrument_app(app)
    return app
