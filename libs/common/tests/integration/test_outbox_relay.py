"""The outbox relay on the real PostgreSQL and Kafka: poison rows are parked while the rest flows, per-key order
holds with two racing relays and a fail-over, no row lock is held while Kafka acknowledges, a NOTIFY during a pass
is not lost, the relay re-listens after its session is terminated, and the lag is on ``/metrics``.

No assertion is on wall-clock time: waits are for conditions (with generous limits), and poll intervals are set
long (30 s) where the test proves that a notification, not the poll, woke the relay."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from motcua_common import outbox_admin
from motcua_common.db import create_pool, migrate
from motcua_common.http import create_app
from motcua_common.kafka import client_options, make_producer
from motcua_common.outbox import OutboxRelay, enqueue, insert_rows_sql, list_stuck, outbox_row, row_arrays
from motcua_common.runtime import READINESS, Runtime
from motcua_common.settings import ServiceSettings
from motcua_common.testing import (
    RUN_ID,
    create_database,
    create_topics,
    delete_topics,
    drop_database,
    per_run_settings,
    sample_submitted,
)

SETTINGS = per_run_settings(ServiceSettings, "outbox_relay", service_name="intake")


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    await create_database(SETTINGS)
    await migrate(SETTINGS.dsn)
    pool = await create_pool(SETTINGS.dsn, max_size=12, acquire_timeout=SETTINGS.db_acquire_timeout)
    yield pool
    await pool.close()
    await drop_database(SETTINGS)


@pytest.fixture
async def topic(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """A fresh topic of this test alone, and an empty outbox."""
    await pool.execute("TRUNCATE outbox")
    name = f"test.{RUN_ID}.relay.{uuid.uuid4().hex[:8]}"
    await create_topics(SETTINGS.kafka_bootstrap, name)
    yield name
    await delete_topics(SETTINGS.kafka_bootstrap, name)


@pytest.fixture
async def producer() -> AsyncIterator:
    p = make_producer(SETTINGS)
    await p.start()
    yield p
    await p.stop()


async def put(conn: asyncpg.Pool | asyncpg.Connection, topic: str, key: str) -> uuid.UUID:
    """Enqueue one event (autocommit) and return its id."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            return await put(c, topic, key)
    event = await enqueue(conn, sample_submitted(), topic=topic, key=key, source="/test")
    return uuid.UUID(event.id)


# The limits of the polls below are upper bounds for a loaded machine; a test that tells a NOTIFY from the poll makes
# the poll hourly, so the bound never has to be shorter than the poll.
async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = 60.0) -> None:
    async with asyncio.timeout(limit):
        while not await check():  # noqa: ASYNC110 - polls the database (or a relay attribute), no event to await
            await asyncio.sleep(0.05)


async def published(pool: asyncpg.Pool, *ids: uuid.UUID) -> bool:
    n = await pool.fetchval("SELECT count(*) FROM outbox WHERE id = ANY($1) AND published_at IS NOT NULL", list(ids))
    return n == len(ids)


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await stopped(task)


