"""Idempotent Kafka consumer: each event's effect and its inbox row ``(consumer, event_id)`` are
written in one transaction, and offsets are committed only after that transaction commits.

Batches: the records a fetch returns are applied in chunks of at most ``batch_size`` (100) records, each chunk in
ONE transaction on one connection: one statement records every event of the chunk in the inbox
(``unnest … ON CONFLICT DO NOTHING RETURNING event_id``), then the handlers of the fresh ones run in offset order.
At 200 events/s that is what keeps the consumers from saturating (issue 7: one transaction per record cost
processing and PostgreSQL about 10 ms of CPU per event). If anything in a chunk fails (a handler's exception, a
deadlock, the database going away) the chunk's transaction is rolled back and its records are handled one by one,
each in its own transaction as before: the retries, dead letters and the endless retry of a database outage are
exactly those of a single record. A consumer asked to stop in the middle of a chunk commits the records it has
handled and takes the rest out of the inbox again, so the group's next consumer gets them.
Consequences for handlers: in a chunk, ``now()`` is the chunk's transaction start (use ``clock_timestamp()`` or the
event's own time where the order of rows of one transaction matters), and locks a handler takes (row locks,
``pg_advisory_xact_lock``) are held until the chunk commits.

Types it does not handle: a record whose ``ce_type`` header (set by every relay, :data:`events.TYPE_HEADER`) names a
type without a handler here is skipped unparsed: no inbox row, no dead letter even if its value is broken (that is
for the consumers of its type), its offset committed like any other. A record without the header is parsed first
and skipped after, as before.

Offsets: the consumer commits, per partition, exactly the offset after the last record it finished (handled,
skipped as not its type, or dead-lettered), never the consumer's fetch position: ``getmany`` has already moved that
past the whole batch, and a consumer stopped in the middle of a batch (a rolling deploy) must leave the rest to the
next consumer of its group. It commits at most every ``commit_interval`` seconds (0.5), and at once when a fetch
comes back empty (the group has caught up) or when it stops: committing after every fetch made one offset commit
per fetch per group, several per event when the load is light, for the broker and the consumer (issue 7; intake's
and citizen-id's consumers read every event of their topics to act on one type). What a crash leaves uncommitted
is read again by the group's next consumer, and the inbox skips what was already applied. A commit that fails (the
partition was reassigned meanwhile) is only logged: the new owner gets those records again and the inbox skips
them.

Lag: with a ``lag_gauge`` (:func:`consumer_lag_gauge`), after each commit the consumer sets
``kafka_consumergroup_lag{consumergroup, topic, partition}`` = high watermark - committed offset of every
partition it owns.

A redelivered event finds its inbox row and is skipped. An event that cannot be parsed, or whose
handler keeps failing, goes to the dead-letter topic of the topic it came from (``<topic>.dlq``: a poison
message of the restricted personal topic must not land beside the dossier events) with the error after
bounded retries. Database
outages are not the event's fault: those are retried until the database is back, never dead-lettered.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Gauge

from .db import DATABASE_OUTAGE, pooled_connection
from .events import TYPE_HEADER, CloudEvent, parse_event
from .kafka import make_consumer, start_with_retry
from .outbox import OutboxRow, insert_rows
from .settings import ServiceSettings
from .telemetry import context_from_headers

log = logging.getLogger("motcua.consumer")
Handler = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]
T = TypeVar("T")


class ChunkHandler(Generic[T]):
    """A handler whose effect for a run of events of a chunk can be applied at once: ``prepare`` makes an event's
    items from the event alone (no I/O; in the event's span, so trace context goes along) and ``apply`` applies the
    items of a run of consecutive events whose handlers are of the same class, in offset order. In a chunk the
    consumer applies a run before any other handler's effect that follows it (issue 7: a statement per event was
    most of the portal's and the statistics projection's consumer cost). Called alone (one record, or the
    record-by-record path) it applies its event's items."""

    def prepare(self, event: CloudEvent) -> Sequence[T]:
        raise NotImplementedError

    async def apply(self, conn: asyncpg.Connection, items: list[T]) -> None:
        raise NotImplementedError

    async def __call__(self, conn: asyncpg.Connection, event: CloudEvent) -> None:
        await self.apply(conn, list(self.prepare(event)))


