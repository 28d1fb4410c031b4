"""How long an event takes from its committed outbox row to an outside Kafka consumer, before and after a real
PostgreSQL restart: the check that the outbox relay listens again after the restart (before issue 5 it went deaf
and every event waited for the 1 s poll).

    uv run --frozen python scripts/relay_latency.py [--events 50]

It restarts the project's PostgreSQL (`scripts/infra/postgres.sh down` then `up`), so run it with nothing else
using that server (not beside `make run` or a test run). Its database (`latency_relay`) and topic
(`test.latency.relay`) are its own. It prints one line per phase and appends nothing.
"""

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer

from motcua_common.contracts import Actor, ApplicantRef, DossierSubmitted
from motcua_common.db import create_pool
from motcua_common.kafka import client_options, make_producer
from motcua_common.outbox import OutboxRelay, enqueue
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_database, create_topics, delete_topics, drop_database, kafka_admin_settings

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "test.latency.relay"


def event(n: int) -> DossierSubmitted:
    at = datetime.now(UTC)
    return DossierSubmitted(
        dossier_id=uuid.uuid4(),
        dossier_code=f"LAT-{n:04d}",
        occurred_at=at,
        procedure_code="1.004873",
        procedure_name="Xác nhận tình trạng hôn nhân",
        procedure_version=1,
        processing_days=3,
        channel="online",
        unit_code="000.26.01.H29",
        unit_name="Ủy ban nhân dân phường Hoàn Kiếm",
        applicant=ApplicantRef(kind="citizen", subject="vn1.latency"),
        submitted_by=Actor(kind="citizen", subject="vn1.latency"),
        submitted_at=at,
        received_at=at,
        appointment_at=at,
    )


async def phase(name: str, pool: asyncpg.Pool, consumer: AIOKafkaConsumer, count: int) -> list[float]:
    """Commit ``count`` outbox rows one at a time (0.1 s apart) and time each until the consumer sees it."""
    latencies = []
    for n in range(count):
        data = event(n)
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, data, topic=TOPIC, key=str(data.dossier_id), source="/latency", subject=None)
        committed = time.perf_counter()
        async with asyncio.timeout(30):
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                keys = {r.key.decode() for records in batches.values() for r in records}
                if str(data.dossier_id) in keys:
                    latencies.append((time.perf_counter() - committed) * 1000)
                    break
        await asyncio.sleep(0.1)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"{name:<36} {count} events  p50 {cuts[49]:7.1f} ms  p99 {cuts[98]:7.1f} ms  max {max(latencies):7.1f} ms")
    return latencies


def restart_postgres() -> float:
    started = time.perf_counter()
    for step in ("down", "up"):
        subprocess.run(["bash", str(ROOT / "scripts/infra/postgres.sh"), step], check=True, capture_output=True)
    return time.perf_counter() - started


async def main(count: int) -> None:
    base = ServiceSettings(service_name="intake")
    settings = base.model_copy(update={"database": "latency_relay"})
    await create_database(settings, Path(tempfile.mkdtemp()))  # an empty folder: only the common migrations
    await create_topics(base.kafka_bootstrap, TOPIC)
    pool = await create_pool(settings.dsn, max_size=4)
    producer = make_producer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, poll_interval=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    consumer = AIOKafkaConsumer(
        TOPIC, **client_options(kafka_admin_settings(base.kafka_bootstrap)), group_id=None, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        await asyncio.sleep(2)  # the relay takes its lock and listens
        await consumer.seek_to_end()
        await phase("before the PostgreSQL restart", pool, consumer, count)
        took = restart_postgres()
        print(f"PostgreSQL restarted (down + up) in {took:.1f} s")
        await asyncio.sleep(3)  # the relay notices, reconnects and listens again
        await phase("after the PostgreSQL restart", pool, consumer, count)
    finally:
        stop.set()
        await asyncio.wait([task], timeout=10)
        await consumer.stop()
        await producer.stop()
        await pool.close()
        await drop_database(settings)
        await delete_topics(base.kafka_bootstrap, TOPIC)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50)
    asyncio.run(main(parser.parse_args().events))
