"""The notify service end to end on the real PostgreSQL, Kafka and an SMTP server: dossier events and the
dossier's contact (personal topic) in, in any order; Vietnamese notifications out, once each per channel,
retried when the mail server fails for a while; each citizen reads only their own."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from motcua_common import build_event, testing
from motcua_common.auth import RECEIVING_OFFICER, SCOPE_DOSSIERS_READ
from motcua_common.contracts import (
    DossierAccepted,
    DossierApproved,
    DossierContact,
    DossierRejected,
    DossierSubmitted,
)
from motcua_common.events import CloudEvent
from motcua_common.kafka import client_options
from motcua_common.testing import kafka_admin_settings, sample_contact, sample_submitted

pytestmark = pytest.mark.integration

RUN = testing.RUN_ID
NOW = datetime(2025, 11, 21, 2, 30, tzinfo=UTC)
DUE = NOW + timedelta(days=3)
UNIT = {"unit_code": "H29.01", "unit_name": "UBND phường Ba Đình", "handler": "Nguyễn Văn An", "due_at": DUE}


def new_dossier(n: int) -> tuple[uuid.UUID, str]:
    return uuid.uuid4(), f"T{RUN}.H29-251121-{n:04d}"


def submitted(dossier_id: uuid.UUID, code: str, subject: str | None = None) -> DossierSubmitted:
    return sample_submitted(
        dossier_id=dossier_id,
        dossier_code=code,
        occurred_at=NOW,
        submitted_at=NOW,
        received_at=NOW,
        appointment_at=DUE,
        applicant={"subject": subject or f"sub-{uuid.uuid4().hex[:10]}"},
    )


def contact(data: DossierSubmitted, email: str | None, **fields) -> DossierContact:
    return sample_contact(data, email=email, notify_channels=fields.pop("notify_channels", ["app", "email"]), **fields)


def action(model, dossier_id: uuid.UUID, code: str, minutes: int = 1, **fields):
    return model(
        dossier_id=dossier_id, dossier_code=code, occurred_at=NOW + timedelta(minutes=minutes), **UNIT, **fields
    )


async def publish(producer, topic: str, data=None, *, event: CloudEvent | None = None) -> CloudEvent:
    event = event or build_event(data, source="/tests/intake", subject=data.dossier_code)
    await producer.send_and_wait(topic, event.model_dump_json().encode(), key=str(event.data["dossier_id"]).encode())
    return event


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


async def count(app, sql: str, *args) -> int:
    async with app.state.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def email_rows(app, code: str) -> list:
    async with app.state.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM notifications WHERE dossier_code = $1 AND channel = 'email' ORDER BY created_at",
            code,
        )


@pytest.fixture(scope="module")
async def rejected_dossier(notify_app, producer, kafka_topics, personal_topic, smtp):
    """The usual order: the contact first, then the dossier submitted (its event delivered twice), accepted,
    rejected; waits for its emails."""
    handler, _ = smtp
    dossier_id, code = new_dossier(1)
    email = f"binh.{RUN}@example.vn"
    topic = kafka_topics[0]
    data = submitted(dossier_id, code, subject=f"binh-{RUN}")
    await publish(producer, personal_topic, contact(data, email))
    first = await publish(producer, topic, data)
    await publish(producer, topic, event=first)  # redelivery: same CloudEvent id
    accepted = await publish(producer, topic, action(DossierAccepted, dossier_id, code, 1))
    rejected = await publish(
        producer, topic, action(DossierRejected, dossier_id, code, 2, reason="Thiếu giấy chứng sinh")
    )

    async def all_sent() -> bool:
        rows = await email_rows(notify_app, code)
        return len(handler.to(email)) >= 3 and len(rows) == 3 and all(r["status"] == "delivered" for r in rows)

    await wait_until(all_sent, 40, "3 emails sent")
    return {"code": code, "email": email, "events": [first, accepted, rejected], "subject": f"binh-{RUN}"}


async def test_each_event_is_mailed_once_in_vietnamese(rejected_dossier, smtp, notify_app):
    handler, _ = smtp
    code, email = rejected_dossier["code"], rejected_dossier["email"]
    first, accepted, rejected = rejected_dossier["events"]
    messages = handler.to(email)
    assert len(messages) == 3
    by_event = {m["X-Motcua-Event-Id"]: m for m in messages}
    assert set(by_event) == {first.id, accepted.id, rejected.id}
    for m in messages:
        assert m["From"].addresses[0].addr_spec == "no-reply@motcua.gov.vn"
        assert m["From"].addresses[0].display_name == "Một Cửa"
        assert m["X-Motcua-Dossier-Code"] == code
        assert m["Message-ID"].endswith("@motcua.gov.vn>")
        assert m.get_content_type() == "text/plain"
        body = m.get_content()
        assert code in body
        assert body.startswith("Kính gửi ông/bà Trần Thị Bình,")
        assert "Trung tâm Phục vụ hành chính công" in body

    assert by_event[first.id]["Subject"] == f"Hồ sơ {code} đã được tiếp nhận"
    assert "Ngày hẹn trả kết quả: 24/11/2025 09:30" in by_event[first.id].get_content()
    assert by_event[accepted.id]["Subject"] == f"Hồ sơ {code} đang được xử lý"
    assert "Thủ tục: Đăng ký khai sinh" in by_event[accepted.id].get_content()
    assert by_event[rejected.id]["Subject"] == f"Hồ sơ {code} không được chấp thuận"
    assert "Lý do: Thiếu giấy chứng sinh" in by_event[rejected.id].get_content()

    async with notify_app.state.pool.acquire() as conn:
        per_event = await conn.fetch(
            "SELECT event_id, count(*) AS n FROM notifications WHERE dossier_code = $1 GROUP BY event_id",
            code,
        )
        recipient = await conn.fetchrow("SELECT * FROM recipients WHERE dossier_code = $1", code)
        subjects = await conn.fetch(
            "SELECT DISTINCT recipient_subject FROM notifications WHERE dossier_code = $1", code
        )
        app_addresses = await conn.fetch(
            "SELECT recipient FROM notifications WHERE dossier_code = $1 AND channel = 'app'", code
        )
    assert {r["event_id"]: r["n"] for r in per_event} == {first.id: 2, accepted.id: 2, rejected.id: 2}
    assert recipient["email"] == email and recipient["channels"] == ["app", "email"]
    assert recipient["recipient_subject"] == rejected_dossier["subject"] and "personal_id" not in recipient
    assert [r["recipient_subject"] for r in subjects] == [rejected_dossier["subject"]]
    assert all(r["recipient"] is None for r in app_addresses)  # the inbox is addressed by subject only
    for row in await email_rows(notify_app, code):
        assert row["attempts"] == 1 and row["sent_at"] is not None and row["last_error"] is None


async def test_only_legal_notices_are_mailed_to_who_chose_the_app_alone(
    notify_app, producer, kafka_topics, personal_topic, smtp
):
    """notify_channels decides: a citizen who chose the app alone is e-mailed the receipt (a legal notice, form
    01) but not that the dossier was accepted; both are in the app inbox."""
    handler, _ = smtp
    dossier_id, code = new_dossier(7)
    email = f"app-only.{RUN}@example.vn"
    topic = kafka_topics[0]
    data = submitted(dossier_id, code)
    await publish(producer, personal_topic, contact(data, email, notify_channels=["app"]))
    first = await publish(producer, topic, data)
    accepted = await publish(producer, topic, action(DossierAccepted, dossier_id, code, 1))

    async def both_recorded() -> bool:
        return (
            await count(
                notify_app, "SELECT count(*) FROM notifications WHERE dossier_code = $1 AND channel = 'app'", code
            )
            == 2
        )

    await wait_until(both_recorded, 40, "both events in the app inbox")
    await wait_until(lambda: _sent(notify_app, code), 40, "the receipt e-mail sent")
    rows = await email_rows(notify_app, code)
    assert [r["event_id"] for r in rows] == [first.id]
    assert [m["X-Motcua-Event-Id"] for m in handler.to(email)] == [first.id]
    assert accepted.id not in {r["event_id"] for r in rows}


async def _sent(app, code: str) -> bool:
    rows = await email_rows(app, code)
    return bool(rows) and all(r["status"] == "delivered" for r in rows)


async def test_list_endpoint_pages_in_order_for_the_recipient_only(rejected_dossier, client, issuer):
    code = rejected_dossier["code"]
    first, accepted, rejected = rejected_dossier["events"]
    owner = issuer.bearer(issuer.citizen("079195005678", sub=rejected_dossier["subject"]))
    r = await client.get(f"/api/v1/dossiers/{code}/notifications", headers=owner)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert [(i["event_type"], i["channel"]) for i in items] == [
        (e.type, ch) for e in (first, accepted, rejected) for ch in ("app", "email")
    ]
    assert [i["status"] for i in items] == ["delivered", "delivered"] * 3
    assert all(i["sent_at"] for i in items) and all(i["dossier_code"] == code for i in items)
    assert items[-1]["subject"] == f"Hồ sơ {code} không được chấp thuận"
    assert "Lý do: Thiếu giấy chứng sinh" in items[-1]["body"]
    assert set(items[0]) == {
        "id",
        "dossier_code",
        "event_type",
        "channel",
        "subject",
        "body",
        "status",
        "created_at",
        "sent_at",
        "read_at",
        "template_version",
        "fallback_of",
        "delivered_at",
        "receipt",
        "error",
        "attempts",
    }
    email_item = items[1]
    assert email_item["receipt"]["smtp_response"].startswith("2") or "OK" in email_item["receipt"]["smtp_response"]
    assert [a["outcome"] for a in email_item["attempts"]] == ["accepted"] and items[0]["attempts"] == []

    pages, cursor = [], None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/api/v1/dossiers/{code}/notifications", params=params, headers=owner)).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [i["id"] for p in pages for i in p] == [i["id"] for i in items]

    unknown = await client.get("/api/v1/dossiers/KHONG-CO/notifications", headers=owner)
    assert unknown.status_code == 404
    refused = {
        "another citizen": issuer.bearer(issuer.citizen("092301002222", sub=f"dung-{RUN}")),
        "an officer": issuer.bearer(issuer.officer("H29.01", RECEIVING_OFFICER)),
        "a partner with dossiers:read": issuer.bearer(issuer.partner("provincial-system", SCOPE_DOSSIERS_READ)),
        "a partner whose client id is the subject": issuer.bearer(issuer.partner(rejected_dossier["subject"])),
    }
    for who, headers in refused.items():
        r = await client.get(f"/api/v1/dossiers/{code}/notifications", headers=headers)
        assert r.status_code == 404, who
        assert r.headers["content-type"].startswith("application/problem+json"), who
        assert r.json()["type"] == unknown.json()["type"], who
    r = await client.get(f"/api/v1/dossiers/{code}/notifications")
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")


async def test_list_endpoint_rejects_bad_input(client, notify_app, issuer):
    owner = issuer.bearer(issuer.citizen("079195005678"))
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "abc"}):
        r = await client.get("/api/v1/dossiers/X/notifications", params=params, headers=owner)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    for cursor in ("garbage!", "bm90LWpzb24", "WzEsMl0"):
        for url in ("/api/v1/dossiers/X/notifications", "/api/v1/me/notifications"):
            r = await client.get(url, params={"cursor": cursor}, headers=owner)
            assert r.status_code == 400, cursor
            assert r.json()["type"].endswith("/invalid-cursor")
            assert r.json()["title"] == "Tham số phân trang không hợp lệ"


async def test_events_before_the_contact_wait_for_it_then_go_out_once(
    notify_app, producer, kafka_topics, personal_topic, client, smtp, issuer
):
    handler, _ = smtp
    dossier_id, code = new_dossier(2)
    email = f"late.contact.{RUN}@example.vn"
    data = submitted(dossier_id, code, subject=f"khoi-{RUN}")
    first = await publish(producer, kafka_topics[0], data)
    accepted = await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    await publish(producer, kafka_topics[0], event=accepted)  # a redelivery while pending

    async def both_pending() -> bool:
        return await count(notify_app, "SELECT count(*) FROM pending_events WHERE dossier_code = $1", code) == 2

    await wait_until(both_pending, 60, "both events to be held pending")
    assert await count(notify_app, "SELECT count(*) FROM notifications WHERE dossier_code = $1", code) == 0
    # Whose they are is not known yet: nobody can list them.
    owner = issuer.bearer(issuer.citizen("001222001235", sub=f"khoi-{RUN}"))
    assert (await client.get(f"/api/v1/dossiers/{code}/notifications", headers=owner)).status_code == 404

    # An (the parent, who submitted) is the recipient named by the contact, not the child.
    parent = f"an-{RUN}"
    the_contact = contact(data, email, recipient_subject=parent, full_name="Nguyễn Văn An")
    contact_event = await publish(producer, personal_topic, the_contact)

    async def delivered() -> bool:
        rows = await email_rows(notify_app, code)
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows)

    await wait_until(delivered, 60, "the held events to be delivered")
    # The contact again (redelivered, then re-published under a new id) and a later event straight through.
    await publish(producer, personal_topic, event=contact_event)
    await publish(producer, personal_topic, the_contact)
    approved = await publish(producer, kafka_topics[0], action(DossierApproved, dossier_id, code, 2))

    async def approved_sent() -> bool:
        rows = await email_rows(notify_app, code)
        return len(rows) == 3 and all(r["status"] == "delivered" for r in rows)

    await wait_until(approved_sent, 60, "the approved email")
    await wait_until(
        lambda: _consumed_all(notify_app, [kafka_topics[0], personal_topic]), 30, "the consumer to catch up"
    )
    async with notify_app.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, channel, recipient_subject, body FROM notifications WHERE dossier_code = $1"
            " ORDER BY created_at, id",
            code,
        )
        pending = await conn.fetchval("SELECT count(*) FROM pending_events WHERE dossier_code = $1", code)
    assert pending == 0
    assert [(r["event_id"], r["channel"]) for r in rows] == [
        (e.id, ch) for e in (first, accepted, approved) for ch in ("app", "email")
    ]  # exactly one per (event, channel), in the order the events happened
    assert {r["recipient_subject"] for r in rows} == {parent}
    assert all(r["body"].startswith("Kính gửi ông/bà Nguyễn Văn An,") for r in rows)
    mails = handler.to(email)
    assert sorted(m["X-Motcua-Event-Id"] for m in mails) == sorted([first.id, accepted.id, approved.id])

    parent_headers = issuer.bearer(issuer.citizen("001090001234", sub=parent))
    listed = (await client.get(f"/api/v1/dossiers/{code}/notifications", headers=parent_headers)).json()
    assert len(listed["items"]) == 6
    assert (await client.get(f"/api/v1/dossiers/{code}/notifications", headers=owner)).status_code == 404


async def _consumed_all(app, topics: list[str]) -> bool:
    """Whether notify's consumer group has committed up to the end of every partition of ``topics``."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    settings = app.state.settings
    probe = AIOKafkaConsumer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    admin = AIOKafkaAdminClient(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await probe.start()
    await admin.start()
    try:
        from aiokafka.structs import TopicPartition

        parts = [TopicPartition(t, p) for t in topics for p in (probe.partitions_for_topic(t) or ())]
        if not parts:
            await probe.topics()
            parts = [TopicPartition(t, p) for t in topics for p in (probe.partitions_for_topic(t) or ())]
        ends = await probe.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(settings.consumer_group_prefix + "notify", partitions=parts)
    finally:
        await admin.close()
        await probe.stop()
    return all(ends[tp] == 0 or (committed.get(tp) is not None and committed[tp].offset >= ends[tp]) for tp in parts)


async def test_contact_between_events(notify_app, producer, kafka_topics, personal_topic):
    dossier_id, code = new_dossier(4)
    data = submitted(dossier_id, code)
    first = await publish(producer, kafka_topics[0], data)

    async def pending() -> bool:
        return await count(notify_app, "SELECT count(*) FROM pending_events WHERE dossier_code = $1", code) == 1

    await wait_until(pending, 60, "the submitted event to wait")
    await publish(producer, personal_topic, contact(data, None))
    accepted = await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))

    async def both() -> bool:
        return await count(notify_app, "SELECT count(*) FROM notifications WHERE dossier_code = $1", code) == 2

    await wait_until(both, 60, "both app notifications")
    async with notify_app.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, channel FROM notifications WHERE dossier_code = $1 ORDER BY created_at", code
        )
    assert [(r["event_id"], r["channel"]) for r in rows] == [(first.id, "app"), (accepted.id, "app")]