class OutboxHandler(ChunkHandler[OutboxRow]):
    """A handler whose whole effect is outbox rows made from the event alone, without reading anything: ``rows``.
    The rows of a run of such events are inserted in one statement, in offset order."""

    def __init__(self, rows: Callable[[CloudEvent], Sequence[OutboxRow]]):
        self.rows = rows

    def prepare(self, event: CloudEvent) -> Sequence[OutboxRow]:
        return self.rows(event)

    async def apply(self, conn: asyncpg.Connection, items: list[OutboxRow]) -> None:
        await insert_rows(conn, items)


def consumer_lag_gauge(registry: CollectorRegistry) -> Gauge:
    """The consumer-lag gauge in ``registry`` (one per registry, shared by the service's consumers). Its name and
    labels are those of the common Kafka exporters, so their dashboards and alerts work unchanged."""
    return Gauge(
        "kafka_consumergroup_lag",
        "Records not yet handled by the consumer group: high watermark - committed offset, per partition",
        ["consumergroup", "topic", "partition"],
        registry=registry,
    )


def _parse(record: ConsumerRecord) -> CloudEvent | str:
    """The record's CloudEvent, or why it is not one (for its dead letter)."""
    try:
        return parse_event(record.value)
    except ValueError as exc:
        return f"unparseable CloudEvent: {exc}"


def header_type(record: ConsumerRecord) -> str | None:
    """The event type the producer put in the record's ``ce_type`` header (our relay does), or None without one."""
    for key, value in record.headers or ():
        if key == TYPE_HEADER:
            return value.decode("utf-8", "replace") if value is not None else None
    return None