async def stopped(task: asyncio.Task) -> None:
    """Let a relay stop (its stop event is set), or cancel it: a leaked relay would keep its connection."""
    done, _ = await asyncio.wait({task}, timeout=60)
    if not done:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def read_topic(topic: str, count: int, limit: float = 60.0) -> list:
    """The first ``count`` records of ``topic`` (all partitions, from the beginning), as ``(key, event id)``."""
    consumer = AIOKafkaConsumer(topic, **client_options(SETTINGS), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[tuple[str, uuid.UUID]] = []
    try:
        async with asyncio.timeout(limit):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += [(r.key.decode(), uuid.UUID(json.loads(r.value)["id"])) for r in batch]
    finally:
        await consumer.stop()
    return records


class Wrapped:
    """A producer that delegates to a real one, with a hook before each ``send``; an exception the hook returns
    is what the broker's acknowledgement fails with (nothing is sent)."""

    def __init__(self, real, before: Callable[[str], Awaitable[Exception | None]]):
        self.real, self.before = real, before

    async def send(self, topic, value=None, key=None, **kw):
        error = await self.before(json.loads(value)["id"])
        if error is not None:
            ack = asyncio.get_running_loop().create_future()
            ack.set_exception(error)
            return ack
        return await self.real.send(topic, value, key=key, **kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


async def test_poison_rows_are_parked_with_their_error_and_the_rest_flows(pool, topic, producer):
    missing = f"test.{RUN_ID}.relay.missing-{uuid.uuid4().hex[:6]}"
    too_big = await put(pool, topic, "k-big")
    await pool.execute(
        "UPDATE outbox SET payload = jsonb_set(payload, '{pad}', to_jsonb(repeat('x', 2000000))) WHERE id = $1",
        too_big,
    )
    behind_big = await put(pool, topic, "k-big")
    unknown = await put(pool, missing, "k-missing")
    behind_unknown = await put(pool, missing, "k-missing")
    beside_unknown = await put(pool, topic, "k-missing")  # same key, another topic: not held
    good = [await put(pool, topic, f"k-{i}") for i in range(5)]
    registry = CollectorRegistry()
    relay = OutboxRelay(
        pool, producer, poll_interval=0.2, send_timeout=1.0, max_failures=2, backoff_base=0.05, registry=registry
    )
    relay.metrics_interval = 0
    try:
        async with running(relay):
            await until(lambda: published(pool, *good, beside_unknown), "the good rows behind the poison ones")
            await until(
                lambda: pool.fetchval("SELECT count(*) = 2 FROM outbox WHERE parked_at IS NOT NULL"), "both parked"
            )
            await until(lambda: asyncio.sleep(0, registry.get_sample_value("outbox_parked_rows") == 2), "metrics")
            stuck = {r["id"]: r for r in await list_stuck(pool)}
            assert set(stuck) == {too_big, unknown}
            assert "MessageSizeTooLarge" in stuck[too_big]["last_error"]
            assert stuck[unknown]["last_error"]
            for row in stuck.values():
                assert row["parked_at"] is not None and row["failures"] == 2 and row["attempts"] == 2
                assert row["blocked_behind"] == 1  # its own key waits behind it, no other
            assert not await published(pool, behind_big) and not await published(pool, behind_unknown)
            assert registry.get_sample_value("outbox_unpublished_rows") == 2  # the two behind the parked rows
            assert (registry.get_sample_value("outbox_oldest_unpublished_age_seconds") or 0) > 0
            assert [k for k, _ in await read_topic(topic, 6)].count("k-big") == 0

            # The operator fixes the cause (the topic now exists) and retries that row: it goes, then its key.
            await create_topics(SETTINGS.kafka_bootstrap, missing)
            listing = await outbox_admin.run(["--database", SETTINGS.database, "list"])
            assert str(unknown) in listing and "PARKED" in listing and "blocks 1" in listing
            assert "retried 1" in await outbox_admin.run(["--database", SETTINGS.database, "retry", str(unknown)])
            await until(lambda: published(pool, unknown, behind_unknown), "the retried row and the one behind it")
            # In the order of the topic: rows sent in one pass share their published_at (its transaction's time).
            assert [i for _, i in await read_topic(missing, 2)] == [unknown, behind_unknown]

            # retry-all makes the oversized one eligible again: it fails twice more and is parked again.
            assert "retried 1" in await outbox_admin.run(["--database", SETTINGS.database, "retry-all"])
            await until(
                lambda: pool.fetchval(
                    "SELECT attempts = 4 AND parked_at IS NOT NULL FROM outbox WHERE id = $1", too_big
                ),
                "parked again",
            )
            assert not await published(pool, behind_big)
    finally:
        await delete_topics(SETTINGS.kafka_bootstrap, missing)


async def test_two_racing_relays_keep_each_keys_order_and_the_standby_takes_over(pool, topic):
    key = f"dossier-{uuid.uuid4()}"
    ids: list[uuid.UUID] = []
    flaky: set[str] = set()

    async def fail_once(event_id: str) -> Exception | None:  # a transient broker error on some rows, once each
        if event_id in flaky:
            flaky.discard(event_id)
            return KafkaConnectionError("injected")
        return None

    producers = [make_producer(SETTINGS), make_producer(SETTINGS)]
    for p in producers:
        await p.start()
    conns = [await pool.acquire() for _ in range(3)]
    tasks: list[asyncio.Task] = []
    try:
        for i in range(40):  # a backlog, then inserts interleaved with the relays' passes
            ids.append(await put(conns[i % 3], topic, key))
            await put(conns[i % 3], topic, f"other-{i % 4}")
        flaky.update(str(ids[i]) for i in (3, 11, 26, 38))
        relays = [
            OutboxRelay(pool, Wrapped(p, fail_once), batch_size=8, poll_interval=0.1, standby_interval=0.1)
            for p in producers
        ]
        stops = [asyncio.Event(), asyncio.Event()]
        tasks += [asyncio.create_task(r.run(s)) for r, s in zip(relays, stops, strict=True)]
        for i in range(40, 120):
            ids.append(await put(conns[i % 3], topic, key))
            await put(conns[i % 3], topic, f"other-{i % 4}")
            if i in (60, 90):
                flaky.add(str(ids[i]))
        await until(lambda: published(pool, *ids), "every row of the key")
        records = await read_topic(topic, 240)
        assert [i for k, i in records if k == key] == ids  # insertion order, each exactly once

        # Kill the active relay: the standby takes over and goes on with the same key.
        leader = next(i for i, r in enumerate(relays) if r.is_leader)
        standby = relays[1 - leader]
        assert standby.state == "standby"
        tasks[leader].cancel()
        await asyncio.gather(tasks[leader], return_exceptions=True)
        await until(lambda: asyncio.sleep(0, standby.is_leader), "the standby takes over")
        for i in range(120, 140):
            ids.append(await put(conns[i % 3], topic, key))
        await until(lambda: published(pool, *ids), "the rows after the fail-over")
        stops[1 - leader].set()
        await asyncio.wait_for(tasks[1 - leader], 60)

        records = await read_topic(topic, 140 + 120)
        assert [i for k, i in records if k == key] == ids  # insertion order, each exactly once
    finally:
        for task in tasks:
            task.cancel()
            await stopped(task)
        for c in conns:
            await pool.release(c)
        for p in producers:
            await p.stop()


class HoldFirst:
    """A ``Wrapped`` hook that holds the first send (``sending`` is set when it starts) until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate, self.sending = asyncio.Event(), asyncio.Event()

    async def __call__(self, _event_id: str) -> None:
        if not self.sending.is_set():
            self.sending.set()
            await self.gate.wait()


async def test_no_row_lock_or_transaction_is_held_while_kafka_acknowledges(pool, topic, producer):
    hold = HoldFirst()  # the row's one send waits until the checks below are done
    row = await put(pool, topic, "k")
    relay = OutboxRelay(pool, Wrapped(producer, hold), poll_interval=3600)
    async with running(relay):
        await asyncio.wait_for(hold.sending.wait(), 60)
        async with pool.acquire() as conn, conn.transaction():
            # Another relay (or an operator) could lock the row right now: nobody holds it.
            locked = await conn.fetchrow(
                "SELECT leased_by, leased_until > now() AS leased FROM outbox WHERE id = $1 FOR UPDATE NOWAIT", row
            )
        assert locked["leased_by"] == relay.name and locked["leased"]
        busy = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
            SETTINGS.database,
        )
        assert busy == 0
        hold.gate.set()
        await until(lambda: published(pool, row), "published")
    assert await pool.fetchval("SELECT leased_by IS NULL AND leased_until IS NULL FROM outbox WHERE id = $1", row)

    # A crashed relay's lease expires and the row is published by the next one.
    orphan = await put(pool, topic, "k2")
    await pool.execute(
        "UPDATE outbox SET leased_by = 'crashed', leased_until = now() + interval '1 second' WHERE id = $1", orphan
    )
    async with running(OutboxRelay(pool, producer, poll_interval=0.1)):
        await until(lambda: published(pool, orphan), "the orphan after its lease expired")


async def test_a_notify_during_a_pass_starts_the_next_pass_at_once(pool, topic, producer):
    """Passes overlap: a row committed while an earlier batch still waits for its acknowledgements is claimed and
    published at once (woken by its NOTIFY, not the hourly poll), without waiting for that batch to settle."""
    hold = HoldFirst()
    relay = OutboxRelay(pool, Wrapped(producer, hold), poll_interval=3600)
    async with running(relay):
        await asyncio.wait_for(relay.wait_state("listening"), 60)
        first = await put(pool, topic, "a")
        await asyncio.wait_for(hold.sending.wait(), 60)  # the first pass is publishing ...
        second = await put(pool, topic, "b")  # ... when the second row's NOTIFY arrives
        await until(lambda: published(pool, second), "the second row while the first is held")
        assert not await published(pool, first)
        hold.gate.set()
        await until(lambda: published(pool, first), "the first row once acknowledged")


async def test_a_key_in_flight_is_not_claimed_by_an_overlapping_pass(pool, topic, producer):
    """Per-key order with overlapping passes: the second row of a key waits until the first is acknowledged,
    even though other keys' rows are published meanwhile."""
    hold = HoldFirst()
    relay = OutboxRelay(pool, Wrapped(producer, hold), poll_interval=3600)
    async with running(relay):
        await asyncio.wait_for(relay.wait_state("listening"), 60)
        first = await put(pool, topic, "k")
        await asyncio.wait_for(hold.sending.wait(), 60)
        same_key = await put(pool, topic, "k")
        other_key = await put(pool, topic, "other")
        await until(lambda: published(pool, other_key), "another key's row while k is held")
        assert not await published(pool, same_key)
        hold.gate.set()
        await until(lambda: published(pool, first, same_key), "k's rows once the first is acknowledged")
        stamps = await pool.fetch(
            "SELECT id, published_at FROM outbox WHERE id = ANY($1::uuid[]) ORDER BY published_at", [first, same_key]
        )
        assert [r["id"] for r in stamps] == [first, same_key]


async def test_the_relay_listens_again_after_its_session_is_terminated(pool, topic, producer):
    relay = OutboxRelay(pool, producer, poll_interval=3600, reconnect_delay=1.0)
    app = create_app(title="t", readiness=READINESS)
    runtime = Runtime(SETTINGS, relay=False)
    runtime.pool, runtime.outbox_relay = pool, relay
    runtime.producer_ready.set()
    runtime.producer = producer
    app.state.runtime, app.state.pool = runtime, pool
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    async with running(relay), client:
        await asyncio.wait_for(relay.wait_state("listening"), 60)
        assert (await client.get("/readyz")).status_code == 200
        pid = relay.session_pid
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", pid)  # what a PostgreSQL restart does to it
        await asyncio.wait_for(relay.wait_state("disconnected"), 60)
        answer = await client.get("/readyz")
        assert answer.status_code == 503 and "outbox_listener" in answer.json()["failures"]
        await asyncio.wait_for(relay.wait_state("listening"), 60)
        assert relay.session_pid != pid
        assert (await client.get("/readyz")).status_code == 200
        row = await put(pool, topic, "after-restart")
        await until(lambda: published(pool, row), "woken by NOTIFY, not the hourly poll")


async def test_runtime_registers_lag_metrics_and_notify_runs_no_relay(pool):
    runtime = Runtime(SETTINGS)
    app = create_app(title="t", lifespan=runtime.lifespan, readiness=READINESS)
    async with app.router.lifespan_context(app):
        assert runtime.outbox_relay is not None
        await asyncio.wait_for(runtime.outbox_relay.wait_state("listening", "standby"), 60)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        async with client:
            text = (await client.get("/metrics")).text
        for name in ("outbox_unpublished_rows", "outbox_parked_rows", "outbox_oldest_unpublished_age_seconds"):
            assert name in text


async def test_notify_runs_no_relay_but_keeps_a_producer_for_dead_letters(kafka_topics):
    from notify.main import MIGRATIONS as NOTIFY_MIGRATIONS
    from notify.main import create_app as create_notify
    from notify.settings import Settings as NotifySettings

    settings = per_run_settings(NotifySettings, "outbox_relay_notify")
    await create_database(settings, NOTIFY_MIGRATIONS)  # migrations are a step before any app starts
    try:
        app = create_notify(settings)
        async with app.router.lifespan_context(app):
            runtime: Runtime = app.state.runtime
            assert runtime.outbox_relay is None
            assert runtime.producer is not None  # its consumers dead-letter with it
            await asyncio.wait_for(runtime.producer_ready.wait(), 60)
            assert not [t for t in runtime._tasks if t.get_name() == "outbox-relay"]
    finally:
        await drop_database(settings)


async def test_rows_written_inside_a_callers_statement_keep_their_order_and_depend_on_its_condition(pool, topic):
    rows = [outbox_row(sample_submitted(), topic=topic, key=f"k{i}", source="/test") for i in range(3)]
    sql = f"WITH c AS (SELECT $1::boolean AS ok), o AS ({insert_rows_sql(2, when='(SELECT ok FROM c)')}) SELECT 1"
    await pool.execute(sql, False, *row_arrays(rows))
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic) == 0
    await pool.execute(sql, True, *row_arrays(rows))
    stored = await pool.fetch(
        "SELECT id, key, event_type, payload, headers FROM outbox WHERE topic = $1 ORDER BY created_at, id", topic
    )
    assert [(r["id"], r["key"]) for r in stored] == [(r.id, r.key) for r in rows]  # in the order given
    assert [r["payload"] for r in stored] == [r.payload for r in rows]
    assert stored[0]["event_type"] == rows[0].event_type == rows[0].payload["type"]
    assert stored[0]["payload"]["id"] == str(rows[0].id)


async def test_each_record_names_its_event_type_in_a_header(pool, topic, producer):
    """``ce_type`` (the consumers skip the types they do not handle by it, unparsed) is the row's event type, beside
    the content type and the row's trace headers."""
    async with pool.acquire() as conn:
        submitted = await enqueue(conn, sample_submitted(), topic=topic, key="k1", source="/test")
        await conn.execute(
            "INSERT INTO outbox (id, topic, key, event_type, payload, headers) VALUES ($1, $2, 'k2', $3, $4, $5)",
            uuid.uuid4(),
            topic,
            "vn.motcua.test.other.v1",
            {"specversion": "1.0", "id": "x", "source": "/test", "type": "vn.motcua.test.other.v1", "data": {}},
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        )
    async with running(OutboxRelay(pool, producer)):
        consumer = AIOKafkaConsumer(topic, **client_options(SETTINGS), group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        headers: dict[str, dict[str, bytes]] = {}
        try:
            async with asyncio.timeout(20):
                while len(headers) < 2:
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        headers |= {r.key.decode(): dict(r.headers) for r in batch}
        finally:
            await consumer.stop()
    assert headers["k1"]["ce_type"] == submitted.type.encode() == b"vn.motcua.dossier.submitted.v2"
    assert headers["k1"]["content-type"] == b"application/cloudevents+json; charset=UTF-8"
    assert headers["k2"] == {
        "content-type": b"application/cloudevents+json; charset=UTF-8",
        "ce_type": b"vn.motcua.test.other.v1",
        "traceparent": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
