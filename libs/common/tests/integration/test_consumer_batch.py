"""EventConsumer's batch path on the real broker and PostgreSQL: the records of a fetch are applied in chunks, each
in one transaction (issue 7). A chunk whose middle record fails is rolled back and handled record by record (the
failing one dead-lettered, every other applied once); a whole chunk delivered again is absorbed by the inbox; a
consumer killed in the middle of a chunk loses nothing and applies nothing twice.

The handlers' effects are rows of a table without any unique key, written in the consumer's transaction, so an
effect applied twice (or applied by a transaction that was rolled back) would show; ``txid_current()`` says which
events were applied in one transaction."""

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from motcua_common.consumer import ChunkHandler, EventConsumer, OutboxHandler
from motcua_common.db import create_pool
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from motcua_common.kafka import client_options, make_producer
from motcua_common.outbox import OutboxRow, json_row
from motcua_common.testing import RUN_ID, kafka_admin_settings

from .conftest import EVENT_TYPE, dead_letters, event_consumer


@pytest.fixture
async def producer(db_settings):
    producer = make_producer(db_settings)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def _events(count: int) -> list[CloudEvent]:
    return [CloudEvent(source="/test", type=EVENT_TYPE, subject=f"D-{i}", data={"n": i}) for i in range(count)]


async def _send(settings, topic: str, events: list[CloudEvent], gap: float | None = None) -> None:
    """All on partition 0, so that one fetch returns them together, in this order. With ``gap``: one at a time, each
    acknowledged, ``gap`` seconds apart, so that the consumer fetches them in many small batches."""
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        for event in events:
            sent = await producer.send(
                topic,
                event.model_dump_json().encode(),
                key=b"dossier",
                partition=0,
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
            )
            if gap is not None:
                await sent
                await asyncio.sleep(gap)
        await producer.flush()
    finally:
        await producer.stop()


async def _record_effect(conn: asyncpg.Connection, event) -> None:
    await conn.execute(
        "INSERT INTO effects (event_id, n, txid) VALUES ($1, $2, txid_current())", event.id, event.data["n"]
    )


async def _effects(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event_id, n, txid FROM effects ORDER BY n")


async def _dead_letters(settings, dlq: str) -> list[str]:
    return [CloudEvent.model_validate_json(r.value).id for r in await dead_letters(settings, dlq)]


def _consumer(settings, pool, producer, topic: str, handle, **options) -> EventConsumer:
    return event_consumer(
        settings, pool, producer, topic, handle, f"test-{RUN_ID}-batch-{uuid.uuid4().hex[:6]}", **options
    )


async def _run_until(consumer: EventConsumer, stop: asyncio.Event, seconds: float = 60) -> None:
    try:
        async with asyncio.timeout(seconds):
            await consumer.run(stop)
    except TimeoutError:
        pass  # the assertions say what is missing


async def _apply_all(settings, topic, pool, producer, events: list[CloudEvent], **options) -> EventConsumer:
    """Send ``events``, run a consumer (``options``) that records each one's effect until the last is handled and
    stops; the consumer."""
    await _send(settings, topic, events)
    stop = asyncio.Event()

    async def handle(conn, event):
        await _record_effect(conn, event)
        if event.data["n"] == len(events) - 1:
            stop.set()

    consumer = _consumer(settings, pool, producer, topic, handle, **options)
    await _run_until(consumer, stop)
    return consumer


async def test_a_chunk_is_one_transaction(db_settings, topic, pool, producer):
    events = _events(12)
    consumer = await _apply_all(db_settings, topic, pool, producer, events)
    effects = await _effects(pool)
    assert [r["event_id"] for r in effects] == [e.id for e in events]
    # One fetch usually returns all twelve; a fetch that split them makes two transactions, not twelve.
    assert len({r["txid"] for r in effects}) <= 2, "the events of a fetch were not applied in one transaction"
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer.name) == len(events)


