"""OpenTelemetry set-up shared by every service, and trace-context helpers for Kafka headers."""

import logging
from collections.abc import Iterable
from contextvars import ContextVar

import httpx
from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("motcua.telemetry")


def configure_logging(level: int = logging.INFO) -> None:
    """One log format for every service; per-request client logs (httpx) only when they say something
    is wrong, so logging does not cost a line per upstream call."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def sampler(exporter: str, sample_ratio: float = 1.0) -> Sampler:
    """Which traces are recorded. A trace's first process decides (the gateway, or whoever starts it), and the
    others follow the ``sampled`` flag of the ``traceparent`` they receive (``ParentBased``), so a trace is
    recorded whole or not at all. With no exporter nothing is recorded: a span that is never exported is pure cost
    (issue 7's profile: 8–20% of each service's CPU in span building). Unrecorded traces still have ids and still
    travel with every call and outbox row, so a log line or an event can always be tied to its request."""
    if exporter == "none":
        return ALWAYS_OFF
    return ParentBased(TraceIdRatioBased(sample_ratio))


def setup_tracing(service_name: str, exporter: str = "none", sample_ratio: float = 1.0) -> None:
    """Install a global tracer provider unless one is already installed (tests install their own)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=sampler(exporter, sample_ratio),
        id_generator=PresetTraceIds(),
    )
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


_NEXT_TRACE_ID: ContextVar[int] = ContextVar("motcua_next_trace_id", default=0)


class PresetTraceIds(RandomIdGenerator):
    """Random ids, except that the next new trace of a request :class:`UnrecordedRequests` has already sampled gets
    the trace id it was sampled with: the ratio sampler decides by the trace id, so the span the OTel middleware then
    starts gets the same decision."""

    def generate_trace_id(self) -> int:
        preset = _NEXT_TRACE_ID.get()
        if preset:
            _NEXT_TRACE_ID.set(0)
            return preset
        return super().generate_trace_id()


class UnrecordedRequests:
    """The outermost layer of an instrumented app (pure ASGI). A request whose trace is recorded goes through
    OpenTelemetry's ASGI middleware as before; one whose trace is not (every request without an exporter, the
    unsampled share with one) skips it: only the caller's ``traceparent`` is taken and a non-recording server span
    with the trace's id is made current, so the trace id still travels with every call, log and outbox row.

    Why: the OTel middleware does its whole work for a span nobody records: it walks every route of the app to name
    the span, collects the request's attributes, wraps ``receive`` and ``send`` in two more spans and records its
    metrics; issue 7's profile found 10% of the gateway's CPU and 5% of processing's there."""

    def __init__(self, traced: ASGIApp, untraced: ASGIApp, provider: TracerProvider | None = None):
        self.traced, self.untraced = traced, untraced
        self.provider = provider  # None: the global one, looked up per request (tests install theirs late)
        self._tracer: tuple[object, trace.Tracer] | None = None
        self.fields = {f.encode("latin-1") for f in propagate.get_global_textmap().fields}

    def tracer(self, provider: TracerProvider) -> trace.Tracer:
        if self._tracer is None or self._tracer[0] is not provider:
            self._tracer = (provider, provider.get_tracer(__name__))
        return self._tracer[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.traced(scope, receive, send)
            return
        provider = self.provider or trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):  # a provider of another kind: let its middleware decide
            await self.traced(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in self.fields}
        parent = propagate.extract(carrier)
        parent_span = trace.get_current_span(parent).get_span_context()
        if parent_span.is_valid:
            trace_id = parent_span.trace_id
        elif isinstance(provider.id_generator, PresetTraceIds):
            trace_id = provider.id_generator.generate_trace_id()
        else:  # a new trace the provider numbers itself (tests' providers): its decision cannot be foreseen
            await self.traced(scope, receive, send)
            return
        recorded = provider.sampler.should_sample(parent, trace_id, "HTTP", trace.SpanKind.SERVER).decision
        preset = None if parent_span.is_valid else _NEXT_TRACE_ID.set(trace_id)
        try:
            if recorded.is_recording():
                await self.traced(scope, receive, send)
                return
            span = self.tracer(provider).start_span("HTTP", context=parent, kind=trace.SpanKind.SERVER)
            token = context.attach(trace.set_span_in_context(span, parent))
            try:
                await self.untraced(scope, receive, send)
            finally:
                context.detach(token)
        finally:
            if preset is not None:
                _NEXT_TRACE_ID.reset(preset)


def instrument_app(app: FastAPI) -> None:
    """Trace the app's requests (OpenTelemetry's FastAPI instrumentation), with :class:`UnrecordedRequests` in
    front so that a request whose trace is not recorded costs no more than its trace context."""
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    build_traced = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build_traced()
        # What the instrumentor builds: ServerErrorMiddleware(OpenTelemetryMiddleware(<the app's own stack>))
        otel = getattr(stack, "app", None)
        if not isinstance(stack, ServerErrorMiddleware) or not isinstance(otel, OpenTelemetryMiddleware):
            log.warning("unexpected middleware stack %r: every request goes through the OTel middleware", stack)
            return stack
        stack.app = UnrecordedRequests(traced=otel, untraced=otel.app)
        return stack

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]  # as the instrumentor does


class UnrecordedCalls(httpx.AsyncBaseTransport):
    """The client side of :class:`UnrecordedRequests`, around a transport OpenTelemetry's httpx instrumentation has
    wrapped: a call made while the current span records goes through that wrapper (a client span); any other call
    only carries the trace context (``traceparent``) and goes straight to the transport. The wrapper builds a span,
    its attributes and its metrics' attributes per call whether or not anything is recorded (5% of the gateway's CPU
    in issue 7's profile)."""

    def __init__(self, traced: httpx.AsyncBaseTransport):
        self.traced = traced

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if trace.get_current_span().is_recording():
            return await self.traced.handle_async_request(request)
        propagate.inject(request.headers)
        # The class's method, not the instance's: the instrumentation wrapped the instance's attribute.
        return await type(self.traced).handle_async_request(self.traced, request)

    async def aclose(self) -> None:
        await self.traced.aclose()


def instrument_httpx(client: httpx.AsyncClient) -> None:
    """Client spans for the calls of ``client`` (OpenTelemetry's httpx instrumentation), only for recorded traces:
    :class:`UnrecordedCalls`."""
    HTTPXClientInstrumentor.instrument_client(client)
    # httpx has no public setter for a client's transport; the instrumentation itself wraps this attribute.
    client._transport = UnrecordedCalls(client._transport)


def current_trace_headers() -> dict[str, str]:
    """The W3C ``traceparent``/``tracestate`` of the current span, to store with an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Iterable[tuple[str, bytes]] | dict[str, str]) -> context.Context:
    if isinstance(headers, dict):
        carrier = dict(headers)
    else:
        carrier = {k: v.decode("latin-1") for k, v in headers if v is not None}
    return propagate.extract(carrier)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