async def test_my_inbox_read_unread_and_mark_read(notify_app, producer, kafka_topics, personal_topic, client, issuer):
    me, other = f"inbox-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    mine = []
    for n in (5, 6):
        dossier_id, code = new_dossier(n)
        data = submitted(dossier_id, code, subject=me)
        await publish(producer, personal_topic, contact(data, None, recipient_subject=me))
        await publish(producer, kafka_topics[0], data)
        await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
        mine.append(code)
    theirs_id, theirs_code = new_dossier(7)
    theirs = submitted(theirs_id, theirs_code, subject=other)
    await publish(producer, personal_topic, contact(theirs, f"other.{RUN}@example.vn", recipient_subject=other))
    await publish(producer, kafka_topics[0], theirs)

    async def arrived() -> bool:
        n = await count(
            notify_app,
            "SELECT count(*) FROM notifications WHERE recipient_subject = ANY($1::text[]) AND channel = 'app'",
            [me, other],
        )
        return n == 5

    await wait_until(arrived, 60, "5 app notifications")
    me_h = issuer.bearer(issuer.citizen("001090001234", sub=me))
    other_h = issuer.bearer(issuer.citizen("092301002222", sub=other))

    async def inbox(headers, **params) -> list[dict]:
        items, cursor = [], None
        while True:
            q = {"limit": 3, **params} | ({"cursor": cursor} if cursor else {})
            r = await client.get("/api/v1/me/notifications", params=q, headers=headers)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            if (cursor := r.json()["next_cursor"]) is None:
                return items

    everything = await inbox(me_h)
    assert len(everything) == 4 and {i["dossier_code"] for i in everything} == set(mine)
    assert all(i["channel"] == "app" and i["read_at"] is None for i in everything)
    keys = [(i["created_at"], i["id"]) for i in everything]
    assert keys == sorted(keys, reverse=True)  # newest first
    for code in mine:  # within a dossier (one partition), the later event is listed first
        assert [i["event_type"] for i in everything if i["dossier_code"] == code] == [
            DossierAccepted.type_name(),
            DossierSubmitted.type_name(),
        ]
    assert await inbox(me_h, unread="true") == everything
    assert await inbox(me_h, unread="false") == []
    [theirs_item] = await inbox(other_h)
    assert theirs_item["dossier_code"] == theirs_code

    target = everything[1]["id"]
    r = await client.post(f"/api/v1/me/notifications/{target}/read", headers=me_h)
    assert r.status_code == 200, r.text
    read_at = r.json()["read_at"]
    assert read_at is not None and r.json()["id"] == target
    again = await client.post(f"/api/v1/me/notifications/{target}/read", headers=me_h)
    assert again.status_code == 200 and again.json()["read_at"] == read_at  # the first read time is kept
    assert [i["id"] for i in await inbox(me_h, unread="true")] == [i["id"] for i in everything if i["id"] != target]
    assert [i["id"] for i in await inbox(me_h, unread="false")] == [target]

    # Someone else's notification, an unknown id and an email row are all "not found" for me.
    email_id = await count(
        notify_app, "SELECT id FROM notifications WHERE recipient_subject = $1 AND channel = 'email'", other
    )
    for who, nid in [("theirs", theirs_item["id"]), ("unknown", str(uuid.uuid4())), ("an email row", email_id)]:
        r = await client.post(f"/api/v1/me/notifications/{nid}/read", headers=me_h)
        assert r.status_code == 404, who
        assert r.json()["type"].endswith("/notification-not-found"), who
    assert (await inbox(other_h))[0]["read_at"] is None  # my attempt did not touch theirs

    officer = issuer.bearer(issuer.officer("H29.01", RECEIVING_OFFICER))
    assert (await client.get("/api/v1/me/notifications", headers=officer)).status_code == 403
    assert (await client.post(f"/api/v1/me/notifications/{target}/read", headers=officer)).status_code == 403
    assert (await client.get("/api/v1/me/notifications")).status_code == 401
    assert (await client.post(f"/api/v1/me/notifications/{target}/read")).status_code == 401
    assert (await client.post("/api/v1/me/notifications/not-a-uuid/read", headers=me_h)).status_code == 422