async def test_a_failing_middle_record_rolls_the_chunk_back_and_the_others_are_applied_once(
    db_settings, topic, pool, producer
):
    events = _events(9)
    poison = events[4]
    await _send(db_settings, topic, events)
    stop = asyncio.Event()
    calls: list[int] = []

    async def handle(conn, event):
        calls.append(event.data["n"])
        await _record_effect(conn, event)  # also for the poison record: its transaction must not commit
        if event.id == poison.id:
            raise ValueError("this record always fails")
        if event.data["n"] == len(events) - 1:
            stop.set()

    consumer = _consumer(db_settings, pool, producer, topic, handle, retry_delay=0.01)
    await _run_until(consumer, stop)
    effects = await _effects(pool)
    assert [r["n"] for r in effects] == [e.data["n"] for e in events if e is not poison], (
        "every record but the failing one is applied exactly once"
    )
    assert len({r["txid"] for r in effects}) == len(effects), "after the failure, one transaction per record"
    assert calls.count(4) == 1 + consumer.max_attempts, "in the chunk once, then its own retries"
    inbox = await pool.fetch("SELECT event_id FROM inbox WHERE consumer = $1", consumer.name)
    assert {r["event_id"] for r in inbox} == {e.id for e in events} - {poison.id}
    assert await _dead_letters(db_settings, consumer.dlq_topic(topic)) == [poison.id]


async def test_a_chunk_delivered_again_is_absorbed_by_the_inbox(db_settings, topic, pool, producer):
    events = _events(10)
    last = _events(1)[0]  # handled after everything before it (one partition, chunks in order)
    # Each event twice in a row (a relay that published again after a lost acknowledgement), then the whole lot
    # again: duplicates inside one chunk and whole chunks seen again.
    await _send(db_settings, topic, [e for e in events for _ in range(2)] + events + [last])
    stop = asyncio.Event()
    calls: list[str] = []

    async def handle(conn, event):
        calls.append(event.id)
        await _record_effect(conn, event)
        if event.id == last.id:
            stop.set()

    consumer = _consumer(db_settings, pool, producer, topic, handle, batch_size=7)
    await _run_until(consumer, stop)
    assert sorted(calls) == sorted(e.id for e in [*events, last]), "each event handled once"
    effects = await _effects(pool)
    assert sorted(r["event_id"] for r in effects) == sorted(e.id for e in [*events, last])
    assert len({r["txid"] for r in effects}) < len(effects), "the chunks were applied in shared transactions"


async def test_a_consumer_killed_in_the_middle_of_a_chunk_loses_nothing_and_applies_nothing_twice(
    db_settings, topic, pool, producer
):
    events = _events(30)
    await _send(db_settings, topic, events)
    killed_in: asyncio.Event = asyncio.Event()

    async def handle_then_hang(conn, event):
        await _record_effect(conn, event)
        if event.data["n"] == 13:  # in the middle of the second chunk of 10
            killed_in.set()
            await asyncio.sleep(3600)

    first = _consumer(db_settings, pool, producer, topic, handle_then_hang, batch_size=10)
    task = asyncio.create_task(first.run(asyncio.Event()))
    async with asyncio.timeout(60):
        await killed_in.wait()
    task.cancel()  # the process dies: its transaction never commits
    with pytest.raises(asyncio.CancelledError):
        await task
    effects = await _effects(pool)
    assert [r["n"] for r in effects] == list(range(10)), "only the first chunk committed"

    stop = asyncio.Event()

    async def handle(conn, event):
        await _record_effect(conn, event)
        if event.data["n"] == len(events) - 1:
            stop.set()

    second = event_consumer(db_settings, pool, producer, topic, handle, first.name, batch_size=10)  # the next replica
    await _run_until(second, stop)
    effects = await _effects(pool)
    assert [r["event_id"] for r in effects] == [e.id for e in events], "every event applied exactly once"
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", first.name) == len(events)


