"""The notify service end to end on the real PostgreSQL, Kafka and an SMTP server: dossier events in,
Vietnamese emails out, once each, retried when the mail server fails for a while."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from motcua_common import build_event, testing
from motcua_common.contracts import (
    DossierAccepted,
    DossierApproved,
    DossierRejected,
    DossierSubmitted,
)
from motcua_common.events import CloudEvent
from motcua_common.testing import sample_submitted

pytestmark = pytest.mark.integration

RUN = testing.RUN_ID
NOW = datetime(2025, 11, 21, 2, 30, tzinfo=UTC)
DUE = NOW + timedelta(days=3)
UNIT = {"unit_code": "H29.01", "unit_name": "UBND phường Ba Đình", "handler": "Nguyễn Văn An", "due_at": DUE}


def new_dossier(n: int) -> tuple[uuid.UUID, str]:
    return uuid.uuid4(), f"T{RUN}.H29-251121-{n:04d}"


def submitted(dossier_id: uuid.UUID, code: str, email: str | None) -> DossierSubmitted:
    return sample_submitted(
        dossier_id=dossier_id,
        dossier_code=code,
        occurred_at=NOW,
        submitted_at=NOW,
        received_at=NOW,
        appointment_at=DUE,
        notify_channels=["app"],
        applicant={"email": email},
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


async def email_rows(app, code: str) -> list:
    async with app.state.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM notifications WHERE dossier_code = $1 AND channel = 'email' ORDER BY created_at",
            code,
        )


@pytest.fixture(scope="module")
async def rejected_dossier(notify_app, producer, kafka_topics, smtp):
    """A dossier submitted (its event delivered twice), accepted, then rejected; waits for its emails."""
    handler, _ = smtp
    dossier_id, code = new_dossier(1)
    email = f"binh.{RUN}@example.vn"
    topic = kafka_topics[0]
    first = await publish(producer, topic, submitted(dossier_id, code, email))
    await publish(producer, topic, event=first)  # redelivery: same CloudEvent id
    accepted = await publish(
        producer, topic, DossierAccepted(dossier_id=dossier_id, dossier_code=code, occurred_at=NOW, **UNIT)
    )
    rejected = await publish(
        producer,
        topic,
        DossierRejected(
            dossier_id=dossier_id, dossier_code=code, occurred_at=NOW, reason="Thiếu giấy chứng sinh", **UNIT
        ),
    )

    async def all_sent() -> bool:
        rows = await email_rows(notify_app, code)
        return len(handler.to(email)) >= 3 and len(rows) == 3 and all(r["status"] == "sent" for r in rows)

    await wait_until(all_sent, 40, "3 emails sent")
    return {"code": code, "email": email, "events": [first, accepted, rejected]}


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
    assert {r["event_id"]: r["n"] for r in per_event} == {first.id: 2, accepted.id: 2, rejected.id: 2}
    assert recipient["email"] == email and recipient["channels"] == ["app"]
    assert recipient["personal_id"] == "001190012345"
    for row in await email_rows(notify_app, code):
        assert row["attempts"] == 1 and row["sent_at"] is not None and row["last_error"] is None


async def test_list_endpoint_pages_in_order(rejected_dossier, client):
    code = rejected_dossier["code"]
    first, accepted, rejected = rejected_dossier["events"]
    r = await client.get(f"/api/v1/dossiers/{code}/notifications")
    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert [(i["event_type"], i["channel"]) for i in items] == [
        (e.type, ch) for e in (first, accepted, rejected) for ch in ("app", "email")
    ]
    assert [i["status"] for i in items] == ["delivered", "sent"] * 3
    assert all(i["sent_at"] for i in items)
    assert items[-1]["subject"] == f"Hồ sơ {code} không được chấp thuận"
    assert "Lý do: Thiếu giấy chứng sinh" in items[-1]["body"]
    assert set(items[0]) == {
        "id",
        "event_type",
        "channel",
        "subject",
        "body",
        "status",
        "created_at",
        "sent_at",
    }

    pages, cursor = [], None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/api/v1/dossiers/{code}/notifications", params=params)).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [i["id"] for p in pages for i in p] == [i["id"] for i in items]


async def test_list_endpoint_rejects_bad_input_and_answers_unknown_codes(client, notify_app):
    r = await client.get("/api/v1/dossiers/KHONG-CO/notifications")
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "abc"}):
        r = await client.get("/api/v1/dossiers/X/notifications", params=params)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    for cursor in ("garbage!", "bm90LWpzb24", "WzEsMl0"):
        r = await client.get("/api/v1/dossiers/X/notifications", params={"cursor": cursor})
        assert r.status_code == 400, cursor
        assert r.json()["type"].endswith("/invalid-cursor")
        assert r.json()["title"] == "Tham số phân trang không hợp lệ"


async def test_event_for_unknown_dossier_goes_to_the_app_inbox_only(notify_app, producer, kafka_topics, client):
    dossier_id, code = new_dossier(2)
    await publish(
        producer,
        kafka_topics[0],
        DossierApproved(dossier_id=dossier_id, dossier_code=code, occurred_at=NOW, **UNIT),
    )

    async def listed() -> bool:
        r = await client.get(f"/api/v1/dossiers/{code}/notifications")
        return len(r.json()["items"]) > 0

    await wait_until(listed, 30, "the approved notification")
    items = (await client.get(f"/api/v1/dossiers/{code}/notifications")).json()["items"]
    assert [(i["channel"], i["status"]) for i in items] == [("app", "delivered")]
    assert items[0]["subject"] == f"Hồ sơ {code} đã được phê duyệt"
    assert items[0]["body"].startswith("Kính gửi ông/bà,\n")


async def test_temporary_smtp_failure_is_retried_with_backoff(notify_app, producer, kafka_topics, smtp):
    handler, _ = smtp
    dossier_id, code = new_dossier(3)
    email = f"flaky.{RUN}@example.vn"
    handler.fail_first.add(email)
    await publish(producer, kafka_topics[0], submitted(dossier_id, code, email))

    async def failed_once() -> bool:
        rows = await email_rows(notify_app, code)
        return bool(rows) and rows[0]["attempts"] == 1 and rows[0]["last_error"] is not None

    await wait_until(failed_once, 30, "the first failed attempt")
    async with notify_app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT *, next_attempt_at - now() AS wait FROM notifications"
            " WHERE dossier_code = $1 AND channel = 'email'",
            code,
        )
    assert "451" in row["last_error"]
    assert row["status"] == "pending" and row["sent_at"] is None
    assert timedelta(seconds=0) < row["wait"] <= timedelta(seconds=2)

    async def sent() -> bool:
        rows = await email_rows(notify_app, code)
        return rows[0]["status"] == "sent"

    await wait_until(sent, 15, "the retry to succeed")
    row = (await email_rows(notify_app, code))[0]
    assert row["attempts"] == 2 and row["sent_at"] is not None
    assert "451" in row["last_error"]  # kept: the history of the last failure
    tries = handler.data_attempts[email]
    assert len(tries) == 2 and tries[1] - tries[0] >= 1.5
    assert len(handler.to(email)) == 1
    assert handler.to(email)[0]["Subject"] == f"Hồ sơ {code} đã được tiếp nhận"
