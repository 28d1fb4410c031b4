"""What every FastAPI app here has: request ids, a body size limit, problem+json errors, health,
readiness and Prometheus metrics, and tracing."""

import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, install_problem_handlers, status_problem

REQUEST_ID_HEADER = "x-request-id"
log = logging.getLogger("motcua.http")


class RequestContextMiddleware:
    """Pure ASGI middleware: assigns or keeps ``X-Request-ID``, rejects oversized bodies with 413 (the limit of
    the path in ``body_limits``, else ``max_body_bytes``), and records request metrics. Pure ASGI (not
    BaseHTTPMiddleware) so it adds no task per request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        requests: Counter,
        latency: Histogram,
        body_limits: dict[str, int] | None = None,
    ):
        self.app, self.default_limit, self.body_limits = app, max_body_bytes, body_limits or {}
        self.requests, self.latency = requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")[:128] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        request = Request(scope)
        limit = self.body_limits.get(scope["path"], self.default_limit)
        status_holder = {"status": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                hdrs = list(message.get("headers", []))
                hdrs.append((REQUEST_ID_HEADER.encode(), rid.encode("latin-1")))
                message = {**message, "headers": hdrs}
            await send(message)

        declared = headers.get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > limit
        except ValueError:
            too_big = True
        if too_big:
            resp = status_problem(request, 413, f"The body exceeds {limit} bytes.")
            await resp(scope, receive, send_with_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            resp = status_problem(request, 413, f"The body exceeds {limit} bytes.")
            await resp(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(scope["method"], path, str(status_holder["status"])).inc()
            self.latency.labels(scope["method"], path).observe(time.perf_counter() - started)


class _BodyTooLarge(Exception):
    pass


ReadinessCheck = Callable[[FastAPI], Awaitable[None]]


def readiness_name(check: ReadinessCheck) -> str:
    """What /readyz calls a check in its ``failures``: the dependency it checks (``check_database`` →
    ``database``, ``check_kafka`` → ``kafka``, a service's ``counter_database`` as it is), or ``readiness_name``
    when the function sets one."""
    name = getattr(check, "readiness_name", "") or getattr(check, "__name__", "check")
    return name.removeprefix("check_")


# FastAPI's own telemetry layer steps aside only when it finds OpenTelemetry's ASGI middleware in the app's stack, and
# instrument_app hides it behind UnrecordedRequests: every request then went through both, FastAPI's layer building a
# server span of its own (nothing recorded without an exporter, attributes built all the same; a recorded trace got
# two server spans) before OpenTelemetry's middleware. Traces are the OpenTelemetry instrumentation's alone.
NO_NATIVE_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def freeze_startup_heap() -> None:
    """Leave what exists once a service has started (the app, its routes, the libraries' modules and their objects)
    out of every later garbage collection: they live as long as the process. Without it each full collection walked
    that whole heap again, 75 ms apiece in the gateway, 12% of its CPU under load (docs/performance.md, change 10);
    the collections now walk only what requests made. Once per process: a heap already frozen (a test process that
    starts many apps) is left as it is, so later apps' objects stay collectable."""
    if gc.get_freeze_count() == 0:
        gc.collect()  # nothing that is already garbage gets frozen
        gc.freeze()


def _freezing(lifespan: Lifespan | None) -> Lifespan | None:
    """``lifespan`` followed, once its start-up is done, by :func:`freeze_startup_heap` (an app without one keeps
    FastAPI's default, which runs ``on_startup`` handlers)."""
    if lifespan is None:
        return None
    started = lifespan

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[Any]:
        async with started(app) as state:
            freeze_startup_heap()
            yield state

    return run


def create_app(
    *,
    title: str,
    version: str = "1.0.0",
    description: str = "",
    lifespan: Lifespan | None = None,
    max_body_bytes: int = 1_048_576,
    body_limits: dict[str, int] | None = None,
    readiness: Sequence[ReadinessCheck] | None = None,
    **kwargs: Any,
) -> FastAPI:
    """Build a FastAPI app with the platform's conventions installed. ``body_limits`` raises (or lowers) the
    body limit of single paths, e.g. a document upload."""
    kwargs.setdefault("telemetry", NO_NATIVE_TELEMETRY)
    app = FastAPI(title=title, version=version, description=description, lifespan=_freezing(lifespan), **kwargs)
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry)
    app.state.metrics_registry = registry
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=max_body_bytes,
        body_limits=body_limits,
        requests=requests,
        latency=latency,
    )
    install_problem_handlers(app)
    checks = readiness or []

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        failures = {}
        for check in checks:
            try:
                await check(request.app)
            except Exception as exc:  # readiness reports any failure, whatever its kind
                failures[readiness_name(check)] = f"{type(exc).__name__}: {exc}"[:300]
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    _serve_problems_as_problem_json(app)
    return app


def _serve_problems_as_problem_json(app: FastAPI) -> None:
    """FastAPI files a response ``model`` under ``application/json``; errors are sent as
    ``application/problem+json``, so the document says that instead."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            for item in doc.get("paths", {}).values():
                for op in item.values():
                    for code, resp in op.get("responses", {}).items():
                        content = resp.get("content", {})
                        if code[:1] in "45" and "Problem" in str(content.get("application/json", {})):
                            content[PROBLEM_JSON] = content.pop("application/json")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents this override
