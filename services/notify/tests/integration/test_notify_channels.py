"""SMS, OTT, preferences, fallback, retries, rate limits, receipts and dead letters, end to end: real Kafka and
PostgreSQL, notify served by uvicorn, the SMS/OTT provider simulators over HTTP (their receipts come back to
notify's callback), a real SMTP server."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from motcua_common import testing
from motcua_common.auth import PROVINCIAL_OPERATOR, RECEIVING_OFFICER, UNIT_HEAD
from motcua_common.contracts import DossierAccepted, DossierSubmitted
from notify import domain
from notify.providers import sign

from .test_notify_integration import action, contact, new_dossier, publish, submitted, wait_until

pytestmark = pytest.mark.integration

RUN = testing.RUN_ID
PHONE = "0912345678"


def dossier(n: int, subject: str | None = None):
    dossier_id, code = new_dossier(n)
    return dossier_id, code, submitted(dossier_id, code, subject=subject or f"sub-{uuid.uuid4().hex[:10]}")


async def rows(app, code: str, channel: str | None = None) -> list:
    async with app.state.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM notifications WHERE dossier_code = $1 AND ($2::text IS NULL OR channel = $2)"
            " ORDER BY created_at, id",
            code,
            channel,
        )


async def final(app, code: str, channel: str, status: str = "delivered", seconds: float = 60) -> dict:
    async def done() -> bool:
        return any(r["status"] == status for r in await rows(app, code, channel))

    await wait_until(done, seconds, f"{channel} {status} for {code}")
    return dict(next(r for r in await rows(app, code, channel) if r["status"] == status))


async def accepted_by(sim: httpx.AsyncClient, channel: str, key) -> list[dict]:
    return [
        m
        for m in (await sim.get("/admin/messages", params={"channel": channel})).json()
        if m["idempotency_key"] == str(key)
    ]


def owner_headers(issuer, subject: str) -> dict:
    return issuer.bearer(issuer.citizen("079195005678", sub=subject))


async def test_sms_goes_unaccented_through_the_provider_and_its_receipt_is_the_proof(
    notify_app, producer, kafka_topics, personal_topic, sim, client, issuer
):
    subject = f"sms-{RUN}"
    dossier_id, code, data = dossier(101, subject)
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app", "sms"]))
    event = await publish(producer, kafka_topics[0], data)
    await publish(producer, kafka_topics[0], event=event)  # Kafka redelivers: still one SMS
    row = await final(notify_app, code, "sms")
    assert row["id"] == domain.idempotency_key(event.id, subject, "sms")
    assert row["receipt"]["status"] == "delivered" and row["receipt"]["message_id"] == row["provider_message_id"]
    (msg,) = await accepted_by(sim, "sms", row["id"])
    assert msg["to"] == PHONE and msg["text"].isascii()
    assert msg["text"].startswith(f"Mot Cua: ho so {code} da duoc tiep nhan. Hen tra ket qua ")
    assert "đã được tiếp nhận" in row["body"]  # stored with its diacritics; stripped for this provider only

    items = (await client.get(f"/api/v1/dossiers/{code}/notifications", headers=owner_headers(issuer, subject))).json()
    sms = next(i for i in items["items"] if i["channel"] == "sms")
    assert sms["status"] == "delivered" and sms["receipt"]["status"] == "delivered"
    assert [a["outcome"] for a in sms["attempts"]] == ["accepted"]
    assert sms["attempts"][0]["provider_message_id"] == row["provider_message_id"]
    other = owner_headers(issuer, f"other-{RUN}")
    assert (await client.get(f"/api/v1/dossiers/{code}/notifications", headers=other)).status_code == 404


async def test_a_refused_sms_falls_back_to_ott_then_the_chain_ends_in_a_dead_letter_an_operator_replays(
    notify_app, producer, kafka_topics, personal_topic, sim, client, issuer
):
    await sim.post("/admin/behaviour", json={"channel": "sms", "mode": "refuse"})
    await sim.post("/admin/behaviour", json={"channel": "ott", "mode": "refuse"})
    subject = f"fallback-{RUN}"
    dossier_id, code, data = dossier(102, subject)
    # The dossier chose SMS; the default chain goes on to OTT (same phone), then e-mail (no address here).
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app", "sms"]))
    await publish(producer, kafka_topics[0], data)
    sms = await final(notify_app, code, "sms", "failed_permanent")
    ott = await final(notify_app, code, "ott", "failed_permanent")
    assert ott["fallback_of"] == sms["id"] and "HTTP 400" in ott["last_error"]
    assert await rows(notify_app, code, "email") == []  # no address: the chain ends here

    operator = issuer.bearer(issuer.officer("H29", PROVINCIAL_OPERATOR, sub="op-1"))
    page = await client.get("/api/v1/notification-dead-letters", params={"replayed": "false"}, headers=operator)
    letters = [d for d in page.json()["items"] if d["dossier_code"] == code]
    assert [(d["channel"], d["notification_id"]) for d in letters] == [("ott", str(ott["id"]))]
    assert "HTTP 400" in letters[0]["error"]

    await sim.post("/admin/behaviour", json={"channel": "ott", "mode": "normal"})
    replayed = await client.post(f"/api/v1/notification-dead-letters/{letters[0]['id']}/replay", headers=operator)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["replayed_by"] == "op-1" and replayed.json()["replayed_at"]
    delivered = await final(notify_app, code, "ott")
    assert delivered["id"] == ott["id"] and len(await accepted_by(sim, "ott", ott["id"])) == 1
    again = await client.post(f"/api/v1/notification-dead-letters/{letters[0]['id']}/replay", headers=operator)
    assert again.status_code == 409
    unknown = await client.post(f"/api/v1/notification-dead-letters/{uuid.uuid4()}/replay", headers=operator)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")


async def test_an_undeliverable_receipt_falls_back_along_the_citizens_chain(
    notify_app, producer, kafka_topics, personal_topic, sim, smtp, client, issuer
):
    """The OTT provider accepts the message, then its receipt says it could not be delivered: the citizen's next
    channel (their preferences: OTT, then e-mail) takes over."""
    handler, _ = smtp
    subject = f"receipt-fallback-{RUN}"
    put = await client.put(
        "/api/v1/me/notification-preferences",
        json={"channels": ["ott", "email"]},
        headers=owner_headers(issuer, subject),
    )
    assert put.status_code == 200
    await sim.post("/admin/behaviour", json={"channel": "ott", "mode": "undeliverable", "times": 1})
    email = f"receipt-fallback.{RUN}@example.vn"
    dossier_id, code, data = dossier(103, subject)
    await publish(producer, personal_topic, contact(data, email, phone=PHONE, notify_channels=["app"]))
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    ott = await final(notify_app, code, "ott", "failed_permanent")
    assert ott["receipt"]["status"] == "failed" and "subscriber unreachable" in ott["last_error"]
    mail = await final(notify_app, code, "email")
    assert mail["fallback_of"] == ott["id"] and mail["subject"] == f"Hồ sơ {code} đang được xử lý"
    assert [m["Subject"] for m in handler.to(email)] == [f"Hồ sơ {code} đang được xử lý"]
    assert await rows(notify_app, code, "sms") == []


async def test_temporary_failures_are_retried_and_a_429_slows_the_channel_without_failing_the_message(
    notify_app, producer, kafka_topics, personal_topic, sim
):
    await sim.post("/admin/behaviour", json={"channel": "sms", "mode": "fail", "times": 1})
    dossier_id, code, data = dossier(104)
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app", "sms"]))
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    row = await final(notify_app, code, "sms")
    async with notify_app.state.pool.acquire() as conn:
        attempts = await conn.fetch("SELECT * FROM delivery_attempts WHERE notification_id = $1 ORDER BY id", row["id"])
    assert [a["outcome"] for a in attempts] == ["failed_temporary", "accepted"]
    assert "HTTP 500" in attempts[0]["detail"] and attempts[1]["started_at"] - attempts[0]["started_at"] >= timedelta(
        seconds=1.5
    )

    await sim.post("/admin/behaviour", json={"channel": "sms", "mode": "rate_limit", "retry_after": 2, "times": 1})
    dossier_id, code, data = dossier(105)
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app", "sms"]))
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    row = await final(notify_app, code, "sms")
    async with notify_app.state.pool.acquire() as conn:
        attempts = await conn.fetch("SELECT * FROM delivery_attempts WHERE notification_id = $1 ORDER BY id", row["id"])
        throttled = await conn.fetchval("SELECT until FROM channel_throttles WHERE channel = 'sms'")
    assert [a["outcome"] for a in attempts] == ["rate_limited", "accepted"]
    assert row["attempts"] == 1  # the 429 did not count as a try
    assert attempts[1]["started_at"] - attempts[0]["started_at"] >= timedelta(seconds=1.9)
    assert throttled is not None and throttled >= attempts[0]["finished_at"] + timedelta(seconds=1.9)


async def test_preferences_are_each_citizens_own_and_decide_the_channel(
    notify_app, producer, kafka_topics, personal_topic, sim, client, issuer
):
    an, binh = f"pref-an-{RUN}", f"pref-binh-{RUN}"
    path = "/api/v1/me/notification-preferences"
    assert (await client.get(path, headers=owner_headers(issuer, an))).json() == {"channels": [], "quiet_hours": None}
    put = await client.put(path, json={"channels": ["ott", "email"]}, headers=owner_headers(issuer, an))
    assert put.status_code == 200, put.text
    await client.put(path, json={"channels": ["email"]}, headers=owner_headers(issuer, binh))
    assert (await client.get(path, headers=owner_headers(issuer, an))).json()["channels"] == ["ott", "email"]
    assert (await client.get(path, headers=owner_headers(issuer, binh))).json()["channels"] == ["email"]
    for bad in (
        {"channels": ["fax"]},
        {"channels": ["sms", "sms"]},
        {"channels": [], "quiet_hours": {"start": "25:00", "end": "07:00"}},
        {},
    ):
        r = await client.put(path, json=bad, headers=owner_headers(issuer, an))
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), bad
    for officer in ("officer-1", "officer-2"):
        token = issuer.bearer(issuer.officer("H29.01", RECEIVING_OFFICER, sub=officer))
        assert (await client.get(path, headers=token)).status_code == 403
        assert (await client.put(path, json={"channels": []}, headers=token)).status_code == 403
    assert (await client.get(path)).status_code == 401

    # The dossier chose only the app: An's preferences decide (OTT first).
    dossier_id, code, data = dossier(106, an)
    await publish(producer, personal_topic, contact(data, f"an.{RUN}@example.vn", phone=PHONE, notify_channels=["app"]))
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    await final(notify_app, code, "ott")
    assert await rows(notify_app, code, "email") == [] and await rows(notify_app, code, "sms") == []
    # An event that came before the contact waits for it, and goes out by the same preferences when it arrives.
    dossier_id, code, data = dossier(108, an)
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))

    async def pending() -> bool:
        async with notify_app.state.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM pending_events WHERE dossier_code = $1", code))

    await wait_until(pending, 60, "the event to wait for its contact")
    await publish(producer, personal_topic, contact(data, f"an.{RUN}@example.vn", phone=PHONE, notify_channels=["app"]))
    await final(notify_app, code, "ott")
    assert await rows(notify_app, code, "email") == [] and await rows(notify_app, code, "sms") == []
    # The dossier's own choice overrides them.
    dossier_id, code, data = dossier(107, an)
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app", "sms"]))
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    await final(notify_app, code, "sms")
    assert await rows(notify_app, code, "ott") == []


async def test_quiet_hours_hold_sms_but_not_a_legal_notice(
    notify_app, producer, kafka_topics, personal_topic, client, issuer
):
    subject = f"quiet-{RUN}"
    local = datetime.now(UTC).astimezone(domain.VN_TZ)
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=2)).strftime("%H:%M")
    r = await client.put(
        "/api/v1/me/notification-preferences",
        json={"channels": ["sms"], "quiet_hours": {"start": start, "end": end}},
        headers=owner_headers(issuer, subject),
    )
    assert r.json()["quiet_hours"] == {"start": start, "end": end}
    dossier_id, code, data = dossier(108, subject)
    await publish(producer, personal_topic, contact(data, None, phone=PHONE, notify_channels=["app"]))
    await publish(producer, kafka_topics[0], data)  # the receipt (form 01): a legal notice
    await publish(producer, kafka_topics[0], action(DossierAccepted, dossier_id, code, 1))
    await final(notify_app, code, "sms")  # the receipt went out

    async def both() -> bool:
        return len(await rows(notify_app, code, "sms")) == 2

    await wait_until(both, 60, "both SMS recorded")
    held = next(r for r in await rows(notify_app, code, "sms") if r["event_type"] == DossierAccepted.type_name())
    assert held["status"] == "queued" and held["next_attempt_at"] > datetime.now(UTC) + timedelta(minutes=100)
    sent = next(r for r in await rows(notify_app, code, "sms") if r["event_type"] == DossierSubmitted.type_name())
    assert sent["status"] == "delivered"


async def test_templates_and_dead_letters_are_for_provincial_operators_only(client, issuer):
    operators = [issuer.bearer(issuer.officer("H29", PROVINCIAL_OPERATOR, sub=f"op-{i}")) for i in (1, 2)]
    officers = [
        issuer.bearer(issuer.officer("H29.01", UNIT_HEAD, sub="head-1")),
        issuer.bearer(issuer.officer("H29.02", RECEIVING_OFFICER, sub="recv-1")),
    ]
    citizens = [owner_headers(issuer, f"c1-{RUN}"), owner_headers(issuer, f"c2-{RUN}")]
    submitted_type = DossierSubmitted.type_name()
    preview = f"/api/v1/notification-templates/{submitted_type}/sms/preview"
    for headers in operators:
        listed = (await client.get("/api/v1/notification-templates", headers=headers)).json()["items"]
        assert {(t["event_type"], t["channel"]) for t in listed} >= {
            (submitted_type, c) for c in domain.EXTERNAL_CHANNELS
        }
        r = await client.post(preview, json={"recipient_name": "Trần Thị Bình"}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 1 and "đã được tiếp nhận" in body["body"]
        assert body["sms"]["with_diacritics"]["encoding"] == "ucs2" and body["sms"]["with_diacritics"]["segments"] <= 2
        assert body["sms"]["without_diacritics"]["text"].startswith("Mot Cua: ho so ")
        assert (await client.get("/api/v1/notification-dead-letters", headers=headers)).status_code == 200
    for headers in officers + citizens:
        assert (await client.get("/api/v1/notification-templates", headers=headers)).status_code == 403
        assert (await client.post(preview, json={}, headers=headers)).status_code == 403
        assert (await client.get("/api/v1/notification-dead-letters", headers=headers)).status_code == 403
        r = await client.post(f"/api/v1/notification-dead-letters/{uuid.uuid4()}/replay", headers=headers)
        assert r.status_code == 403
    assert (await client.get("/api/v1/notification-templates")).status_code == 401
    op = operators[0]
    email = await client.post(
        f"/api/v1/notification-templates/{submitted_type}/email/preview",
        json={"data": {"dossier_code": "X"}},
        headers=op,
    )
    assert email.status_code == 422 and email.headers["content-type"].startswith("application/problem+json")
    missing = await client.post("/api/v1/notification-templates/vn.motcua.nothing.v1/sms/preview", json={}, headers=op)
    assert missing.status_code == 404
    wrong_channel = await client.post(
        f"/api/v1/notification-templates/{submitted_type}/fax/preview", json={}, headers=op
    )
    assert wrong_channel.status_code == 422
    old = await client.post(preview, json={"version": 9}, headers=op)
    assert old.status_code == 404


async def test_receipts_need_the_providers_signature(notify_app, client):
    body = json.dumps(
        {"idempotency_key": str(uuid.uuid4()), "message_id": "m", "status": "delivered", "at": "2026-01-01T00:00:00Z"}
    ).encode()
    secret = notify_app.state.settings.provider_callback_secret.get_secret_value()
    url = "/callbacks/v1/receipts/sms"
    assert (await client.post(url, content=body)).status_code == 401
    assert (await client.post(url, content=body, headers={"X-Provider-Signature": "0" * 64})).status_code == 401
    signed = {"X-Provider-Signature": sign(secret, body)}
    assert (await client.post(url, content=body, headers=signed)).status_code == 404  # no such message
    assert (
        await client.post(url, content=b"{}", headers={"X-Provider-Signature": sign(secret, b"{}")})
    ).status_code == 422