async def _committed_offset(settings, group: str, topic: str) -> int | None:
    """The offset ``group`` has committed on partition 0 of ``topic`` (None: nothing committed)."""
    reader = AIOKafkaConsumer(
        **client_options(kafka_admin_settings(settings.kafka_bootstrap)), group_id=group, enable_auto_commit=False
    )
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


def _fetches_and_commits(monkeypatch, group: str) -> list[tuple[str, int]]:
    """What the consumers of ``group`` do from now on, in order: ``("fetch", records returned)`` for each fetch and
    ``("commit", partitions)`` for each offset commit (the real ones still run)."""
    log: list[tuple[str, int]] = []
    real_getmany, real_commit = AIOKafkaConsumer.getmany, AIOKafkaConsumer.commit

    async def getmany(self, *partitions, **options):
        batches = await real_getmany(self, *partitions, **options)
        if self._group_id == group:
            log.append(("fetch", sum(len(records) for records in batches.values())))
        return batches

    async def commit(self, offsets=None):
        if self._group_id == group:
            log.append(("commit", len(offsets or {})))
        return await real_commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", getmany)
    monkeypatch.setattr(AIOKafkaConsumer, "commit", commit)
    return log


@pytest.mark.parametrize("interval", [0.0, 3600.0])
async def test_offsets_are_committed_per_interval_and_when_the_group_has_caught_up(
    db_settings, topic, pool, producer, monkeypatch, interval
):
    """Records arriving one by one: with no interval the consumer commits after every fetch that returned records;
    with a long one, it does not commit while records keep coming, and still commits everything as soon as a fetch
    comes back empty. (Checked on the sequence of fetches and commits, not on how many there were: how the trickle
    falls into fetches depends on the machine's load.)"""
    events = _events(25)
    stop = asyncio.Event()
    handled: list[int] = []

    async def handle(conn, event):
        await _record_effect(conn, event)
        handled.append(event.data["n"])

    consumer = _consumer(db_settings, pool, producer, topic, handle, commit_interval=interval)
    log = _fetches_and_commits(monkeypatch, consumer.name)
    task = asyncio.create_task(consumer.run(stop))
    try:
        await _send(db_settings, topic, events, gap=0.02)
        async with asyncio.timeout(60):
            # caught up: the next fetch comes back empty and commits the last offset
            while await _committed_offset(db_settings, consumer.name, topic) != len(events):  # noqa: ASYNC110 - polls the broker
                await asyncio.sleep(0.2)
        assert sorted(handled) == list(range(len(events)))
        done = list(log)
        fetched = [i for i, (kind, n) in enumerate(done) if kind == "fetch" and n]
        commits = [i for i, (kind, _) in enumerate(done) if kind == "commit"]
        assert fetched and commits, done
        if interval:
            # every commit right after a fetch that came back empty: none while records kept coming
            assert all(done[i - 1] == ("fetch", 0) for i in commits), done
        else:
            assert all(done[i + 1][0] == "commit" for i in fetched), done  # each fetch with records, committed
    finally:
        stop.set()
        await task
    assert [r["event_id"] for r in await _effects(pool)] == [e.id for e in events]


async def test_a_stopped_consumer_commits_what_it_finished_even_within_the_interval(db_settings, topic, pool, producer):
    events = _events(6)
    consumer = await _apply_all(db_settings, topic, pool, producer, events, commit_interval=3600.0)
    assert await _committed_offset(db_settings, consumer.name, topic) == len(events)