async def test_temporary_smtp_failure_is_retried_with_backoff(notify_app, producer, kafka_topics, personal_topic, smtp):
    handler, _ = smtp
    dossier_id, code = new_dossier(3)
    email = f"flaky.{RUN}@example.vn"
    handler.fail_first.add(email)
    data = submitted(dossier_id, code)
    await publish(producer, personal_topic, contact(data, email))
    await publish(producer, kafka_topics[0], data)

    async def failed_once() -> bool:
        rows = await email_rows(notify_app, code)
        return bool(rows) and rows[0]["attempts"] == 1 and rows[0]["last_error"] is not None

    await wait_until(failed_once, 60, "the first failed attempt")
    # The back-off is checked on the attempts (the retry starts two seconds after the first try at the earliest), not
    # on the row read some time after the failure: on a loaded machine it may already be claimed again (pass by pass,
    # with its exact delay: test_notify_sender.py).

    async def sent() -> bool:
        rows = await email_rows(notify_app, code)
        return rows[0]["status"] == "delivered"

    await wait_until(sent, 60, "the retry to succeed")
    async with notify_app.state.pool.acquire() as conn:
        attempts = await conn.fetch(
            "SELECT a.attempt, a.outcome, a.started_at FROM delivery_attempts a"
            " JOIN notifications n ON n.id = a.notification_id WHERE n.dossier_code = $1 AND n.channel = 'email'"
            " ORDER BY a.attempt",
            code,
        )
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "failed_temporary"), (2, "accepted")]
    assert attempts[1]["started_at"] - attempts[0]["started_at"] >= timedelta(seconds=2), "retried before the backoff"
    row = (await email_rows(notify_app, code))[0]
    assert row["attempts"] == 2 and row["sent_at"] is not None
    assert "451" in row["last_error"]  # kept: the history of the last failure
    tries = handler.data_attempts[email]
    assert len(tries) == 2 and tries[1] - tries[0] >= 1.5
    assert len(handler.to(email)) == 1
    assert handler.to(email)[0]["Subject"] == f"Hồ sơ {code} đã được tiếp nhận"


