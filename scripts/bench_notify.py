"""Benchmark notify: throughput from the Kafka event to the provider's accept, and the time from a dossier's
``submitted`` event to its receipt e-mail accepted by the SMTP server.

``make bench`` runs it after the other benchmarks (``uv run --frozen python scripts/bench_notify.py --help``). It
starts notify as a uvicorn process and the SMS/OTT provider simulators on free loopback ports, an SMTP server in
this process, with a database (``bench_notify``, dropped and recreated) and topics (``test.bench.notify.*``) of
their own, so the data of ``make run`` is untouched.

1. Throughput: ``--dossiers`` contacts, then 4 events per dossier (submitted, accepted, approved, result issued) at
   once; the recipients chose SMS, e-mail, or (by preference) OTT; the receipt also goes by e-mail. Figure: external
   notifications accepted by their provider per second, from the first event published to the last accept
   (``BENCH name=notify_throughput``), plus in-app notifications.
2. Latency: ``--latency-dossiers`` ``submitted`` events one after the other, each timed from its publication on
   Kafka to the SMTP server's acceptance of its receipt e-mail (``BENCH name=submit_to_email p50_ms p99_ms``). The
   part before Kafka (the gateway, intake's transaction and outbox relay) is what ``scripts/bench.py`` measures.
"""

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from bench import free_port, say, start_service, stop_services, wait_ready

from motcua_common import build_event
from motcua_common.contracts import DossierAccepted, DossierApproved, DossierResultIssued
from motcua_common.db import migrate
from motcua_common.kafka import client_options
from motcua_common.testing import create_topics, delete_topics, kafka_admin_settings, sample_contact, sample_submitted
from notify import domain, simulators
from notify.main import MIGRATIONS
from notify.settings import Settings

PREFIX = "test.bench.notify"
UNIT = {"unit_code": "H29.01", "unit_name": "UBND phường Ba Đình", "handler": "Nguyễn Văn An"}


