"""Integration tests on the real PostgreSQL and Kafka: a submitted dossier arrives over Kafka, officers
drive it over HTTP, and every action's event leaves through the outbox onto the topic."""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from motcua_common.auth import APPROVER as APPROVER_ROLE
from motcua_common.auth import RECEIVING_OFFICER, UNIT_HEAD
from motcua_common.contracts import DOSSIER_EVENTS
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from motcua_common.kafka import client_options
from motcua_common.problems import PROBLEM_JSON
from motcua_common.testing import kafka_admin_settings
from motcua_common.testing_auth import TestIssuer

UNIT = "000.00.01.H29"
ACTION_TYPES = [
    "vn.motcua.dossier.accepted.v1",
    "vn.motcua.dossier.approved.v1",
    "vn.motcua.dossier.result_issued.v1",
    "vn.motcua.dossier.result_returned.v1",
]


@pytest.fixture(scope="module")
def tok(issuer: TestIssuer) -> SimpleNamespace:
    """Authorization headers: a receiving officer and an approver of UNIT (the roles the happy path needs)."""
    return SimpleNamespace(
        officer=issuer.bearer(issuer.officer(UNIT, RECEIVING_OFFICER, sub="cb-0042", name="Trần Thị Bình")),
        approver=issuer.bearer(issuer.officer(UNIT, APPROVER_ROLE, sub="ld-0007", name="Phạm Anh Tuấn")),
        receiver=lambda sub: issuer.bearer(issuer.officer(UNIT, RECEIVING_OFFICER, sub=sub)),
    )


