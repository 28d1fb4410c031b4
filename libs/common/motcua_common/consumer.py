"""Idempotent Kafka consumer: each event's effect and its inbox row ``(consumer, event_id)`` are
written in one transaction, and offsets are committed only after that transaction commits.

A redelivered event finds its inbox row and is skipped. An event that cannot be parsed, or whose
handler keeps failing, goes to the dead-letter topic of the topic it came from (``<topic>.dlq``: a poison
message of the restricted personal topic must not land beside the dossier events) with the error after
bounded retries. Database
outages are not the event's fault: those are retried until the database is back, never dead-lettered.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace

from .events import CloudEvent, parse_event
from .kafka import make_consumer, start_with_retry
from .settings import ServiceSettings
from .telemetry import context_from_headers

log = logging.getLogger("motcua.consumer")
Handler = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]
_TRANSIENT = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


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
    ):
        self.name, self.pool, self.handlers = name, pool, handlers
        self.settings, self.topics, self.producer = settings, topics, producer
        self.max_attempts, self.retry_delay = max_attempts, retry_delay
        self.tracer = trace.get_tracer(f"motcua.consumer.{name}")

    async def run(self, stop: asyncio.Event) -> None:
        consumer = make_consumer(self.settings, self.name, *self.topics)
        if not await start_with_retry(consumer, stop=stop, what=f"consumer {self.name}", log=log):
            return
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=300, max_records=200)
                if not batches:
                    continue
                for records in batches.values():
                    for record in records:
                        await self.handle_record(record, stop)
                        if stop.is_set():
                            break
                await consumer.commit()  # only after every record above is durably handled
        finally:
            await consumer.stop()

    async def handle_record(self, record: ConsumerRecord, stop: asyncio.Event) -> None:
        ctx = context_from_headers(record.headers or [])
        try:
            event = parse_event(record.value)
        except ValueError as exc:
            await self._dead_letter(record, f"unparseable CloudEvent: {exc}")
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            return  # not ours: consumers ignore event types they do not handle
        with self.tracer.start_as_current_span(
            f"{self.name} process {event.type}",
            context=ctx,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.message.id": event.id,
                "motcua.dossier.code": event.subject or "",
            },
        ):
            attempt = 0
            while True:
                try:
                    await self._apply(event, handler)
                    return
                except _TRANSIENT as exc:
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

    async def _apply(self, event: CloudEvent, handler: Handler) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
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