class TimingSink:
    """SMTP server that notes when it accepted each Message-ID."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.lock = threading.Lock()
        self.new = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        at = time.time()
        content = envelope.original_content or envelope.content
        for line in content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                with self.lock:
                    self.accepted.setdefault(line.split(b":", 1)[1].strip().decode().strip("<>").split("@")[0], at)
                break
        return "250 OK"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def run(args: argparse.Namespace) -> None:
    base = Settings()
    settings = base.model_copy(
        update={
            "database": "bench_notify",
            "dossier_topic": f"{PREFIX}.dossier.events",
            "dlq_topic": f"{PREFIX}.dossier.events.dlq",
            "personal_topic": f"{PREFIX}.personal.events",
            "consumer_group_prefix": f"test-bench-{uuid.uuid4().hex[:6]}-",
        }
    )
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    await admin.execute("DROP DATABASE IF EXISTS bench_notify WITH (FORCE)")
    await admin.execute("CREATE DATABASE bench_notify")
    await admin.close()
    await migrate(settings.dsn, MIGRATIONS)
    topics = (settings.dossier_topic, settings.dlq_topic, settings.personal_topic)
    await delete_topics(settings.kafka_bootstrap, *topics)
    await create_topics(settings.kafka_bootstrap, *topics, partitions=6)

    sink, smtp_port, sim_port, notify_port = TimingSink(), free_port(), free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    sim_server = uvicorn.Server(
        uvicorn.Config(simulators.create_app(settings), host="127.0.0.1", port=sim_port, log_level="warning")
    )
    sim_task = asyncio.create_task(sim_server.serve())
    log_dir = Path(tempfile.mkdtemp(prefix="motcua-bench-notify-"))
    env = {
        "NOTIFY_DATABASE": settings.database,
        "NOTIFY_SMTP_PORT": str(smtp_port),
        "NOTIFY_SMS_PROVIDER_URL": f"http://127.0.0.1:{sim_port}/sms",
        "NOTIFY_OTT_PROVIDER_URL": f"http://127.0.0.1:{sim_port}/ott",
        "NOTIFY_CALLBACK_BASE_URL": f"http://127.0.0.1:{notify_port}",
        "MOTCUA_DOSSIER_TOPIC": settings.dossier_topic,
        "MOTCUA_DLQ_TOPIC": settings.dlq_topic,
        "MOTCUA_PERSONAL_TOPIC": settings.personal_topic,
        "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
    }
    notify = start_service("notify", "notify", notify_port, env, log_dir)
    db = await asyncpg.connect(settings.dsn)
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)), linger_ms=5)
    await producer.start()
    sim = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}", trust_env=False)
    try:
        await wait_ready(notify)
        say(f"==> notify: {args.dossiers} dossiers x 4 events at once (logs in {log_dir})")
        now = datetime.now(UTC)
        contacts, events = [], []
        for i in range(args.dossiers):
            subject = f"bench-{i}"
            data = sample_submitted(applicant={"subject": subject}, received_at=now, submitted_at=now)
            kind = ("sms", "email", "ott")[i % 3]
            if kind == "ott":
                await db.execute(
                    "INSERT INTO notification_preferences (recipient_subject, channels) VALUES ($1, '{ott}')", subject
                )
            contacts.append(
                sample_contact(
                    data,
                    email=f"bench{i}@example.vn",
                    phone="0912345678",
                    notify_channels=["app"] if kind == "ott" else ["app", kind],
                )
            )
            common: dict[str, Any] = {"dossier_id": data.dossier_id, "dossier_code": data.dossier_code, **UNIT}
            due = now + timedelta(days=3)
            events += [
                data,
                DossierAccepted(**common, occurred_at=now, due_at=due),
                DossierApproved(**common, occurred_at=now, due_at=due),
                DossierResultIssued(
                    **common, occurred_at=now, due_at=due, result_number=f"{i}/GKS", timeliness="on_time"
                ),
            ]
        for c in contacts:
            await send(producer, settings.personal_topic, c)
        await producer.flush()
        await wait_for(lambda: db.fetchval("SELECT count(*) FROM recipients"), args.dossiers, 120)
        # SMS and OTT recipients: 4 messages and the receipt's e-mail; e-mail recipients: 4 e-mails.
        expected = sum(4 if i % 3 == 1 else 5 for i in range(args.dossiers))
        started = time.time()
        for e in events:
            await send(producer, settings.dossier_topic, e)
        await producer.flush()
        external = "SELECT count(*) FROM notifications WHERE channel <> 'app' AND accepted_at IS NOT NULL"
        await wait_for(lambda: db.fetchval(external), expected, 600)
        accepts = [
            m["accepted_at"] for ch in ("sms", "ott") for m in (await sim.get(f"/admin/messages?channel={ch}")).json()
        ]
        with sink.lock:
            accepts += list(sink.accepted.values())
        elapsed = max(accepts) - started
        app_rows = await db.fetchval("SELECT count(*) FROM notifications WHERE channel = 'app'")
        rate = len(accepts) / elapsed
        say(
            f"BENCH name=notify_throughput events={len(events)} notifications={len(accepts)} seconds={elapsed:.2f}"
            f" per_second={rate:.1f} in_app={app_rows} (Kafka event to provider accept: SMS, OTT, SMTP)"
        )

        say(f"==> notify: {args.latency_dossiers} receipts one after the other, Kafka publish to SMTP accept")
        latencies = []
        for i in range(args.latency_dossiers):
            data = sample_submitted(applicant={"subject": f"lat-{i}"})
            await send(producer, settings.personal_topic, sample_contact(data, email=f"lat{i}@example.vn"))
            await producer.flush()
            t0 = time.time()
            event = await send(producer, settings.dossier_topic, data)
            await producer.flush()
            key = str(domain.idempotency_key(event.id, f"lat-{i}", "email"))
            deadline = time.time() + 30
            while key not in sink.accepted and time.time() < deadline:  # noqa: ASYNC110 - the sink is a thread
                await asyncio.sleep(0.002)
            latencies.append((sink.accepted[key] - t0) * 1000)
        say(
            f"BENCH name=submit_to_email n={len(latencies)} p50_ms={percentile(latencies, 50):.1f}"
            f" p99_ms={percentile(latencies, 99):.1f} from=kafka_publish_of_dossier.submitted to=smtp_250"
        )
    finally:
        await sim.aclose()
        await producer.stop()
        await db.close()
        stop_services([notify])
        sim_server.should_exit = True
        await asyncio.gather(sim_task, return_exceptions=True)
        controller.stop()
        await delete_topics(settings.kafka_bootstrap, *topics)


async def send(producer: AIOKafkaProducer, topic: str, model: Any) -> Any:
    event = build_event(model, source="/bench", subject=model.dossier_code)
    await producer.send(topic, event.model_dump_json().encode(), key=str(model.dossier_id).encode())
    return event


async def wait_for(count: Any, target: int, seconds: float) -> None:
    deadline = time.time() + seconds
    while (n := await count()) < target:
        if time.time() > deadline:
            raise RuntimeError(f"only {n} of {target} after {seconds}s")
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=300, help="dossiers for the throughput run (4 events each)")
    parser.add_argument("--latency-dossiers", type=int, default=100, help="receipts timed one by one")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
