"""Kafka clients with the settings this platform needs (aiokafka's defaults are not safe for us)."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15_000,
    )


def make_consumer(bootstrap: str, group_id: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=200,
    )


async def start_with_retry(client, *, stop: asyncio.Event, what: str, log, max_delay: float = 10.0) -> bool:
    """Start a producer or consumer, retrying with backoff while the broker is unreachable.
    Returns False if asked to stop first. A service keeps accepting work while Kafka is down."""
    delay = 0.5
    while not stop.is_set():
        try:
            await client.start()
            return True
        except Exception as exc:  # any start failure is retried: the broker may come back
            log.warning("%s: Kafka not reachable (%s), retrying in %.1fs", what, exc, delay)
            try:
                await client.stop()
            except Exception:  # a half-started client may fail to stop; it is replaced anyway
                pass
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, max_delay)
    return False