async def _wait_for(predicate, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while True:
        result = await predicate()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {limit}s waiting for {what}"
        await asyncio.sleep(0.1)


def _problem(resp, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status
    return body


async def _at_least(count: Awaitable[int], n: int) -> bool:
    return await count >= n


async def _consumed_up_to(settings, tp: TopicPartition, offset: int) -> bool:
    admin = AIOKafkaAdminClient(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            settings.consumer_group_prefix + "processing", partitions=[tp]
        )
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return meta is not None and meta.offset > offset


async def test_submitted_event_opens_case_once_and_officers_drive_it(app, settings, client, make_submission, tok):
    data, event = make_submission()
    pool = app.state.pool
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        value = event.model_dump_json().encode()
        headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
        sent = [
            await producer.send_and_wait(
                settings.dossier_topic, value, key=str(data.dossier_id).encode(), headers=headers
            )
            for _ in range(2)
        ]
    finally:
        await producer.stop()
    assert sent[0].partition == sent[1].partition

    async def case_count() -> int:
        return await pool.fetchval("SELECT count(*) FROM dossiers WHERE id = $1", data.dossier_id)

    await _wait_for(case_count, what="the case to be opened")
    # Wait until the consumer has committed past the duplicate, then check it had no second effect.
    tp = TopicPartition(settings.dossier_topic, sent[1].partition)
    await _wait_for(lambda: _consumed_up_to(settings, tp, sent[1].offset), what="the duplicate to be consumed")
    assert await case_count() == 1
    assert await pool.fetchval("SELECT count(*) FROM steps WHERE dossier_id = $1", data.dossier_id) == 1
    # Once per consumer group of processing (the dossier consumer; the statistics projection and the national
    # portal's reports, which may lag).
    seen = "SELECT count(*) FROM inbox WHERE event_id = $1"
    await _wait_for(lambda: _at_least(pool.fetchval(seen, event.id), 3), what="every group to see it")
    handled = await pool.fetch("SELECT consumer FROM inbox WHERE event_id = $1", event.id)
    assert sorted(r["consumer"] for r in handled) == [
        settings.consumer_group_prefix + "processing",
        settings.consumer_group_prefix + "processing-measure",
        settings.consumer_group_prefix + "processing-portal",
    ]

    code = data.dossier_code
    resp = await client.get(f"/api/v1/dossiers/{code}", headers=tok.officer)
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["id"] == str(data.dossier_id) and view["code"] == code
    assert (view["status"], view["status_label"]) == ("submitted", "Đã nộp, chờ tiếp nhận")
    assert view["procedure"] == {"code": "1.001193", "name": "Đăng ký khai sinh"}
    assert view["unit"] == {"code": data.unit_code, "name": data.unit_name}
    assert (view["current_step"], view["current_handler"]) == ("receive", None)
    assert view["timeliness"] is None and view["completed_at"] is None and view["rejection_reason"] is None
    [first] = view["timeline"]
    assert first["seq"] == 1 and first["step"] == "receive" and first["name"] == "Tiếp nhận hồ sơ"
    assert first["handler"] is None and first["completed_at"] is None and first["outcome"] is None
    assert _same_instant(first["entered_at"], data.submitted_at.isoformat())
    assert _same_instant(view["due_at"], data.appointment_at.isoformat())  # intake's appointment until received

    # Forbidden, unauthenticated and invalid requests change nothing.
    _problem(await client.post(f"/api/v1/dossiers/{code}/actions/accept", json={}), 401, "unauthorized")
    body = _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/approve", json={}, headers=tok.approver),
        409,
        "invalid-transition",
    )
    assert body["title"] == "Thao tác không hợp lệ với trạng thái hiện tại của hồ sơ"
    assert "approve" in body["detail"] and "submitted" in body["detail"]
    _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/reject", json={}, headers=tok.officer),
        422,
        "validation-error",
    )
    _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/reject", json={"reason": "   "}, headers=tok.officer),
        422,
        "validation-error",
    )
    _problem(
        await client.post(
            f"/api/v1/dossiers/{code}/actions/return-result", json={"method": "drone"}, headers=tok.officer
        ),
        422,
        "validation-error",
    )
    _problem(
        await client.post("/api/v1/dossiers/NO-SUCH-CODE/actions/accept", json={}, headers=tok.officer),
        404,
        "dossier-not-found",
    )
    assert (await client.get(f"/api/v1/dossiers/{code}", headers=tok.officer)).json() == view

    resp = await client.post(
        f"/api/v1/dossiers/{code}/actions/accept", json={"note": "Hồ sơ đầy đủ"}, headers=tok.officer
    )
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert (view["status"], view["status_label"]) == ("processing", "Đang xử lý")
    assert (view["current_step"], view["current_handler"]) == ("appraise", "cb-0042")
    receive, appraise = view["timeline"]
    assert receive["handler"] == "cb-0042" and receive["handler_name"] == "Trần Thị Bình"
    assert receive["outcome"] == "accepted" and receive["note"] == "Hồ sơ đầy đủ"
    assert receive["completed_at"] is not None
    assert appraise["seq"] == 2 and appraise["name"] == "Thẩm định, xử lý hồ sơ"
    assert appraise["unit"] == {"code": data.unit_code, "name": data.unit_name}
    assert appraise["entered_at"] == receive["completed_at"] and appraise["completed_at"] is None
    # Receipt starts the legal clock: the due date is the procedure's 3 working days from now, with its reason.
    assert view["due_at"] == view["legal_due_at"] and view["due_at"] > receive["completed_at"]
    [received] = view["due_history"]
    assert received["kind"] == "received" and received["due_at"] == view["due_at"]
    assert received["reason"] == "Hồ sơ được tiếp nhận: bắt đầu tính thời hạn giải quyết"
    assert appraise["entered_at"] < appraise["due_at"] <= view["due_at"]

    resp = await client.post(f"/api/v1/dossiers/{code}/actions/approve", headers=tok.approver)  # no body at all
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert (view["status"], view["current_step"], view["current_handler"]) == ("approved", "issue", "ld-0007")
    assert [s["step"] for s in view["timeline"]] == ["receive", "appraise", "issue"]
    assert view["timeline"][1]["handler"] == "ld-0007" and view["timeline"][1]["outcome"] == "approved"

    _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/reject", json={"reason": "Quá hạn"}, headers=tok.approver),
        409,
        "invalid-transition",
    )

    resp = await client.post(f"/api/v1/dossiers/{code}/actions/issue-result", json={}, headers=tok.approver)
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert (view["status"], view["status_label"]) == ("result_issued", "Đã có kết quả, chờ trả")
    assert view["timeliness"] == "early" and view["completed_at"] is None
    assert view["timeline"][2]["note"] == f"Số kết quả: KQ-{code}"
    assert view["timeline"][3]["step"] == "return" and view["timeline"][3]["name"] == "Trả kết quả"

    resp = await client.post(
        f"/api/v1/dossiers/{code}/actions/return-result", json={"method": "counter"}, headers=tok.officer
    )
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert (view["status"], view["status_label"]) == ("completed", "Đã trả kết quả")
    assert view["current_step"] is None and view["current_handler"] is None
    assert view["completed_at"] == view["timeline"][3]["completed_at"]
    assert [(s["seq"], s["outcome"]) for s in view["timeline"]] == [
        (1, "accepted"),
        (2, "approved"),
        (3, "issued"),
        (4, "returned"),
    ]
    assert all(s["completed_at"] for s in view["timeline"])
    assert await pool.fetchval("SELECT version FROM dossiers WHERE id = $1", data.dossier_id) == 5

    _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/accept", json={}, headers=tok.officer),
        409,
        "invalid-transition",
    )

    # The four outbox events reached the topic as CloudEvents keyed by dossier id, with trace context.
    records = await _read_topic(settings, str(data.dossier_id), len(ACTION_TYPES))
    assert [json.loads(r.value)["type"] for r in records] == ACTION_TYPES
    for record in records:
        hdrs = dict(record.headers)
        assert record.key == str(data.dossier_id).encode()
        assert hdrs["content-type"].decode().startswith("application/cloudevents+json")
        assert hdrs["traceparent"].decode().startswith("00-")
        ce = CloudEvent.model_validate_json(record.value)
        assert ce.subject == code and ce.source == "/motcua/processing" and ce.specversion == "1.0"
        assert ce.traceparent == hdrs["traceparent"].decode()
        payload = DOSSIER_EVENTS[ce.type].model_validate(ce.data)
        assert payload.dossier_id == data.dossier_id and payload.dossier_code == code
    issued = json.loads(records[2].value)["data"]
    assert issued["result_number"] == f"KQ-{code}" and issued["timeliness"] == "early"
    assert issued["handler"] == "ld-0007"
    assert json.loads(records[3].value)["data"]["return_method"] == "counter"


