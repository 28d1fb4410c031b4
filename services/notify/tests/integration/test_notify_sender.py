"""The email sender against the real PostgreSQL and real SMTP servers (or none listening), driven pass
by pass; and the development mail sink."""

import asyncio
import io
import uuid
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import pytest

from motcua_common import create_pool, testing
from notify import repository
from notify.mailsink import build_controller
from notify.main import MIGRATIONS
from notify.sender import Deliverer
from notify.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool():
    settings = testing.per_run_settings(Settings, "notify-sender")
    await testing.create_database(settings, MIGRATIONS)
    p = await create_pool(settings.dsn, max_size=3, acquire_timeout=settings.db_acquire_timeout)
    try:
        yield p
    finally:
        await p.close()
        await testing.drop_database(settings)


async def add_email(pool, address: str) -> uuid.UUID:
    async with pool.acquire() as conn:
        [notification_id] = await repository.insert_notifications(  # a new event id: inserted
            conn,
            [
                repository.NewNotification(
                    dossier_id=str(uuid.uuid4()),
                    dossier_code="T.H29-251121-0009",
                    event_id=str(uuid.uuid4()),
                    event_type="vn.motcua.dossier.accepted.v1",
                    channel="email",
                    recipient=address,
                    recipient_subject="sub-cuong",
                    subject="Hồ sơ T.H29-251121-0009 đang được xử lý",
                    body="Kính gửi ông/bà Lê Văn Cường,\n",
                    status="queued",
                )
            ],
        )
        return notification_id


async def row(pool, notification_id: uuid.UUID):
    """The notification, with ``wait``: how long after its last attempt was recorded it is due again (not after
    now: on a loaded machine the time between that record and this query is not small)."""
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT *, next_attempt_at - (SELECT max(finished_at) FROM delivery_attempts a"
            " WHERE a.notification_id = n.id) AS wait FROM notifications n WHERE id = $1",
            notification_id,
        )


async def make_due(pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE notifications SET next_attempt_at = now() WHERE status NOT IN ('delivered', 'failed_permanent')"
        )


async def test_unreachable_server_is_retried_with_backoff_then_delivered(pool, unused_port, smtp_factory):
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port)
    sender = Deliverer(settings, lambda: pool)
    nid = await add_email(pool, "cuong@example.vn")

    assert await sender.send_due() == 1
    r = await row(pool, nid)
    assert r["status"] == "failed_temporary" and r["attempts"] == 1 and r["sent_at"] is None
    assert "Connect" in r["last_error"] or "refused" in r["last_error"].lower()
    assert timedelta(seconds=1) < r["wait"] <= timedelta(seconds=2)
    assert await sender.send_due() == 0  # not due yet

    await make_due(pool)
    assert await sender.send_due() == 1
    r = await row(pool, nid)
    assert r["attempts"] == 2 and timedelta(seconds=3) < r["wait"] <= timedelta(seconds=4)

    handler = await smtp_factory(unused_port)
    await make_due(pool)
    assert await sender.send_due() == 1
    r = await row(pool, nid)
    assert r["status"] == "delivered" and r["attempts"] == 3 and r["sent_at"] is not None
    [msg] = handler.to("cuong@example.vn")
    assert msg["Subject"] == "Hồ sơ T.H29-251121-0009 đang được xử lý"
    assert msg["X-Motcua-Dossier-Code"] == "T.H29-251121-0009"
    assert msg["X-Motcua-Event-Id"] == r["event_id"]
    assert msg["Message-ID"] == f"<{nid}@motcua.gov.vn>"
    assert msg.get_content().splitlines() == ["Kính gửi ông/bà Lê Văn Cường,"]


async def test_gives_up_after_max_attempts_and_at_once_on_permanent_refusal(pool, unused_port, smtp_factory):
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port, max_attempts=2)
    sender = Deliverer(settings, lambda: pool)
    flaky = await add_email(pool, "flaky@example.vn")
    assert await sender.send_due() == 1
    await make_due(pool)
    assert await sender.send_due() == 1
    r = await row(pool, flaky)
    assert r["status"] == "failed_permanent" and r["attempts"] == 2
    await make_due(pool)
    assert await sender.send_due() == 0  # failed rows are never picked again

    handler = await smtp_factory(unused_port)
    handler.refuse.add("nobody@example.vn")
    refused = await add_email(pool, "nobody@example.vn")
    injected = await add_email(pool, "x@example.vn\r\nBcc: victim@example.vn")
    assert await sender.send_due() == 2
    r = await row(pool, refused)
    assert r["status"] == "failed_permanent" and r["attempts"] == 1 and "550" in r["last_error"]
    r = await row(pool, injected)
    assert r["status"] == "failed_permanent" and r["attempts"] == 1 and "invalid message" in r["last_error"]
    assert handler.messages == [] and dict(handler.data_attempts) == {}


async def test_concurrent_senders_never_send_a_row_twice(pool, unused_port, smtp_factory):
    handler = await smtp_factory(unused_port)
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port, sender_batch_size=5)
    ids = [await add_email(pool, f"citizen{i}@example.vn") for i in range(12)]
    senders = [Deliverer(settings, lambda: pool) for _ in range(3)]
    while sum(await asyncio.gather(*(s.send_due() for s in senders))):
        pass
    assert sorted(m["To"] for m in handler.messages) == sorted(f"citizen{i}@example.vn" for i in range(12))
    for nid in ids:
        assert (await row(pool, nid))["attempts"] == 1


