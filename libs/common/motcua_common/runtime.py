"""A service's moving parts, started and stopped by its FastAPI lifespan: the database pool (its schema
checked on start: migrations are ``make migrate``'s, never a replica's), the Kafka producer, the outbox
relay, its consumers and any other loops.

Shutdown is graceful: loops are asked to stop, finish the record or batch in hand, and are
cancelled only if they overrun ``shutdown_timeout``.
"""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from .consumer import EventConsumer, Handler, consumer_lag_gauge
from .db import check_database, check_schema, create_pool
from .kafka import make_producer, start_with_retry
from .outbox import OutboxRelay
from .settings import ServiceSettings

log = logging.getLogger("motcua.runtime")
Loop = Callable[[asyncio.Event], Awaitable[None]]


class Runtime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations: Path | None = None,
        relay: bool = True,
        shutdown_timeout: float = 10.0,
    ):
        self.settings, self.migrations, self.relay = settings, migrations, relay
        self.shutdown_timeout = shutdown_timeout
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None  # made in start(): aiokafka needs the running loop
        self.producer_ready = asyncio.Event()
        self.stop = asyncio.Event()
        self._consumers: list[tuple[str, list[str], dict[str, Handler], bool]] = []
        self._loops: list[tuple[str, Loop]] = []
        self._tasks: list[asyncio.Task] = []
        self.outbox_relay: OutboxRelay | None = None  # made in start() when relay=True
        # the app's, set by lifespan: outbox lag gauges and consumer lag
        self.metrics_registry: CollectorRegistry | None = None

    def consume(
        self,
        name: str,
        handlers: Mapping[str, Handler],
        topics: list[str] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Run consumer group ``name`` (prefixed) on ``topics`` (the dossier topic). ``background``: nobody waits
        for its effect within a fraction of a second, so the broker may hold its fetches for
        ``consumer_background_wait_ms`` to answer with more records at once (fewer fetches and transactions)."""
        self._consumers.append((name, topics or [self.settings.dossier_topic], dict(handlers), background))

    @property
    def handled_event_types(self) -> set[str]:
        return {t for _, _, handlers, _ in self._consumers for t in handlers}

    def loop(self, name: str, fn: Loop) -> None:
        self._loops.append((name, fn))

    async def _with_producer(self, fn: Loop) -> None:
        await self.producer_ready.wait()
        await fn(self.stop)

    async def _start_producer(self, stop: asyncio.Event) -> None:
        if await start_with_retry(self.producer, stop=stop, what=f"{self.settings.service_name} producer", log=log):
            self.producer_ready.set()

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            while not self.stop.is_set():
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # a crashed loop is logged and restarted, never silently dead
                    log.exception("%s crashed; restarting in 1s", name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def start(self) -> None:
        s = self.settings
        if self.migrations is not None:  # refuse to start on a schema that is not this code's (SchemaNotReady)
            await check_schema(s.dsn, self.migrations)
        self.pool = await create_pool(s.dsn, max_size=s.db_pool_max, acquire_timeout=s.db_acquire_timeout)
        if self.relay or self._consumers:  # the relay publishes; consumers need it for dead letters
            self.producer = make_producer(s)
            self._tasks.append(asyncio.create_task(self._start_producer(self.stop), name="producer-start"))
        if self.relay:
            relay = self.outbox_relay = OutboxRelay(self.pool, self.producer, registry=self.metrics_registry)
            self._spawn("outbox-relay", lambda: self._with_producer(relay.run))
        registry = self.metrics_registry
        lag = consumer_lag_gauge(registry) if registry is not None and self._consumers else None
        for name, topics, handlers, background in self._consumers:
            consumer = EventConsumer(
                s.consumer_group_prefix + name,
                self.pool,
                settings=s,
                topics=topics,
                handlers=handlers,
                producer=self.producer,
                lag_gauge=lag,
                batch_size=s.consumer_batch_size,
                fetch_wait_ms=s.consumer_background_wait_ms if background else 0,
            )
            self._spawn(f"consumer-{name}", functools.partial(self._with_producer, consumer.run))
        for name, fn in self._loops:
            self._spawn(name, functools.partial(fn, self.stop))

    async def close(self) -> None:
        self.stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.producer is not None and self.producer_ready.is_set():
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.metrics_registry = getattr(app.state, "metrics_registry", None)
        await self.start()
        app.state.pool = self.pool
        app.state.runtime = self
        try:
            yield
        finally:
            await self.close()


async def check_kafka(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    if runtime.producer is None or not runtime.producer_ready.is_set():
        raise ConnectionError("Kafka producer not connected yet")
    await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), 3)


async def outbox_listener(app: FastAPI) -> None:
    """Ready unless this service runs a relay that has lost its database session (not listening, e.g. after a
    PostgreSQL restart, until it re-listens). A relay on standby behind another replica's is ready."""
    relay = getattr(app.state.runtime, "outbox_relay", None)
    if relay is not None:
        relay.check_listening()


READINESS = [check_database, check_kafka, outbox_listener]
