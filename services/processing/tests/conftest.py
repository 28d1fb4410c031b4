"""Fixtures for the processing service's integration tests: the app on this run's own database and
topics (real PostgreSQL and Kafka), its lifespan entered once, the database dropped at the end. Tokens
come from a throw-away :class:`TestIssuer` whose verifier replaces the app's after the lifespan started."""

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from aiokafka.admin import NewTopic
from fastapi import FastAPI

from motcua_common import sample_procedures
from motcua_common.contracts import Actor, DossierSubmitted, ProcedureVersionPublished
from motcua_common.events import CloudEvent, build_event
from motcua_common.kafka import make_admin
from motcua_common.procedures import ProcedureDefinition
from motcua_common.testing import (
    RUN_ID,
    create_database,
    delete_topics,
    drop_database,
    kafka_admin_settings,
    per_run_settings,
    sample_submitted,
)
from motcua_common.testing_auth import TestIssuer
from processing import handlers
from processing.main import MIGRATIONS, create_app
from processing.settings import Settings

_seq = itertools.count(1)


async def create_compacted_topic(settings: Settings, name: str, partitions: int = 3) -> None:
    """A compacted topic (as ``motcua.dossier.state``, see scripts/infra/kafka.sh), created as the admin user."""
    admin = make_admin(kafka_admin_settings(settings.kafka_bootstrap))
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            topic = NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": "compact"})
            await admin.create_topics([topic])
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def settings(kafka_topics) -> AsyncIterator[Settings]:
    """This run's settings; the run's compacted state topic ``test.<run>.dossier.state`` is created here (and
    deleted at the end) as processing publishes every dossier's state there."""
    # The deadline loop's own passes would race the tests that drive detection themselves: once an hour here.
    s = per_run_settings(Settings, "processing", deadline_interval_seconds=3600)
    assert s.dossier_topic == kafka_topics[0]
    assert s.dossier_state_topic == f"test.{RUN_ID}.dossier.state"
    await create_compacted_topic(s, s.dossier_state_topic)
    assert s.catalogue_topic == f"test.{RUN_ID}.catalogue.events"  # created with the run's topics (kafka_topics)
    yield s
    await delete_topics(s.kafka_bootstrap, s.dossier_state_topic)


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
async def app(settings: Settings, issuer: TestIssuer) -> AsyncIterator[FastAPI]:
    await create_database(settings, MIGRATIONS)  # migrations are a step before any app starts
    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            assert application.state.verifier is not None  # the lifespan built the real one
            application.state.verifier = issuer.verifier()
            # The procedure versions the tests' dossiers are received under, as intake's catalogue announces them.
            await store_versions(application, sample_procedures.standard(), sample_procedures.inter_agency())
            yield application
    finally:
        await drop_database(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://processing") as c:
        yield c


def new_submission(
    *,
    unit_code: str = "000.00.01.H29",
    due_in: timedelta = timedelta(days=3),
    received_at: datetime | None = None,
    applicant: str | None = None,
    submitter: str | None = None,
    submitter_kind: Literal["citizen", "officer", "partner"] = "citizen",
    tax_code: str | None = None,
    receiving_unit_code: str | None = None,
    channel: str = "online",
    procedure_code: str = "1.001193",
    procedure_version: int = 1,
    **extra: Any,
) -> tuple[DossierSubmitted, CloudEvent]:
    """A dossier.submitted.v2 as intake publishes it, with a code unique in this run.

    ``applicant``: the applicant citizen's subject (random if absent); ``tax_code``: an organisation applicant
    instead; ``submitter``: who filed it (default: the applicant themself)."""
    received = received_at or datetime.now(UTC).replace(microsecond=0)
    n = next(_seq)
    if tax_code is not None:
        applicant_ref = {"kind": "organisation", "subject": None, "tax_code": tax_code}
    else:
        applicant_ref = {"kind": "citizen", "subject": applicant or f"sub-{uuid.uuid4().hex[:12]}"}
    by = Actor(kind=submitter_kind, subject=submitter or applicant_ref["subject"] or f"sub-{uuid.uuid4().hex[:12]}")
    data = sample_submitted(
        dossier_code=f"{unit_code}-{RUN_ID[:6]}-{n:04d}-{uuid.uuid4().hex[:6].upper()}",
        occurred_at=received,
        processing_days=3,
        unit_code=unit_code,
        unit_name=f"Đơn vị {unit_code}",
        submitted_at=received,
        received_at=received,
        appointment_at=received + due_in,
        applicant=applicant_ref,
        submitted_by=by,
        receiving_unit_code=receiving_unit_code,
        channel=channel,
        procedure_code=procedure_code,
        procedure_version=procedure_version,
        **extra,
    )
    return data, build_event(data, source="/motcua/intake", subject=data.dossier_code)


@pytest.fixture
def make_submission():
    return new_submission


async def store_versions(app: FastAPI, *definitions: ProcedureDefinition) -> None:
    """Run the catalogue consumer's handler for each definition's ``procedure.version_published`` event."""
    handle = handlers.make_catalogue_handlers(app.state.settings, app.state.clock)[
        ProcedureVersionPublished.type_name()
    ]
    for definition in definitions:
        event = CloudEvent(
            source="/motcua/intake",
            type=ProcedureVersionPublished.type_name(),
            subject=definition.code,
            data=sample_procedures.published(definition),
        )
        async with app.state.pool.acquire() as conn, conn.transaction():
            await handle(conn, event)


@pytest.fixture
def publish(app: FastAPI):
    async def run(*definitions: ProcedureDefinition) -> None:
        await store_versions(app, *definitions)

    return run


@pytest.fixture
def open_case(app: FastAPI):
    """Run the consumer's handler on the real database, as the consumer does (one transaction)."""

    handle = handlers.make_handlers(app.state.settings, app.state.clock)[DossierSubmitted.type_name()]

    async def run(event: CloudEvent) -> None:
        async with app.state.pool.acquire() as conn, conn.transaction():
            await handle(conn, event)

    return run