class EventConsumer:
    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        *,
        settings: ServiceSettings,
        topics: list[str],
        handlers: dict[str, Handler],
        producer: AIOKafkaProducer,
        max_attempts: int = 5,
        retry_delay: float = 0.2,
        lag_gauge: Gauge | None = None,
        batch_size: int = 100,
        commit_interval: float = 0.5,
        fetch_wait_ms: int = 0,
    ):
        self.name, self.pool, self.handlers = name, pool, handlers
        self.settings, self.topics, self.producer = settings, topics, producer
        self.max_attempts, self.retry_delay = max_attempts, retry_delay
        self.lag_gauge = lag_gauge
        self.batch_size = batch_size  # records per transaction: row locks a chunk takes are held until it commits
        self.commit_interval = commit_interval  # seconds between offset commits while records keep coming
        self.fetch_wait_ms = fetch_wait_ms  # how long the broker may hold a fetch to fill it (kafka.make_consumer)
        self.tracer = trace.get_tracer(f"motcua.consumer.{name}")
        self._committed: dict[TopicPartition, int] = {}  # what this consumer's group has committed, as far as known
        self._lag_labels: set[TopicPartition] = set()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = make_consumer(self.settings, self.name, *self.topics, fetch_wait_ms=self.fetch_wait_ms)
        if not await start_with_retry(consumer, stop=stop, what=f"consumer {self.name}", log=log):
            return
        self._committed.clear()  # a new member: what the group committed is read again from the broker
        loop = asyncio.get_running_loop()
        done: dict[TopicPartition, int] = {}  # partition -> offset after its last finished record, not committed yet
        last_commit = loop.time()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=300, max_records=200)
                records = [record for partition in batches.values() for record in partition]  # each in offset order
                try:
                    for start in range(0, len(records), self.batch_size):
                        if stop.is_set():
                            break  # the rest of the batch stays uncommitted: the group's next consumer gets it
                        await self.handle_chunk(records[start : start + self.batch_size], stop, done)
                finally:
                    if not records or stop.is_set() or loop.time() - last_commit >= self.commit_interval:
                        await self._commit(consumer, done)
                        last_commit = loop.time()
                        await self._report_lag(consumer)
        finally:
            try:
                await self._commit(consumer, done)  # what was finished before a crash of the loop, if it can
            finally:
                await consumer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, done: dict[TopicPartition, int]) -> None:
        """Commit exactly the records whose transaction committed (never ``consumer.position``), and forget them."""
        if not done:
            return
        offsets = dict(done)
        done.clear()
        try:
            await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
        except KafkaError as exc:  # CommitFailedError, IllegalStateError (partition no longer assigned)…
            log.warning("%s: offsets %s not committed (%r); those records will be seen again", self.name, offsets, exc)
            return
        self._committed.update(offsets)

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        if self.lag_gauge is None:
            return
        assigned = consumer.assignment()
        for tp in self._lag_labels - assigned:  # partitions given to another member: their lag is reported there
            self.lag_gauge.remove(self.name, tp.topic, str(tp.partition))
        self._lag_labels &= assigned
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # no fetch answered for it yet
            if tp not in self._committed:
                try:  # once per partition and member: what the group had committed before
                    committed = await consumer.committed(tp)
                    if committed is None:  # nothing committed yet: the group starts from the earliest record
                        committed = (await consumer.beginning_offsets([tp]))[tp]
                    self._committed[tp] = committed
                except KafkaError as exc:
                    log.debug("%s: committed offset of %s unknown for now: %r", self.name, tp, exc)
                    continue
            self.lag_gauge.labels(self.name, tp.topic, str(tp.partition)).set(max(highwater - self._committed[tp], 0))
            self._lag_labels.add(tp)

    async def handle_chunk(
        self, records: list[ConsumerRecord], stop: asyncio.Event, done: dict[TopicPartition, int]
    ) -> None:
        """Handle ``records`` (each partition's in offset order) in one transaction, or one by one if that fails;
        ``done`` gets, per partition, the offset after the last record finished."""
        parsed = [self._parse_if_handled(record) for record in records]
        mine = [
            (i, event, self.handlers[event.type])
            for i, event in enumerate(parsed)
            if isinstance(event, CloudEvent) and event.type in self.handlers
        ]
        # One record of ours (the usual case on a quiet system) or an unparseable one (it is dead-lettered, which is
        # no part of a transaction): record by record.
        if len(mine) > 1 and not any(isinstance(event, str) for event in parsed):
            try:
                applied = await self._apply_batch([(records[i], event, handler) for i, event, handler in mine], stop)
            except Exception as exc:  # whatever failed, nothing of the chunk was applied: one by one below
                log.info("%s: a chunk of %d events failed (%r); handling them one by one", self.name, len(mine), exc)
            else:
                # Finished: every record up to the last one applied (all of them unless asked to stop).
                end = len(records) if applied == len(mine) else (mine[applied - 1][0] + 1 if applied else 0)
                for record in records[:end]:
                    done[TopicPartition(record.topic, record.partition)] = record.offset + 1
                return
        for record, event in zip(records, parsed, strict=True):
            if stop.is_set():
                return  # the rest stays uncommitted: the group's next consumer gets it
            if event is not None:  # None: not ours by its header, finished as it is
                await self.handle_record(record, stop, event)
            done[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def _parse_if_handled(self, record: ConsumerRecord) -> CloudEvent | str | None:
        """The record's CloudEvent (or why it is not one, for its dead letter), or None for a record whose type
        header names a type this consumer does not handle: skipped without parsing (most records, for the consumers
        that act on one type of a busy topic: issue 7). A record without the header is parsed, as before."""
        event_type = header_type(record)
        if event_type is not None and event_type not in self.handlers:
            return None
        return _parse(record)

    async def handle_record(self, record: ConsumerRecord, stop: asyncio.Event, event: CloudEvent | str) -> None:
        """Handle one parsed record in its own transaction (or dead-letter it), with the retries."""
        if isinstance(event, str):
            await self._dead_letter(record, event)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            return  # not ours: consumers ignore event types they do not handle
        with self._span(record, event):
            attempt = 0
            while True:
                try:
                    await self._apply(event, handler)
                    return
                except DATABASE_OUTAGE as exc:
                    log.warning("%s: database unavailable handling %s (%s); retrying", self.name, event.id, exc)
                    if stop.is_set():
                        raise
                    await asyncio.sleep(1.0)
                except Exception as exc:  # a handler failure: retried, then dead-lettered with the error
                    attempt += 1
                    if attempt >= self.max_attempts:
                        log.error(
                            "%s: event %s failed %d times, dead-lettering: %r",
                            self.name,
                            event.id,
                            attempt,
                            exc,
                        )
                        await self._dead_letter(record, repr(exc))
                        return
                    await asyncio.sleep(self.retry_delay * attempt)

    def _span(self, record: ConsumerRecord, event: CloudEvent) -> AbstractContextManager[trace.Span]:
        """The event's consumer span, a child of the producer's trace context (the record's headers)."""
        return self.tracer.start_as_current_span(
            f"{self.name} process {event.type}",
            context=context_from_headers(record.headers or []),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.message.id": event.id,
                "motcua.dossier.code": event.subject or "",
            },
        )

    async def _apply_batch(self, items: list[tuple[ConsumerRecord, CloudEvent, Handler]], stop: asyncio.Event) -> int:
        """Apply ``items`` in one transaction: one inbox statement for all, then the handlers of the fresh events in
        order. Returns how many items were finished: all, or fewer if ``stop`` was set meanwhile (the inbox rows of
        the events not handled are deleted again before the commit). Raises if anything failed (rolled back)."""
        async with pooled_connection(self.pool) as conn, conn.transaction():
            rows = await conn.fetch(
                "INSERT INTO inbox (consumer, event_id, event_type)"
                " SELECT $1, e.id, e.type FROM unnest($2::text[], $3::text[]) AS e(id, type)"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                self.name,
                [event.id for _, event, _ in items],
                [event.type for _, event, _ in items],
            )
            fresh = {row["event_id"] for row in rows}
            finished = 0
            run: ChunkHandler[Any] | None = None  # the ChunkHandler whose run of events is not applied yet
            made: list[Any] = []  # that run's items

            async def apply_run() -> None:  # effects stay in offset order
                if run is not None and made:
                    await run.apply(conn, made)
                made.clear()

            for record, event, handler in items:
                if stop.is_set():
                    break
                if event.id in fresh:  # an event twice in the chunk (a relay retry) is handled once
                    fresh.discard(event.id)
                    with self._span(record, event):
                        if isinstance(handler, ChunkHandler):
                            if run is None or type(handler) is not type(run):
                                await apply_run()
                                run = handler
                            made += handler.prepare(event)  # in the event's span: its trace context goes along
                        else:
                            await apply_run()
                            run = None
                            await handler(conn, event)
                finished += 1
            await apply_run()
            if fresh:  # asked to stop: the events not handled are not handled yet
                await conn.execute(
                    "DELETE FROM inbox WHERE consumer = $1 AND event_id = ANY($2::text[])", self.name, list(fresh)
                )
        return finished

    async def _apply(self, event: CloudEvent, handler: Handler) -> None:
        async with pooled_connection(self.pool) as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self.name,
                event.id,
                event.type,
            )
            if fresh:
                await handler(conn, event)

    @staticmethod
    def dlq_topic(source_topic: str) -> str:
        """Each topic has its own dead-letter topic: ``motcua.personal.events`` -> ``motcua.personal.events.dlq``."""
        return f"{source_topic}.dlq"

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        headers = list(record.headers or []) + [
            ("dlq-error", error[:1000].encode()),
            ("dlq-consumer", self.name.encode()),
            ("dlq-original-topic", record.topic.encode()),
            ("dlq-original-partition", str(record.partition).encode()),
            ("dlq-original-offset", str(record.offset).encode()),
        ]
        await self.producer.send_and_wait(self.dlq_topic(record.topic), record.value, key=record.key, headers=headers)
