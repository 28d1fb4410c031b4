"""EventConsumer through an outage of its database (real PostgreSQL and Kafka): the database stops taking
connections and every session of it is ended while events are being handled, for longer than the handler-failure
retries last. Nothing is dead-lettered and every event is handled once when the database is back: an outage is not
the event's fault (found by `make chaos`: a dossier without a case after a PostgreSQL restart)."""

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from motcua_common.db import create_pool
from motcua_common.kafka import client_options, make_producer
from motcua_common.testing import RUN_ID, kafka_admin_settings

from .conftest import _publish, event_consumer

EVENTS = 10
OUTAGE_SECONDS = 4.0  # longer than the 5 attempts x 0.2 s back-off a failing handler gets


async def _dead_letters(settings, dlq: str) -> int:
    consumer = AIOKafkaConsumer(
        dlq, **client_options(kafka_admin_settings(settings.kafka_bootstrap)), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
        return sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()


async def _inbox_count(settings, group: str) -> int:
    try:
        conn = await asyncpg.connect(settings.dsn)
    except (OSError, asyncpg.PostgresError):
        return 0  # the database is away
    try:
        return await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group)
    finally:
        await conn.close()


@pytest.mark.parametrize("batch_size", [1, 100], ids=["record-by-record", "in-chunks"])
async def test_an_outage_of_the_database_dead_letters_nothing_and_loses_nothing(db_settings, topic, batch_size):
    ids = await _publish(db_settings, topic, EVENTS)
    group = f"test-{RUN_ID}-processing-outage-{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(db_settings.model_copy(update={"database": "postgres"}).dsn)
    pool = await create_pool(db_settings.dsn, min_size=1, max_size=4, acquire_timeout=1.0)
    producer = make_producer(db_settings)
    await producer.start()
    handled: list[str] = []
    stop = asyncio.Event()
    outage: asyncio.Task | None = None
    terminated = asyncio.Event()

    async def take_the_database_away() -> None:
        name = db_settings.database
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        terminated.set()
        await asyncio.sleep(OUTAGE_SECONDS)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    async def handle(conn, event):
        nonlocal outage
        if outage is None:  # the first event: the database goes away under this very transaction
            outage = asyncio.create_task(take_the_database_away())
            await terminated.wait()  # (a fixed half second was not always enough on a loaded machine)
        handled.append(event.id)

    async def stop_once_all_committed() -> None:
        """A handler's call is no commit (a chunk's transaction commits after its last handler): the inbox says."""
        while True:
            await asyncio.sleep(0.2)
            if outage is not None and outage.done() and await _inbox_count(db_settings, group) >= EVENTS:
                stop.set()
                return

    consumer = event_consumer(db_settings, pool, producer, topic, handle, group, batch_size=batch_size)
    watcher = asyncio.create_task(stop_once_all_committed())
    try:
        try:
            async with asyncio.timeout(60):
                await consumer.run(stop)
        except TimeoutError:
            pass  # the assertions say what happened
        watcher.cancel()
        assert outage is not None and outage.done()
        assert await _dead_letters(db_settings, consumer.dlq_topic(topic)) == 0, "an outage dead-lettered events"
        assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group) == EVENTS
        assert set(handled) == set(ids)
    finally:
        if outage is not None and not outage.done():
            outage.cancel()
        await admin.execute(f'ALTER DATABASE "{db_settings.database}" ALLOW_CONNECTIONS true')
        await admin.close()
        await producer.stop()
        await pool.close()
