"""Fixtures shared by every test tier.

Integration and end-to-end tests run on the real PostgreSQL and Kafka started by
``scripts/infra/up.sh`` (``make test`` starts them). Each run uses its own databases and topics
(``motcua_common.testing.RUN_ID``), so tests never touch a running ``make run`` system.
"""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from motcua_common.settings import ServiceSettings
from motcua_common.testing import RUN_ID, create_topics, delete_topics

# Installed before any app is built, so every service's spans in this process land here.
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS


@pytest.fixture
def recorded_spans() -> InMemorySpanExporter:
    """Every span exported since the last ``spans`` fixture cleared them (not cleared here)."""
    return SPANS


@pytest.fixture(scope="session")
async def kafka_topics() -> tuple[str, str]:
    """This run's dossier topic and its dead-letter topic, created on the real broker (as the admin user), with
    the run's personal topic ``test.{RUN_ID}.personal.events`` and its dead-letter topic beside them."""
    bootstrap = ServiceSettings().kafka_bootstrap
    names = (f"test.{RUN_ID}.dossier.events", f"test.{RUN_ID}.dossier.events.dlq")
    personal = (f"test.{RUN_ID}.personal.events", f"test.{RUN_ID}.personal.events.dlq")
    await create_topics(bootstrap, *names, *personal)
    yield names
    await delete_topics(bootstrap, *names, *personal)


_NEEDS_SERVERS: dict[str, bool] = {}


def pytest_collection_modifyitems(config, items):
    """Tier markers, so `make test-unit` can run without servers: ``e2e`` for tests/e2e, ``integration`` for
    any test that uses the real broker (``kafka_topics``) or creates a real database."""
    for item in items:
        path = str(item.path)
        if "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
            continue
        if path not in _NEEDS_SERVERS:
            _NEEDS_SERVERS[path] = "create_database(" in item.path.read_text(encoding="utf-8")
        if _NEEDS_SERVERS[path] or "kafka_topics" in item.fixturenames:
            item.add_marker(pytest.mark.integration)
