"""OpenTelemetry set-up shared by every service, and trace-context helpers for Kafka headers."""

import logging
from collections.abc import Iterable

import httpx
from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased

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
        resource=Resource.create({"service.name": service_name}), sampler=sampler(exporter, sample_ratio)
    )
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def instrument_app(app: FastAPI) -> None:
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def instrument_httpx(client: httpx.AsyncClient) -> None:
    HTTPXClientInstrumentor.instrument_client(client)


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
