"""Shared plumbing for Một Cửa services: nothing domain-specific lives here."""

from .consumer import EventConsumer, Handler
from .db import Conn, apply_migrations, check_database, create_pool, migrate
from .events import CloudEvent, EventData, build_event, parse_event
from .http import create_app
from .outbox import OutboxRelay, enqueue
from .problems import PROBLEM_JSON, PROBLEM_RESPONSES, FieldError, Problem, ProblemError
from .runtime import READINESS, Runtime, check_kafka
from .settings import ServiceSettings
from .telemetry import instrument_app, instrument_httpx, setup_tracing

__all__ = [
    "CloudEvent",
    "Conn",
    "EventConsumer",
    "EventData",
    "FieldError",
    "Handler",
    "OutboxRelay",
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "Problem",
    "ProblemError",
    "READINESS",
    "Runtime",
    "ServiceSettings",
    "apply_migrations",
    "build_event",
    "check_database",
    "check_kafka",
    "create_app",
    "create_pool",
    "enqueue",
    "instrument_app",
    "instrument_httpx",
    "migrate",
    "parse_event",
    "setup_tracing",
]
