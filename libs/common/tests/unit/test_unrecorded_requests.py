"""A request whose trace is not recorded skips OpenTelemetry's ASGI middleware (motcua_common.telemetry.
UnrecordedRequests) but keeps its trace: the caller's trace id, or a new one, is current in the app; a recorded one
goes through the middleware and is exported; the ratio sampler's decision is the same in both places. The same for
the calls of an instrumented client (UnrecordedCalls)."""

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from opentelemetry import context, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext

from motcua_common.telemetry import (
    PresetTraceIds,
    UnrecordedRequests,
    current_trace_headers,
    instrument_httpx,
    sampler,
)

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def traceparent(sampled: bool) -> str:
    return f"00-{PARENT_TRACE}-00f067aa0ba902b7-{'01' if sampled else '00'}"


def build(exporter: str, ratio: float = 1.0) -> tuple[UnrecordedRequests, InMemorySpanExporter, list[dict]]:
    provider = TracerProvider(sampler=sampler(exporter, ratio), id_generator=PresetTraceIds())
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    seen: list[dict] = []

    async def app(scope, receive, send) -> None:
        span = trace.get_current_span()
        ctx = span.get_span_context()
        seen.append({"trace_id": ctx.trace_id, "valid": ctx.is_valid, "recording": span.is_recording(),
                     "headers": current_trace_headers()})  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    traced = OpenTelemetryMiddleware(app, tracer_provider=provider)
    return UnrecordedRequests(traced, app, provider=provider), spans, seen


def call(middleware: UnrecordedRequests, headers: dict[str, str] | None = None) -> int:
    scope = {
        "type": "http", "method": "GET", "path": "/x", "raw_path": b"/x", "query_string": b"", "scheme": "http",
        "http_version": "1.1", "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"]


@pytest.mark.parametrize("sampled", [True, False])
def test_without_an_exporter_the_callers_trace_goes_on_unrecorded(sampled):
    middleware, spans, seen = build("none")
    assert call(middleware, {"traceparent": traceparent(sampled)}) == 200
    assert seen[0]["trace_id"] == int(PARENT_TRACE, 16) and not seen[0]["recording"]
    assert seen[0]["headers"]["traceparent"].startswith(f"00-{PARENT_TRACE}-")  # what an outbox row keeps
    assert spans.get_finished_spans() == ()


def test_without_an_exporter_a_new_trace_still_has_an_id():
    middleware, spans, seen = build("none")
    call(middleware)
    call(middleware)
    assert all(s["valid"] and not s["recording"] for s in seen)
    assert seen[0]["trace_id"] != seen[1]["trace_id"]
    assert spans.get_finished_spans() == ()


def test_a_trace_the_caller_recorded_is_recorded_here():
    middleware, spans, seen = build("console", 0.0)
    call(middleware, {"traceparent": traceparent(True)})
    assert seen[0]["recording"] and seen[0]["trace_id"] == int(PARENT_TRACE, 16)
    server = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert len(server) == 1 and server[0].context.trace_id == int(PARENT_TRACE, 16)


def test_a_trace_the_caller_did_not_record_is_not_recorded_here():
    middleware, spans, seen = build("console", 1.0)
    call(middleware, {"traceparent": traceparent(False)})
    assert not seen[0]["recording"] and seen[0]["trace_id"] == int(PARENT_TRACE, 16)
    assert spans.get_finished_spans() == ()


def test_new_traces_are_recorded_by_the_ratio_with_the_decision_the_id_gets():
    middleware, spans, seen = build("console", 0.5)
    for _ in range(200):
        call(middleware)
    ratio = sampler("console", 0.5)
    recorded = {s.context.trace_id for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER}
    for s in seen:
        decision = ratio.should_sample(None, s["trace_id"], "HTTP").decision
        assert s["recording"] == (decision == Decision.RECORD_AND_SAMPLE) == (s["trace_id"] in recorded)
    assert 50 <= len(recorded) <= 150


def test_a_platform_app_has_the_layer_in_front_of_the_otel_middleware():
    from fastapi.testclient import TestClient

    from motcua_common.http import create_app
    from motcua_common.telemetry import instrument_app

    app = create_app(title="t")
    instrument_app(app)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    layer = app.middleware_stack.app  # type: ignore[union-attr]
    assert isinstance(layer, UnrecordedRequests) and isinstance(layer.traced, OpenTelemetryMiddleware)


def _client_call(seen: list[httpx.Request]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    instrument_httpx(client)

    async def go() -> None:
        async with client:
            assert (await client.get("http://upstream.test/x")).status_code == 204

    asyncio.run(go())


def test_a_call_in_an_unrecorded_trace_carries_the_trace_without_a_client_span(spans):
    seen: list[httpx.Request] = []
    span = NonRecordingSpan(SpanContext(int(PARENT_TRACE, 16), 0x1234, is_remote=False))
    token = context.attach(trace.set_span_in_context(span))
    try:
        _client_call(seen)
    finally:
        context.detach(token)
    assert seen[0].headers["traceparent"] == f"00-{PARENT_TRACE}-0000000000001234-00"
    assert [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT] == []


def test_a_call_in_a_recorded_trace_has_its_client_span(spans):
    seen: list[httpx.Request] = []
    with trace.get_tracer("test").start_as_current_span("server") as parent:
        _client_call(seen)
    client = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert len(client) == 1 and client[0].parent.span_id == parent.get_span_context().span_id
    ids = f"00-{client[0].context.trace_id:032x}-{client[0].context.span_id:016x}-"
    assert seen[0].headers["traceparent"].startswith(ids) and int(seen[0].headers["traceparent"][-2:], 16) & 1


def test_a_recorded_request_of_a_platform_app_has_one_server_span(spans):
    """FastAPI's own telemetry layer is off (``NO_NATIVE_TELEMETRY``): it did not see OpenTelemetry's middleware
    behind UnrecordedRequests and made a second server span for every request."""
    from fastapi.testclient import TestClient
    from opentelemetry.trace import SpanKind

    from motcua_common.http import create_app
    from motcua_common.telemetry import instrument_app

    app = create_app(title="t")

    @app.get("/x")
    async def x() -> dict:
        return {}

    instrument_app(app)
    with TestClient(app) as client:  # /healthz is not traced
        assert client.get("/x", headers={"traceparent": traceparent(True)}).status_code == 200
    server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(server) == 1 and server[0].context.trace_id == int(PARENT_TRACE, 16)
    assert server[0].instrumentation_scope.name.startswith("opentelemetry.instrumentation.")


def test_the_startup_heap_is_frozen_once_per_process(monkeypatch):
    """A platform app's objects at start-up are left out of later garbage collections (``gc.freeze``), once: a
    second app in the same process (tests) leaves the frozen heap as it is."""
    import gc
    from contextlib import asynccontextmanager

    from fastapi.testclient import TestClient

    from motcua_common.http import create_app

    freezes: list[int] = []

    def freeze() -> None:
        freezes.append(1)
        real_freeze()

    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", freeze)

    @asynccontextmanager
    async def lifespan(app):
        app.state.started = True
        yield

    gc.unfreeze()
    try:
        first = create_app(title="first", lifespan=lifespan)
        with TestClient(first):
            assert first.state.started and freezes == [1] and gc.get_freeze_count() > 0
        second = create_app(title="second", lifespan=lifespan)
        with TestClient(second):
            assert second.state.started and freezes == [1]
    finally:
        gc.unfreeze()