async def test_outbox_handlers_rows_are_inserted_together_in_offset_order(db_settings, topic, pool, producer):
    """An OutboxHandler's rows (the portal's reports) are inserted in one statement per run of such events, in the
    chunk's transaction and offset order: an ordinary handler after them sees them already written."""
    services_pool = await create_pool(db_settings.dsn, max_size=4)  # as the services': jsonb as Python values
    other = "vn.motcua.test.other.v1"
    events = [
        CloudEvent(source="/test", type=EVENT_TYPE if i % 4 != 3 else other, subject=f"D-{i}", data={"n": i})
        for i in range(12)
    ]
    await _send(db_settings, topic, events)
    stop = asyncio.Event()
    seen_before: dict[int, int] = {}

    def report(event: CloudEvent) -> list[OutboxRow]:
        return [json_row("vn.motcua.test.report.v1", {"n": event.data["n"]}, topic="t", key="k", source="/test")]

    async def count_reports(conn, event):
        seen_before[event.data["n"]] = await conn.fetchval("SELECT count(*) FROM outbox")
        await _record_effect(conn, event)
        if event.data["n"] == 11:
            stop.set()

    consumer = EventConsumer(
        f"test-{RUN_ID}-batch-{uuid.uuid4().hex[:6]}",
        services_pool,
        settings=db_settings,
        topics=[topic],
        handlers={EVENT_TYPE: OutboxHandler(report), other: count_reports},
        producer=producer,
    )
    try:
        await _run_until(consumer, stop)
        reports = await services_pool.fetch(
            "SELECT (payload->'data'->>'n')::int AS n, xmin::text AS tx FROM outbox ORDER BY created_at, id"
        )
        effects = await _effects(pool)
    finally:
        await services_pool.close()
    assert [r["n"] for r in reports] == [i for i in range(12) if i % 4 != 3], "each report once, in offset order"
    assert seen_before == {3: 3, 7: 6, 11: 9}, "the reports before an ordinary handler's event were written before it"
    # One fetch usually returns all twelve; a fetch that split them makes two transactions, not one per event.
    transactions = {str(r["txid"] % 2**32) for r in effects} | {r["tx"] for r in reports}  # xmin: 32 bits
    assert len(transactions) <= 2, "the reports were not written in the chunk's transaction"


async def test_chunk_handlers_apply_each_run_of_their_class_at_once_in_offset_order(db_settings, topic, pool, producer):
    """A ChunkHandler's events are applied per run of consecutive events whose handlers are of one class: a handler
    of another class, or an ordinary one, ends the run, and the run is applied before it; an event twice in the chunk
    is prepared once."""
    applied: list[tuple[str, list[int]]] = []

    class Evens(ChunkHandler[int]):
        def prepare(self, event: CloudEvent) -> list[int]:
            return [event.data["n"]]

        async def apply(self, conn: asyncpg.Connection, items: list[int]) -> None:
            applied.append((type(self).__name__, items.copy()))

    class Odds(Evens):
        pass

    async def plain(conn, event):
        applied.append(("plain", [event.data["n"]]))

    kinds = ["even", "even", "odd", "odd", "even", "plain", "even", "even"]
    types = {kind: f"vn.motcua.test.{kind}.v1" for kind in kinds}
    events = [CloudEvent(source="/test", type=types[kind], subject="D", data={"n": i}) for i, kind in enumerate(kinds)]
    events.insert(2, events[0])  # delivered twice within the chunk
    consumer = EventConsumer(
        f"test-{RUN_ID}-runs-{uuid.uuid4().hex[:6]}",
        pool,
        settings=db_settings,
        topics=[topic],
        handlers={types["even"]: Evens(), types["odd"]: Odds(), types["plain"]: plain},
        producer=producer,
    )
    records = [
        ConsumerRecord(topic, 0, offset, 0, 0, None, event.model_dump_json().encode(), None, 0, 0, [])
        for offset, event in enumerate(events)
    ]
    finished = await consumer._apply_batch(
        [(record, event, consumer.handlers[event.type]) for record, event in zip(records, events, strict=True)],
        asyncio.Event(),
    )
    assert finished == len(events)
    assert applied == [("Evens", [0, 1]), ("Odds", [2, 3]), ("Evens", [4]), ("plain", [5]), ("Evens", [6, 7])]
