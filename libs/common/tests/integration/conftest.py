"""Fixtures of the EventConsumer tests: a migrated per-run database and a fresh topic (with its .dlq) on the real
servers, and a producer of test events."""

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from motcua_common.consumer import EventConsumer
from motcua_common.db import migrate
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from motcua_common.kafka import client_options
from motcua_common.settings import ServiceSettings
from motcua_common.testing import (
    RUN_ID,
    create_database,
    create_topics,
    drop_database,
    kafka_admin_settings,
    per_run_settings,
)

EVENT_TYPE = "vn.motcua.test.offsets.v1"
EVENTS = 40


@pytest.fixture
async def db_settings():
    settings = per_run_settings(ServiceSettings, "consumer-offsets", service_name="processing")
    await create_database(settings)
    await migrate(settings.dsn)  # the common migrations: outbox and inbox
    try:
        yield settings
    finally:
        await drop_database(settings)


@pytest.fixture
async def pool(db_settings):
    """A pool on the test database, with a table ``effects`` (event id, n, transaction id) for handlers to write."""
    pool = await asyncpg.create_pool(db_settings.dsn, min_size=1, max_size=4)
    await pool.execute("CREATE TABLE effects (event_id text NOT NULL, n integer NOT NULL, txid bigint NOT NULL)")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def topic(db_settings):
    name = f"test.{RUN_ID}.consumer-offsets.{uuid.uuid4().hex[:8]}"
    await create_topics(db_settings.kafka_bootstrap, name, f"{name}.dlq", partitions=3)
    return name


async def _publish(settings: ServiceSettings, topic: str, count: int) -> list[str]:
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    ids = []
    try:
        for i in range(count):
            event = CloudEvent(source="/test", type=EVENT_TYPE, subject=f"D-{i}", data={"n": i})
            await producer.send_and_wait(
                topic,
                event.model_dump_json().encode(),
                key=f"dossier-{i % 7}".encode(),
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
            )
            ids.append(event.id)
    finally:
        await producer.stop()
    return ids


def event_consumer(
    settings: ServiceSettings, pool, producer, topic: str, handle, group: str, **options
) -> EventConsumer:
    """An EventConsumer of ``group`` on ``topic`` calling ``handle`` for the test events (``options``: batch_size…)."""
    return EventConsumer(
        group, pool, settings=settings, topics=[topic], handlers={EVENT_TYPE: handle}, producer=producer, **options
    )


async def dead_letters(settings: ServiceSettings, dlq: str) -> list:
    """The records of the dead-letter topic ``dlq`` (what a few seconds of reading from the start return)."""
    consumer = AIOKafkaConsumer(
        dlq, **client_options(kafka_admin_settings(settings.kafka_bootstrap)), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [r for records in batches.values() for r in records]
    finally:
        await consumer.stop()
