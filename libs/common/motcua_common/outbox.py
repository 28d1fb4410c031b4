"""Transactional outbox: ``enqueue`` writes the event in the caller's transaction; ``OutboxRelay``
publishes unpublished rows to Kafka and marks them published.

The relay claims rows with ``FOR UPDATE SKIP LOCKED`` (replica-safe), is woken by ``LISTEN outbox``
and also polls (a missed notification only delays, never loses), publishes with an idempotent
``acks=all`` producer, and retries what failed on its next pass. It never uses an id cursor: rows
commit out of order, and a cursor would skip the late ones.
"""

import asyncio
import json
import logging
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from .events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, EventData, build_event
from .telemetry import current_trace_headers

log = logging.getLogger("motcua.outbox")


async def enqueue(
    conn: asyncpg.Connection,
    data: EventData,
    *,
    topic: str,
    key: str,
    source: str,
    subject: str | None = None,
) -> CloudEvent:
    """Store ``data`` as a CloudEvent in the outbox, inside the caller's transaction."""
    event = build_event(data, source=source, subject=subject)
    trace_headers = current_trace_headers()
    event.traceparent = trace_headers.get("traceparent")
    event.tracestate = trace_headers.get("tracestate")
    await conn.execute(
        "INSERT INTO outbox (id, topic, key, event_type, payload, headers) VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.UUID(event.id),
        topic,
        key,
        event.type,
        event.model_dump(mode="json", exclude_none=True),
        trace_headers,
    )
    return event


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ):
        self.pool, self.producer = pool, producer
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        listener = await self.pool.acquire()
        wake = lambda *_: self._wake.set()  # noqa: E731
        try:
            await listener.add_listener("outbox", wake)
            while not stop.is_set():
                try:
                    published = await self.publish_batch()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("outbox relay pass failed: %s", exc)
                    published = 0
                if published >= self.batch_size:
                    continue
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
        finally:
            await listener.remove_listener("outbox", wake)
            await self.pool.release(listener)

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL"
                " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                return 0
            futures = []
            for row in rows:
                headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
                headers += [(k, str(v).encode()) for k, v in (row["headers"] or {}).items()]
                fut = await self.producer.send(
                    row["topic"],
                    json.dumps(row["payload"]).encode(),
                    key=row["key"].encode(),
                    headers=headers,
                )
                futures.append(fut)
            results = await asyncio.gather(*futures, return_exceptions=True)
            ok = [r["id"] for r, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)]
            failed = [
                (r["id"], repr(res)[:500])
                for r, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ]
            if ok:
                await conn.execute(
                    "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])",
                    ok,
                )
            for row_id, err in failed:
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1", row_id, err
                )
                log.warning("outbox row %s not published: %s", row_id, err)
            return len(ok)
