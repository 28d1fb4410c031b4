"""Exactly once per (event, recipient, channel) through a crash: notify runs as a real subprocess, a burst of
1,000 dossier events goes through Kafka, notify is killed with SIGKILL in the middle of sending and started again,
and then every provider's count is compared with what the events call for.

SMS and OTT: the provider simulators dedupe by the Idempotency-Key (the notification's key) and count every request
per key: a message re-sent after the crash is a second request, never a second message. E-mail has no such key in
SMTP: its Message-ID is the notification's key, and the receiving side (like the dev mail sink) keeps one message per
Message-ID; the raw SMTP transactions are counted too and printed."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from motcua_common import build_event, testing
from motcua_common.contracts import DossierAccepted, DossierApproved, DossierResultIssued
from motcua_common.kafka import client_options
from notify import domain
from notify.main import MIGRATIONS

from ..conftest import free_port, notify_settings
from .test_notify_integration import action, contact, new_dossier, submitted

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
DOSSIERS = 250  # x 4 events = 1,000 events
PHONE = "0912345678"


class MessageIdCounter:
    """An SMTP server that counts every DATA per Message-ID; a message counts as received once per Message-ID."""

    def __init__(self) -> None:
        self.raw: Counter[str] = Counter()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or envelope.content
        for line in content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.raw[line.split(b":", 1)[1].strip().decode()] += 1
                break
        return "250 OK"


def start_notify(settings, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "NOTIFY_DATABASE": settings.database,
        "NOTIFY_SMTP_PORT": str(settings.smtp_port),
        "NOTIFY_SMS_PROVIDER_URL": settings.sms_provider_url,
        "NOTIFY_OTT_PROVIDER_URL": settings.ott_provider_url,
        "NOTIFY_CALLBACK_BASE_URL": settings.callback_base_url,
        # the tests' generous timeouts and the production lease: with a 3 s SMTP timeout and a 5 s lease, a loaded
        # machine timed out messages the server had accepted, or let a lease end while the message was still being
        # sent, and sent e-mail again beyond what was in flight at the kill (the leases of the killed sender are
        # ended by the test instead, as the time would)
        "NOTIFY_SMTP_TIMEOUT": str(settings.smtp_timeout),
        "NOTIFY_PROVIDER_TIMEOUT": str(settings.provider_timeout),
        "NOTIFY_DB_ACQUIRE_TIMEOUT": str(settings.db_acquire_timeout),
        "NOTIFY_RETRY_BACKOFF_MAX": "2",
        "MOTCUA_DOSSIER_TOPIC": settings.dossier_topic,
        "MOTCUA_DLQ_TOPIC": settings.dlq_topic,
        "MOTCUA_PERSONAL_TOPIC": settings.personal_topic,
        "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "MOTCUA_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
    }
    cmd = [sys.executable, "-m", "uvicorn", "notify.main:create_app", "--factory", "--host", "127.0.0.1"]
    return subprocess.Popen(
        [*cmd, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            assert proc.poll() is None, "notify exited"
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def test_a_burst_of_1000_events_with_notify_killed_mid_send_reaches_each_provider_exactly_once(
    kafka_topics, personal_topic, providers, tmp_path
):
    log = tmp_path / "notify.log"
    port, smtp_port = free_port(), free_port()
    settings = notify_settings(smtp_port, personal_topic, providers, port)
    settings = settings.model_copy(update={"database": settings.database + "_burst"})
    await testing.create_database(settings, MIGRATIONS)
    smtp = MessageIdCounter()
    from ..conftest import start_smtp

    controller = await start_smtp(smtp, smtp_port)
    sim = httpx.AsyncClient(base_url=providers, timeout=60)
    await sim.post("/admin/reset")
    db = await asyncpg.connect(settings.dsn)
    producer = AIOKafkaProducer(**client_options(testing.kafka_admin_settings(settings.kafka_bootstrap)), linger_ms=5)
    await producer.start()
    proc = start_notify(settings, port, log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        # Three kinds of recipient: the dossier chose SMS; chose e-mail; chose only the app, with OTT preferred.
        expected: dict[str, set[str]] = {"sms": set(), "ott": set(), "email": set()}
        contacts, events = [], []
        for i in range(DOSSIERS):
            dossier_id, code = new_dossier(5000 + i)
            subject = f"burst-{testing.RUN_ID}-{i}"
            data = submitted(dossier_id, code, subject=subject)
            kind = ("sms", "email", "ott")[i % 3]
            if kind == "ott":
                await db.execute(
                    "INSERT INTO notification_preferences (recipient_subject, channels) VALUES ($1, '{ott}')", subject
                )
            channels = ["app"] if kind == "ott" else ["app", kind]
            contacts.append(
                contact(data, f"burst{i}.{testing.RUN_ID}@example.vn", phone=PHONE, notify_channels=channels)
            )
            actions = [
                action(DossierAccepted, dossier_id, code, 1),
                action(DossierApproved, dossier_id, code, 2),
                action(DossierResultIssued, dossier_id, code, 3, result_number=f"{i}/GKS", timeliness="on_time"),
            ]
            dossier_events = [build_event(d, source="/tests", subject=code) for d in (data, *actions)]
            for n, event in enumerate(dossier_events):
                expected[kind].add(str(domain.idempotency_key(event.id, subject, kind)))
                if n == 0:  # the receipt (form 01) is a legal notice: e-mail as well
                    expected["email"].add(str(domain.idempotency_key(event.id, subject, "email")))
            events += dossier_events
        assert len(events) == 1000
        total = sum(len(keys) for keys in expected.values())

        for c in contacts:
            envelope = build_event(c, source="/tests/intake", subject=c.dossier_code).model_dump_json().encode()
            await producer.send(personal_topic, envelope, key=str(c.dossier_id).encode())
        await producer.flush()
        started = time.monotonic()
        for e in events:
            await producer.send(kafka_topics[0], e.model_dump_json().encode(), key=str(e.data["dossier_id"]).encode())
        await producer.flush()

        async def received() -> int:
            stats = (await sim.get("/admin/stats")).json()
            return stats["sms"]["accepted"] + stats["ott"]["accepted"] + len(smtp.raw)

        try:
            async with asyncio.timeout(120):
                while await received() < total * 0.3:  # noqa: ASYNC110 - polls the providers' counters
                    await asyncio.sleep(0.02)
        except TimeoutError:
            counts = await db.fetch("SELECT channel, status, count(*) FROM notifications GROUP BY 1, 2")
            raise AssertionError(f"{await received()} received; {counts}; {log.read_text()[-3000:]}") from None
        # Frozen first, so that what is in flight is counted at the kill: counted before it, on a loaded machine the
        # sender went on claiming and sending while the count ran, and the bound below no longer held.
        os.killpg(proc.pid, signal.SIGSTOP)
        in_flight = await db.fetchval(
            "SELECT count(*) FROM notifications WHERE status = 'sending' AND accepted_at IS NULL"
        )
        kill(proc)  # SIGKILL, mid-send
        at_kill = await received()
        # the killed sender's leases run out
        await db.execute("UPDATE notifications SET next_attempt_at = now() WHERE status = 'sending'")
        proc = start_notify(settings, port, log)
        await wait_healthy(f"http://127.0.0.1:{port}", proc)

        async def all_delivered() -> bool:
            return (
                await db.fetchval("SELECT count(*) FROM notifications WHERE channel <> 'app' AND status = 'delivered'")
                >= total
            )

        try:  # 30-50 s, even on a loaded machine; eight minutes at most (once, under heavy load, 240 s were not)
            async with asyncio.timeout(480):
                while not await all_delivered():  # noqa: ASYNC110 - polls the database
                    await asyncio.sleep(0.2)
        except TimeoutError:
            counts = await db.fetch("SELECT channel, status, count(*) FROM notifications GROUP BY 1, 2 ORDER BY 1, 2")
            raise AssertionError(f"{await received()} received; {counts}; {log.read_text()[-3000:]}") from None
        elapsed = time.monotonic() - started

        stats = (await sim.get("/admin/stats")).json()
        counts = {}
        for channel in ("sms", "ott"):
            per_key = stats[channel]["requests_per_key"]
            accepted = {
                m["idempotency_key"] for m in (await sim.get("/admin/messages", params={"channel": channel})).json()
            }
            assert accepted == expected[channel], channel
            assert stats[channel]["accepted"] == len(expected[channel])
            counts[channel] = (len(accepted), sum(per_key.values()))
        message_ids = {mid.strip("<>").split("@")[0] for mid in smtp.raw}
        assert message_ids == expected["email"]
        counts["email"] = (len(message_ids), sum(smtp.raw.values()))
        app_rows = await db.fetchval("SELECT count(*) FROM notifications WHERE channel = 'app'")
        per_channel = await db.fetch(
            "SELECT channel, count(*) AS n, count(DISTINCT event_id) AS events FROM notifications GROUP BY channel"
        )
        assert app_rows == 1000
        assert all(r["n"] == r["events"] for r in per_channel)  # one per event and channel in the database too
        print(
            f"\nkill-during-burst: 1000 events, notify SIGKILLed after {at_kill}/{total} messages reached providers"
            f" ({in_flight} in flight); {elapsed:.1f}s to deliver all (including the restart)"
        )
        for channel, (unique, raw) in counts.items():
            print(
                f"  {channel:5}: expected {len(expected[channel])}, received {unique} (exactly once each);"
                f" {raw} requests/SMTP transactions"
            )
        print(f"  app  : {app_rows} in-app notifications, one per event")
        # The e-mail a killed sender had accepted but not recorded is sent again (same Message-ID): at most what
        # was in flight at the kill.
        assert counts["email"][1] - counts["email"][0] <= in_flight
    finally:
        kill(proc)
        await producer.stop()
        await db.close()
        await sim.aclose()
        await asyncio.to_thread(controller.stop)
        await testing.drop_database(settings)