async def test_consecutive_messages_share_one_smtp_session_until_it_has_been_idle_too_long(
    pool, unused_port, smtp_factory
):
    handler = await smtp_factory(unused_port)
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port)
    sender = Deliverer(settings, lambda: pool)
    for i in range(3):
        await add_email(pool, f"seq{i}@example.vn")
        assert await sender.send_due() == 1
    assert [m["To"] for m in handler.messages] == [f"seq{i}@example.vn" for i in range(3)]
    assert len(handler.peers) == 3 and len(set(handler.peers)) == 1  # one connection carried all three

    sender.smtp.sessions.max_idle = 0.0  # an idle session is never reused: each message opens its own
    for i in range(3, 5):
        await add_email(pool, f"seq{i}@example.vn")
        assert await sender.send_due() == 1
    assert len(handler.messages) == 5 and len(set(handler.peers)) == 3
    await sender.aclose()
    assert sender.smtp.sessions._idle == []


async def test_mailsink_stores_each_message_and_prints_a_line(tmp_path, unused_port):
    out = io.StringIO()
    controller = build_controller(tmp_path / "mail", unused_port, out)
    assert controller.hostname == "127.0.0.1"
    await asyncio.to_thread(controller.start)
    try:
        msg = EmailMessage()
        msg["From"] = "Một Cửa <no-reply@motcua.gov.vn>"
        msg["To"] = "binh@example.vn"
        msg["Subject"] = "Hồ sơ 000.00.01.H29-251121-0001 đã được tiếp nhận"
        msg.set_content("Kính gửi ông/bà Trần Thị Bình,")
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=unused_port, timeout=5)
    finally:
        await asyncio.to_thread(controller.stop)
    [stored] = list((tmp_path / "mail" / "new").iterdir())
    assert list((tmp_path / "mail" / "tmp").iterdir()) == []
    assert b"binh@example.vn" in stored.read_bytes()
    line = out.getvalue()
    assert line.count("\n") == 1
    assert "To: binh@example.vn" in line and "Subject: Hồ sơ 000.00.01.H29-251121-0001 đã được tiếp nhận" in line


async def test_a_message_accepted_while_the_database_goes_down_is_recorded_not_sent_again(
    pool, unused_port, smtp_factory
):
    """The chaos run's duplicate: the server accepts a message, then PostgreSQL stops before the sender records
    it. The sender must keep the outcome and record it once the database is back (within the lease), so no later
    pass sends the message again."""
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port)
    server = await smtp_factory(unused_port)
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)

    async def database(allow: bool) -> None:
        await admin.execute(f'ALTER DATABASE "{settings.database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", settings.database
            )

    class DatabaseDropsAfterSend(Deliverer):
        async def send(self, row):
            outcome = await super().send(row)
            await database(allow=False)  # the server has the message; the database goes away before the record
            asyncio.get_running_loop().call_later(1.5, lambda: asyncio.ensure_future(database(allow=True)))
            return outcome

    sender = DatabaseDropsAfterSend(settings, lambda: pool)
    nid = await add_email(pool, "cuong@example.vn")
    try:
        assert await sender.send_due() == 1
    finally:
        await database(allow=True)
        await admin.close()
    r = await row(pool, nid)
    assert r["status"] == "delivered" and r["attempts"] == 1
    await make_due(pool)  # even once due again, a recorded message is never claimed again
    assert await Deliverer(settings, lambda: pool).send_due() == 0
    assert len(server.to("cuong@example.vn")) == 1


async def test_a_sender_killed_mid_batch_has_recorded_what_the_server_already_accepted(pool, unused_port, smtp_factory):
    """A batch in which one message is slow: the sender is killed (its task cancelled, as by a deploy) while that
    one is still being sent. The message the server had already accepted was recorded at once, so no later pass
    sends it again (before, outcomes were recorded after the whole batch and the chaos test counted duplicates)."""
    settings = testing.per_run_settings(Settings, "notify-sender", smtp_port=unused_port, sender_batch_size=2)
    server = await smtp_factory(unused_port)
    fast = await add_email(pool, "fast@example.vn")
    slow = await add_email(pool, "slow@example.vn")

    class OneSlowMessage(Deliverer):
        async def send(self, row):
            if row["recipient"] == "slow@example.vn":
                await asyncio.sleep(3600)  # killed before this one is sent
            return await super().send(row)

    task = asyncio.ensure_future(OneSlowMessage(settings, lambda: pool).send_due())
    # The accepted message is recorded while the slow one is still being sent (recorded after the whole batch, it
    # would wait for the slow one: an hour). The kill comes once that record has committed, whenever that is.
    try:
        async with asyncio.timeout(60):
            while (await row(pool, fast))["status"] != "delivered":  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail("the message the server accepted was not recorded while the batch went on")
    assert not task.done() and server.to("fast@example.vn") and not server.to("slow@example.vn")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    await make_due(pool)  # the killed batch's lease (next_attempt_at) runs out
    while await Deliverer(settings, lambda: pool).send_due():
        pass
    assert (await row(pool, fast))["status"] == "delivered" and (await row(pool, slow))["status"] == "delivered"
    assert len(server.to("fast@example.vn")) == 1, "the accepted message was sent again"
    assert len(server.to("slow@example.vn")) == 1
