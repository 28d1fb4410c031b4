"""Kafka clients with the settings this platform needs (aiokafka's defaults are not safe for us).

Every client logs in to the broker with SASL as the service's own Kafka user (``ServiceSettings.kafka_*``),
and the broker's ACLs decide what that user may read and write (docs/kafka-security.md).
"""

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from .settings import ServiceSettings


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin): the bootstrap address and the
    SASL login of ``settings``' Kafka user. ``AIOKafkaConsumer(topic, group_id=…, **client_options(s))``."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL_"):
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": settings.kafka_password.get_secret_value() if settings.kafka_password else None,
        }
    if protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context()
    return options


def make_producer(settings: ServiceSettings, client_id: str | None = None) -> AIOKafkaProducer:
    """An idempotent, acks=all producer logged in as ``settings``' Kafka user (client id: the service name)."""
    return AIOKafkaProducer(
        **client_options(settings),
        client_id=client_id or settings.service_name,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15_000,
    )


def make_consumer(settings: ServiceSettings, group_id: str, *topics: str, fetch_wait_ms: int = 0) -> AIOKafkaConsumer:
    """A manually committing, read_committed consumer in ``group_id``; the user needs READ on the group.

    ``fetch_wait_ms``: 0 (the default), the broker answers a fetch as soon as it has a record; more, it holds the
    fetch up to that long until it has a megabyte (so a busy topic is read in a few large answers, not one per
    record: issue 7)."""
    batching = {"fetch_min_bytes": 1 << 20, "fetch_max_wait_ms": fetch_wait_ms} if fetch_wait_ms > 0 else {}
    return AIOKafkaConsumer(
        *topics,
        **client_options(settings),
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=200,
        **batching,
    )


def make_admin(settings: ServiceSettings) -> AIOKafkaAdminClient:
    """An admin client logged in as ``settings``' Kafka user (call ``start()``; ``close()`` when done)."""
    return AIOKafkaAdminClient(**client_options(settings), client_id=f"{settings.service_name}-admin")


async def start_with_retry(
    client: Any, *, stop: asyncio.Event, what: str, log: logging.Logger, max_delay: float = 10.0
) -> bool:
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
