"""Fixtures shared by every test tier.

Integration and end-to-end tests run on the real PostgreSQL and Kafka started by
``scripts/infra/up.sh`` (``make test`` starts them). Each run uses its own databases and topics
(``motcua_common.testing.RUN_ID``), so tests never touch a running ``make run`` system.
"""

from collections.abc import AsyncIterator
from pathlib import Path

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
async def kafka_topics() -> AsyncIterator[tuple[str, str]]:
    """This run's dossier topic and its dead-letter topic, created on the real broker (as the admin user), with
    the run's personal topic ``test.{RUN_ID}.personal.events``, its catalogue topic
    ``test.{RUN_ID}.catalogue.events`` and their dead-letter topics beside them, and the national portal's
    ``test.{RUN_ID}.portal.events``."""
    bootstrap = ServiceSettings().kafka_bootstrap
    names = (f"test.{RUN_ID}.dossier.events", f"test.{RUN_ID}.dossier.events.dlq")
    others = (
        f"test.{RUN_ID}.personal.events",
        f"test.{RUN_ID}.personal.events.dlq",
        f"test.{RUN_ID}.catalogue.events",
        f"test.{RUN_ID}.catalogue.events.dlq",
        f"test.{RUN_ID}.portal.events",  # processing's reports to the national portal (issue 9)
    )
    await create_topics(bootstrap, *names, *others)
    yield names
    await delete_topics(bootstrap, *names, *others)


ROOT = Path(__file__).resolve().parent
# A test's tier is where its file lives: ``…/tests/unit/``, ``…/tests/integration/``, ``tests/e2e/``; the
# top-level folders of ``tests/`` whose names are not a tier are listed here. A test file anywhere else is an error,
# so that a new file has to be put in a tier (and `make test-unit` never meets a test that needs servers).
TIER_DIRS = {"unit": "unit", "integration": "integration", "e2e": "e2e"}
TESTS_FOLDERS = {
    "gateway": "integration",
    "kafka": "integration",
    "ops": "integration",
    "chaos": "unit",
    "bench": "unit",
}


def tier_of(path: Path) -> str | None:
    parts = path.resolve().relative_to(ROOT).parts
    if parts[0] == "tests":
        if len(parts) == 2:
            return "unit"  # tests/test_*.py: whole-repository checks on files and models, no servers
        if parts[1] in TESTS_FOLDERS:
            return TESTS_FOLDERS[parts[1]]
    for part in parts[:-1]:
        if part in TIER_DIRS:
            return TIER_DIRS[part]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tier markers from the directory (``unit``, ``integration``, ``e2e``), for `make test-unit`,
    `make test-integration` and `make test-e2e`."""
    unplaced = set()
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            unplaced.add(str(item.path.relative_to(ROOT)))
            continue
        item.add_marker(getattr(pytest.mark, tier))
    if unplaced:
        raise pytest.UsageError(
            "test files outside a tier directory (move them under tests/unit/, tests/integration/ or tests/e2e/): "
            + ", ".join(sorted(unplaced))
        )