async def _read_topic(settings, key: str, count: int, types: list[str] | None = None) -> list:
    """Read this run's topic from the beginning with a fresh group until ``count`` events of ``types``
    (default: the four happy-path actions) for ``key`` have arrived."""
    wanted = set(types or ACTION_TYPES)
    consumer = AIOKafkaConsumer(
        settings.dossier_topic,
        **client_options(kafka_admin_settings(settings.kafka_bootstrap)),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events arrived"
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [r for r in records if r.key == key.encode() and json.loads(r.value)["type"] in wanted]
    finally:
        await consumer.stop()
    return found


def _same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def test_reject_at_reception_and_after_appraisal(app, settings, client, make_submission, open_case, tok):
    refused, refused_event = make_submission()
    await open_case(refused_event)
    await open_case(refused_event)  # a second announcement of the same dossier is ignored
    code = refused.dossier_code
    resp = await client.post(
        f"/api/v1/dossiers/{code}/actions/reject",
        json={"reason": "  Thiếu tờ khai đăng ký khai sinh  "},
        headers=tok.officer,
    )
    assert resp.status_code == 200, resp.text
    view = resp.json()
    # The deprecated /reject at the reception step stands for `refuse` (form 03): refused to receive.
    assert (view["status"], view["status_label"]) == ("refused", "Từ chối tiếp nhận")
    assert view["rejection_reason"] == "Thiếu tờ khai đăng ký khai sinh"
    assert view["current_step"] is None and view["completed_at"] is not None and view["timeliness"] is None
    [step] = view["timeline"]
    assert (step["outcome"], step["note"], step["handler"]) == (
        "refused",
        view["rejection_reason"],
        "cb-0042",
    )
    _problem(
        await client.post(f"/api/v1/dossiers/{code}/actions/accept", headers=tok.officer),
        409,
        "invalid-transition",
    )

    appraised, appraised_event = make_submission()
    await open_case(appraised_event)
    code2 = appraised.dossier_code
    assert (await client.post(f"/api/v1/dossiers/{code2}/actions/accept", headers=tok.officer)).status_code == 200
    resp = await client.post(
        f"/api/v1/dossiers/{code2}/actions/reject", json={"reason": "Không đủ điều kiện"}, headers=tok.approver
    )
    assert resp.status_code == 200, resp.text
    assert [(s["step"], s["outcome"]) for s in resp.json()["timeline"]] == [
        ("receive", "accepted"),
        ("appraise", "rejected"),
    ]

    for dossier, event_type, reason in (
        (refused, "vn.motcua.dossier.refused.v1", "Thiếu tờ khai đăng ký khai sinh"),
        (appraised, "vn.motcua.dossier.rejected.v1", "Không đủ điều kiện"),
    ):
        [record] = await _read_topic(settings, str(dossier.dossier_id), 1, [event_type])
        assert json.loads(record.value)["data"]["reason"] == reason


async def test_concurrent_accepts_serialise(app, client, make_submission, open_case, tok):
    data, event = make_submission()
    await open_case(event)
    url = f"/api/v1/dossiers/{data.dossier_code}/actions/accept"
    responses = await asyncio.gather(
        *(client.post(url, json={"note": f"officer {i}"}, headers=tok.receiver(f"cb-{i}")) for i in range(2))
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status_code == 409)
    _problem(loser, 409, "invalid-transition")
    view = (await client.get(f"/api/v1/dossiers/{data.dossier_code}", headers=tok.officer)).json()
    assert len(view["timeline"]) == 2
    pool = app.state.pool
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND event_type = $2",
            str(data.dossier_id),
            "vn.motcua.dossier.accepted.v1",
        )
        == 1
    )