async def test_contact_and_event_racing_on_two_connections_lose_nothing(notify_app):
    """An event's transaction holds the dossier's lock (event kept pending, not committed yet) while the
    contact's transaction starts: the contact waits for it, then finds and delivers the pending event."""
    from notify import service

    dossier_id, code = new_dossier(8)
    data = submitted(dossier_id, code)
    event = build_event(data, source="/tests/intake", subject=code)
    contact_event = build_event(contact(data, None), source="/tests/intake", subject=code)
    pool = notify_app.state.pool
    async with pool.acquire() as a, pool.acquire() as b:
        tx_a = a.transaction()
        await tx_a.start()
        assert await service.record_event(a, event) == []  # pending, uncommitted

        async def contact_side() -> list:
            async with b.transaction():
                return await service.record_contact(b, contact_event)

        racing = asyncio.create_task(contact_side())

        async def waiting_for_a_lock() -> bool:  # a fixed sleep did not say the race was reached on a slow machine
            # (another session: in a transaction, pg_stat_activity is read once and kept)
            return await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", b_pid) == "Lock"

        b_pid = b.get_server_pid()
        await wait_until(waiting_for_a_lock, 60, "the contact's transaction to wait for the dossier's lock")
        assert not racing.done()  # blocked on the dossier's lock
        await tx_a.commit()
        delivered = await asyncio.wait_for(racing, 60)
    assert len(delivered) == 1
    assert await count(notify_app, "SELECT count(*) FROM pending_events WHERE dossier_code = $1", code) == 0
    assert await count(notify_app, "SELECT count(*) FROM notifications WHERE event_id = $1", event.id) == 1


