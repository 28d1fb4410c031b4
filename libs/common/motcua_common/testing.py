"""Test helpers for the real PostgreSQL and Kafka started by ``scripts/infra/up.sh``.

Each test session works in databases and topics of its own (random suffix), so tests never see
the data of a running ``make run`` system nor of another test run.
"""

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka.admin import NewTopic

from .contracts import Actor, ApplicantRef, DossierContact, DossierSubmitted
from .db import migrate
from .kafka import make_admin
from .settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
RUN_ID = os.environ.get("MOTCUA_TEST_RUN_ID") or uuid.uuid4().hex[:8]


# Production timeouts are short on purpose (a slow dependency must cost a request little), but on a loaded test machine
# a new pool connection, a counter statement or an SMTP exchange can take longer, and the test then sees a 503, a
# request that was not counted (the gateway's limiter fails open past rate_db_timeout: CI got [200, 200, 200] for an
# officer limited to 2) or a retried e-mail. In tests they are only upper bounds of waits; a test about one of these
# timeouts passes the value it tests as an override. Fields the settings class does not have are left out.
TEST_TIMEOUTS: dict[str, float] = {
    "db_acquire_timeout": 30.0,  # every service: a pool connection (2 s)
    "rate_db_timeout": 30.0,  # gateway: a rate-limit counter statement (0.25 s)
    "connect_timeout": 10.0,  # gateway: connecting to a service (2 s)
    "upstream_timeout": 60.0,  # gateway: a service's answer (10 s)
    "citizen_id_timeout": 30.0,  # intake: the population registry (3 s)
    "smtp_timeout": 30.0,  # notify: the mail server (10 s); sender_lease (60 s) stays longer than both
    "provider_timeout": 30.0,  # notify: the SMS and OTT providers (5 s)
}


def per_run_settings(cls: type[S], service: str, **overrides: Any) -> S:
    """Settings for ``service`` pointing at a per-run database and per-run topics, with :data:`TEST_TIMEOUTS`
    unless ``overrides`` name them."""
    overrides = {**{k: v for k, v in TEST_TIMEOUTS.items() if k in cls.model_fields}, **overrides}
    base = cls(**overrides)
    return base.model_copy(
        update={
            "database": f"test_{RUN_ID}_{service.replace('-', '_')}",
            "dossier_topic": f"test.{RUN_ID}.dossier.events",
            "dlq_topic": f"test.{RUN_ID}.dossier.events.dlq",
            "personal_topic": f"test.{RUN_ID}.personal.events",
            "catalogue_topic": f"test.{RUN_ID}.catalogue.events",
            "consumer_group_prefix": f"test-{RUN_ID}-{service}-",
            **overrides,
        }
    )


async def create_database(settings: ServiceSettings, migrations: Path | None = None) -> None:
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", settings.database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{settings.database}"')
    finally:
        await admin.close()
    if migrations is not None:
        await migrate(settings.dsn, migrations)


async def recreate_databases(settings: ServiceSettings, names: Iterable[str]) -> None:
    """Drop (with its connections) and create each database of ``names``, on the server ``settings`` names: the
    benchmarks' and the chaos test's own databases start empty at every run."""
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(settings: ServiceSettings) -> None:
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
    finally:
        await admin.close()


def kafka_admin_settings(bootstrap: str | None = None) -> ServiceSettings:
    """Settings that log in to Kafka as the broker's super user ``admin`` (the test harness creates and deletes
    per-run topics with it): ``MOTCUA_KAFKA_ADMIN_USERNAME`` (default ``admin``), ``MOTCUA_KAFKA_PASSWORD_ADMIN``
    (default ``admin-kafka-secret``, as scripts/infra/kafka.sh). Services under test keep their own users."""
    username = os.environ.get("MOTCUA_KAFKA_ADMIN_USERNAME") or "admin"
    base = ServiceSettings(service_name="test-admin", kafka_username=username)
    return base.model_copy(update={"kafka_bootstrap": bootstrap}) if bootstrap else base


async def create_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = make_admin(kafka_admin_settings(bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, *names: str) -> None:
    admin = make_admin(kafka_admin_settings(bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def sample_submitted(*, applicant: dict[str, Any] | None = None, **fields: Any) -> DossierSubmitted:
    """A valid ``dossier.submitted`` payload for tests; pass only what the test cares about."""
    now = datetime.now(UTC)
    subject = (applicant or {}).get("subject") or f"sub-{uuid.uuid4().hex[:12]}"
    values = {
        "dossier_id": uuid.uuid4(),
        "dossier_code": f"H29.01-{RUN_ID}-{uuid.uuid4().hex[:6]}",
        "occurred_at": now,
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "procedure_version": 1,
        "processing_days": 0,
        "channel": "online",
        "unit_code": "H29.01",
        "unit_name": "UBND phường Ba Đình",
        "applicant": ApplicantRef(**{"kind": "citizen", "subject": subject, **(applicant or {})}),
        "submitted_by": Actor(kind="citizen", subject=subject),
        "submitted_at": now,
        "received_at": now,
        "appointment_at": now + timedelta(hours=8),
        **fields,
    }
    return DossierSubmitted(**values)


def sample_contact(submitted: DossierSubmitted, **fields: Any) -> DossierContact:
    """The ``dossier.contact`` event intake publishes beside ``submitted`` on the personal topic."""
    values = {
        "dossier_id": submitted.dossier_id,
        "dossier_code": submitted.dossier_code,
        "occurred_at": submitted.occurred_at,
        "recipient_subject": submitted.applicant.subject or submitted.submitted_by.subject,
        "full_name": "Trần Thị Bình",
        "email": "binh.tran@example.vn",
        "phone": None,
        "notify_channels": ["app", "email"],
        "procedure_name": submitted.procedure_name,
        **fields,
    }
    return DossierContact(**values)


def load_script(path: Path, name: str) -> Any:
    """Import a file of ``scripts/`` (not a package) as module ``name``, for the tests of the repository's tools."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