async def test_work_queue_pages_by_due_date(app, client, make_submission, open_case, issuer):
    unit = f"UNIT-{uuid.uuid4().hex[:8]}"
    officer = issuer.bearer(issuer.officer(unit, UNIT_HEAD))  # the unit head sees every step of the unit
    dossiers = []
    for days in (5, 1, 3, 3, 2):
        data, event = make_submission(unit_code=unit, due_in=timedelta(days=days))
        await open_case(event)
        dossiers.append(data)
    done, done_event = make_submission(unit_code=unit, due_in=timedelta(days=1))
    await open_case(done_event)
    resp = await client.post(
        f"/api/v1/dossiers/{done.dossier_code}/actions/reject", json={"reason": "Trùng"}, headers=officer
    )
    assert resp.status_code == 200
    accepted = dossiers[0]
    assert (
        await client.post(f"/api/v1/dossiers/{accepted.dossier_code}/actions/accept", headers=officer)
    ).status_code == 200

    seen, cursor, pages = [], None, 0
    while True:
        params = {"unit_code": unit, "limit": 2} | ({"cursor": cursor} if cursor else {})
        resp = await client.get("/api/v1/work-queue", params=params, headers=officer)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = sorted(dossiers, key=lambda d: (d.appointment_at, d.dossier_id))
    assert [i["code"] for i in seen] == [d.dossier_code for d in expected]  # the rejected one is not open
    first = seen[0]
    assert first["status_label"] == "Đã nộp, chờ tiếp nhận" and first["current_step"] == "receive"
    assert first["procedure"] == {"code": "1.001193", "name": "Đăng ký khai sinh"}
    assert first["unit"] == {"code": unit, "name": f"Đơn vị {unit}"} and first["channel"] == "online"
    assert set(first) == {
        "code",
        "status",
        "status_label",
        "procedure",
        "unit",
        "channel",
        "received_at",
        "due_at",
        "legal_due_at",
        "current_step",
        "current_step_name",
        "current_step_roles",
        "overdue",
        "due_soon",
        "paused",
        "paused_at",
    }  # no applicant name, id or subject

    # Without unit_code the officer gets their own unit's queue, the same one.
    own = (await client.get("/api/v1/work-queue", params={"limit": 100}, headers=officer)).json()["items"]
    assert [i["code"] for i in own] == [d.dossier_code for d in expected]

    resp = await client.get("/api/v1/work-queue", params={"unit_code": unit, "status": "processing"}, headers=officer)
    assert [(i["code"], i["current_step"]) for i in resp.json()["items"]] == [(accepted.dossier_code, "appraise")]
    assert resp.json()["next_cursor"] is None

    _problem(await client.get("/api/v1/work-queue", params={"unit_code": unit}), 401, "unauthorized")
    _problem(
        await client.get("/api/v1/work-queue", params={"cursor": "not-a-cursor"}, headers=officer),
        400,
        "invalid-cursor",
    )
    for bad in ({"limit": 0}, {"limit": 101}, {"status": "completed"}):
        _problem(await client.get("/api/v1/work-queue", params=bad, headers=officer), 422, "validation-error")


async def test_tracking_unknown_dossier_is_404(client, tok):
    body = _problem(
        await client.get("/api/v1/dossiers/000.00.01.H29-000000-0000", headers=tok.officer), 404, "dossier-not-found"
    )
    assert body["title"] == "Không tìm thấy hồ sơ"
    _problem(await client.get("/api/v1/public/dossiers/000.00.01.H29-000000-0000"), 404, "dossier-not-found")


async def test_openapi_documents_routes(app):
    spec = app.openapi()
    ops = [op for path in spec["paths"].values() for op in path.values()]
    # 9 + actions, allowed actions, supplements, extensions + the official forms + issue 9's statistics (5),
    # ratings (2) and follow-ups (2)
    assert len(ops) == 23
    for op in ops:
        assert op["operationId"].startswith("processing_") and op["summary"] and op["description"]
        assert op["tags"] in (["Processing"], ["Tracking"], ["Statistics"], ["Ratings"])
        assert {"404", "409", "422"} <= set(op["responses"])
        public = op["operationId"] == "processing_public_lookup" or op["tags"] == ["Statistics"]
        if not public:
            assert {"401", "403"} <= set(op["responses"])
    accept = spec["paths"]["/api/v1/dossiers/{code}/actions/accept"]["post"]
    assert "404" in accept["description"] and "another unit" in accept["description"]
    public = spec["components"]["schemas"]["PublicDossierView"]
    assert set(public["properties"]) == {"code", "status", "status_label", "current_step_name", "unit", "due_at"}
    view = spec["components"]["schemas"]["DossierView"]
    assert {"timeline", "status_label", "timeliness", "rejection_reason"} <= set(view["properties"])
