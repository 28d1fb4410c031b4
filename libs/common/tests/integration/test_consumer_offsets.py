"""EventConsumer on the real broker and PostgreSQL: a consumer stopped in the middle of a batch (a rolling
deploy) commits only what it handled, so the next consumer of the group handles the rest, each event once;
and the consumer's lag is a Prometheus gauge (high watermark - committed offset per partition)."""

import asyncio
import uuid

import asyncpg
from prometheus_client import CollectorRegistry

from motcua_common.consumer import EventConsumer, consumer_lag_gauge
from motcua_common.kafka import make_producer
from motcua_common.testing import RUN_ID

from .conftest import EVENT_TYPE, EVENTS, _publish


def _lag(registry: CollectorRegistry, group: str, topic: str) -> dict[int, float]:
    return {
        int(sample.labels["partition"]): sample.value
        for metric in registry.collect()
        if metric.name == "kafka_consumergroup_lag"
        for sample in metric.samples
        if sample.labels["consumergroup"] == group and sample.labels["topic"] == topic
    }


async def test_a_consumer_stopped_mid_batch_loses_nothing_and_handles_each_event_once(db_settings, topic):
    ids = await _publish(db_settings, topic, EVENTS)  # all in the log before the first consumer fetches
    group = f"test-{RUN_ID}-processing-offsets-{uuid.uuid4().hex[:6]}"
    handled: list[str] = []
    pool = await asyncpg.create_pool(db_settings.dsn, min_size=1, max_size=4)
    producer = make_producer(db_settings)
    await producer.start()
    try:
        # The first consumer is stopped (as by a rolling deploy) after 5 events: its batch held far more.
        first_stop = asyncio.Event()

        async def handle_then_stop(conn, event):
            handled.append(event.id)
            if len(handled) == 5:
                first_stop.set()

        registry = CollectorRegistry()
        gauge = consumer_lag_gauge(registry)
        first = EventConsumer(
            group,
            pool,
            settings=db_settings,
            topics=[topic],
            handlers={EVENT_TYPE: handle_then_stop},
            producer=producer,
            lag_gauge=gauge,
        )
        async with asyncio.timeout(60):
            await first.run(first_stop)
        assert len(handled) == 5, "the first consumer stops after the record in hand"
        # The lag it reports is exactly what it fetched but did not handle, and what it never fetched.
        assert sum(_lag(registry, group, topic).values()) == EVENTS - 5

        # A new consumer of the same group (the next replica) picks up exactly where the first one stopped.
        second_stop = asyncio.Event()

        async def handle(conn, event):
            handled.append(event.id)
            if len(handled) >= EVENTS:
                second_stop.set()

        second = EventConsumer(
            group,
            pool,
            settings=db_settings,
            topics=[topic],
            handlers={EVENT_TYPE: handle},
            producer=producer,
            lag_gauge=gauge,
        )
        try:
            async with asyncio.timeout(60):
                await second.run(second_stop)
        except TimeoutError:
            pass  # the assertions below say what was lost
        assert sorted(handled) == sorted(ids), (
            f"{len(set(ids) - set(handled))} events lost, {len(handled) - len(set(handled))} handled twice"
        )
        assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group) == EVENTS
        assert set(_lag(registry, group, topic).values()) == {0}
    finally:
        await producer.stop()
        await pool.close()


async def test_lag_is_reported_per_partition_while_a_consumer_catches_up(db_settings, topic):
    ids = await _publish(db_settings, topic, 12)
    group = f"test-{RUN_ID}-processing-lag-{uuid.uuid4().hex[:6]}"
    registry = CollectorRegistry()
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(conn, event):
        seen.append(event.id)
        if len(seen) == len(ids):
            stop.set()

    pool = await asyncpg.create_pool(db_settings.dsn, min_size=1, max_size=2)
    producer = make_producer(db_settings)
    await producer.start()
    try:
        consumer = EventConsumer(
            group,
            pool,
            settings=db_settings,
            topics=[topic],
            handlers={EVENT_TYPE: handle},
            producer=producer,
            lag_gauge=consumer_lag_gauge(registry),
        )
        async with asyncio.timeout(60):
            await consumer.run(stop)
    finally:
        await producer.stop()
        await pool.close()
    lag = _lag(registry, group, topic)
    assert set(lag) == {0, 1, 2} and set(lag.values()) == {0}