async def test_events_of_one_dossier_in_one_transaction_list_in_their_order(notify_app):
    """The consumer applies a chunk of events in one transaction: a dossier's notifications still take the time
    of their own insert (not the transaction's start), so its list, in (created_at, id) order, is the events' order."""
    from notify import service

    dossier_id, code = new_dossier(9)
    data = submitted(dossier_id, code)
    events = [
        build_event(contact(data, None, notify_channels=["app"]), source="/tests/intake", subject=code),
        build_event(data, source="/tests/intake", subject=code),
        build_event(action(DossierAccepted, dossier_id, code, minutes=1), source="/tests/processing", subject=code),
        build_event(action(DossierApproved, dossier_id, code, minutes=2), source="/tests/processing", subject=code),
    ]
    async with notify_app.state.pool.acquire() as conn, conn.transaction():
        await service.record_contact(conn, events[0])
        for event in events[1:]:
            await service.record_event(conn, event)
    rows = await notify_app.state.pool.fetch(
        "SELECT event_type, created_at FROM notifications WHERE dossier_code = $1 AND channel = 'app'"
        " ORDER BY created_at, id",
        code,
    )
    assert [r["event_type"] for r in rows] == [e.type for e in events[1:]]
    assert len({r["created_at"] for r in rows}) == len(rows), "each notification has its own time"
