"""The whole life of a dossier on the generic engine, on the real PostgreSQL (and Kafka for the catalogue topic):
procedure versions arriving before or after their dossiers, every kind of action through POST …/actions with two
officers of each kind (right/wrong unit, right/wrong role), supplements by two citizens, extensions, idempotent
retries and If-Match, concurrent actions on one dossier, and the overdue / due-soon detectors racing."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from motcua_common import sample_procedures
from motcua_common.auth import APPROVER, PROVINCIAL_OPERATOR, RECEIVING_OFFICER, SPECIALIST, UNIT_HEAD
from motcua_common.contracts import DossierState, DossierSubmitted
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from motcua_common.kafka import client_options
from motcua_common.problems import PROBLEM_JSON
from motcua_common.testing import kafka_admin_settings
from processing import repository, service

LIEN_THONG = sample_procedures.inter_agency()


def _unit(prefix: str = "U") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}.H29"


def _ok(resp, expected: int, what: str) -> dict:
    assert resp.status_code == expected, f"{what}: expected {expected}, got {resp.status_code} {resp.text}"
    if expected >= 400:
        assert resp.headers["content-type"].startswith(PROBLEM_JSON), what
    return resp.json()


@pytest.fixture
def people(issuer):
    """A competent unit, a service centre that receives, a police unit, another unit; two officers of each role
    where it matters; the applicant An, his parent Bình who filed, and a stranger Dung."""

    class People:
        unit, centre, police, other = _unit("UB"), _unit("TT"), _unit("CA"), _unit("UBX")
        an, binh, dung = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("an", "binh", "dung"))

        @staticmethod
        def officer(unit: str, *roles: str, sub: str | None = None) -> dict:
            sub = sub or f"{'-'.join(roles)}-{unit}"
            return issuer.bearer(issuer.officer(unit, *roles, sub=sub, name=f"Cán bộ {sub}"))

        @staticmethod
        def citizen(sub: str) -> dict:
            return issuer.bearer(issuer.citizen("001090001234", sub=sub))

    return People


async def _open(make_submission, open_case, p, **kw: Any):
    data, event = make_submission(
        unit_code=p.unit,
        receiving_unit_code=p.centre,
        channel="service_centre",
        applicant=p.an,
        submitter=p.binh,
        procedure_code=LIEN_THONG.code,
        procedure_version=LIEN_THONG.version,
        **kw,
    )
    await open_case(event)
    return data


async def _act(client, code: str, headers: dict, action: str, **body: Any):
    return await client.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=headers)


async def test_a_dossier_waits_for_its_procedure_version(app, make_submission, open_case, publish, people):
    version = 100 + int(uuid.uuid4().int % 1000)
    early = sample_procedures.standard(code="9.000001", version=version)
    data, event = make_submission(unit_code=people.unit, procedure_code=early.code, procedure_version=version)
    await open_case(event)
    pool = app.state.pool
    assert await pool.fetchval("SELECT count(*) FROM dossiers WHERE id = $1", data.dossier_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM pending_submissions WHERE dossier_id = $1", data.dossier_id) == 1
    await publish(early)
    assert await pool.fetchval("SELECT status FROM dossiers WHERE id = $1", data.dossier_id) == "submitted"
    assert await pool.fetchval("SELECT count(*) FROM pending_submissions WHERE dossier_id = $1", data.dossier_id) == 0
    # Publishing the same version again changes nothing (the first announcement of a version wins).
    changed = early.model_copy(update={"name": "Tên khác"})
    await publish(changed)
    stored = await pool.fetchval(
        "SELECT definition->>'name' FROM procedure_versions WHERE code = $1 AND version = $2", early.code, version
    )
    assert stored == early.name


async def test_the_catalogue_topic_is_consumed(app, settings, make_submission, open_case, people):
    """Through Kafka: the version's event on the catalogue topic opens a dossier that was waiting for it."""
    version = 2000 + int(uuid.uuid4().int % 1000)
    definition = sample_procedures.standard(code="9.000002", version=version)
    data, event = make_submission(unit_code=people.unit, procedure_code=definition.code, procedure_version=version)
    await open_case(event)
    published = CloudEvent(
        source="/motcua/intake",
        type="vn.motcua.procedure.version_published.v1",
        subject=definition.code,
        data=sample_procedures.published(definition),
    )
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.catalogue_topic,
            published.model_dump_json().encode(),
            key=definition.code.encode(),
            headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
        )
    finally:
        await producer.stop()
    pool = app.state.pool
    async with asyncio.timeout(60):
        while True:
            if await pool.fetchval("SELECT count(*) FROM dossiers WHERE id = $1", data.dossier_id):
                break
            await asyncio.sleep(0.1)


async def test_inter_agency_path_with_transfer_and_back(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    receiver = p.officer(p.centre, RECEIVING_OFFICER)
    receiver2 = p.officer(p.centre, RECEIVING_OFFICER, sub="hoa-2")
    specialist = p.officer(p.unit, SPECIALIST)
    approver = p.officer(p.unit, APPROVER)
    police = p.officer(p.police, SPECIALIST)

    # Reception at the centre (the receiving unit): the unit's own officers may read but not receive.
    view = _ok(await client.get(f"/api/v1/dossiers/{code}", headers=specialist), 200, "unit reads")
    assert view["current_unit"]["code"] == p.centre and view["current_step_name"] == "Tiếp nhận hồ sơ"
    _ok(await _act(client, code, p.officer(p.unit, RECEIVING_OFFICER), "receive"), 403, "the unit's receiver")
    _ok(await _act(client, code, p.officer(p.other, RECEIVING_OFFICER), "receive"), 404, "another unit")
    _ok(await _act(client, code, p.officer(p.centre, SPECIALIST), "receive"), 403, "centre, wrong role")
    bad = _ok(await _act(client, code, receiver, "approve"), 409, "not offered here")
    assert bad["type"].endswith("/invalid-transition") and bad["allowed_actions"] == ["receive", "refuse"]
    offered = _ok(await client.get(f"/api/v1/dossiers/{code}/actions", headers=receiver), 200, "actions")
    assert [a["action"] for a in offered["actions"]] == ["receive", "refuse"]
    assert _ok(await client.get(f"/api/v1/dossiers/{code}/actions", headers=specialist), 200, "")["actions"] == []
    _ok(await client.get(f"/api/v1/dossiers/{code}/actions", headers=p.citizen(p.dung)), 404, "stranger")
    view = _ok(await _act(client, code, receiver2, "receive", note="Đủ thành phần"), 200, "receive")
    assert (view["status"], view["current_step"], view["current_unit"]["code"]) == ("processing", "appraise", p.unit)
    assert view["current_handler"] is None  # another unit's step waits in that unit's queue

    # Transfer to the police (liên thông): the agency is named and recorded.
    _ok(await _act(client, code, specialist, "transfer"), 422, "no agency named")
    _ok(await _act(client, code, approver, "transfer", transfer_unit_code=p.police), 403, "approver on appraisal")
    view = _ok(await _act(client, code, specialist, "transfer", transfer_unit_code=p.police), 200, "transfer")
    assert (view["current_step"], view["current_unit"]["code"]) == ("police_check", p.police)
    _ok(await _act(client, code, specialist, "forward"), 403, "the unit may read it, not act at the police")
    _ok(await _act(client, code, p.officer(p.other, SPECIALIST), "forward"), 404, "another police unit")
    police_view = _ok(await client.get(f"/api/v1/dossiers/{code}", headers=police), 200, "police reads")
    assert police_view["timeline"][-1]["unit"]["code"] == p.police
    view = _ok(await _act(client, code, police, "forward", note="Đã xác minh"), 200, "back from the police")
    assert (view["current_step"], view["current_unit"]["code"]) == ("appraise", p.unit)
    # The police still read the dossier they held.
    _ok(await client.get(f"/api/v1/dossiers/{code}", headers=police), 200, "police reads afterwards")

    view = _ok(await _act(client, code, specialist, "forward"), 200, "to approval")
    _ok(await _act(client, code, specialist, "approve"), 403, "specialist approves")
    view = _ok(await _act(client, code, approver, "approve"), 200, "approve")
    assert view["status"] == "approved"
    view = _ok(await _act(client, code, specialist, "issue_result", result_number="12/GXN"), 200, "issue")
    assert (view["status"], view["result_number"], view["timeliness"]) == ("result_issued", "12/GXN", "early")
    assert view["current_unit"]["code"] == p.centre  # the centre returns the result
    _ok(await _act(client, code, receiver, "return_result"), 422, "no return method")
    view = _ok(await _act(client, code, receiver, "return_result", return_method="post"), 200, "return by post")
    assert (view["status"], view["return_method"], view["current_step"]) == ("completed", "post", None)
    assert [(s["step"], s["unit"]["code"], s["outcome"]) for s in view["timeline"]] == [
        ("receive", p.centre, "accepted"),
        ("appraise", p.unit, "transferred"),
        ("police_check", p.police, "forwarded"),
        ("appraise", p.unit, "forwarded"),
        ("approve", p.unit, "approved"),
        ("issue", p.unit, "issued"),
        ("return", p.centre, "returned"),
    ]
    assert all(s["completed_at"] and s["due_at"] and s["entered_at"] for s in view["timeline"])
    final = _ok(await _act(client, code, receiver, "return_result", return_method="post"), 409, "after the end")
    assert final["allowed_actions"] == []

    events = await app.state.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 AND topic = $2 ORDER BY created_at, id",
        str(data.dossier_id),
        app.state.settings.dossier_topic,
    )
    kinds = [e["event_type"].split(".")[3] for e in events]
    assert kinds == [
        "accepted",
        "transferred",
        "step_forwarded",
        "step_forwarded",
        "approved",
        "result_issued",
        "result_returned",
    ]
    returned = _payload(events[-1])
    assert returned["data"]["return_method"] == "post" and returned["data"]["notify_post"] is True
    transferred = _payload(events[1])["data"]
    assert (transferred["next_step"], transferred["next_unit_code"]) == ("police_check", p.police)
    assert [int(_payload(e)["sequence"]) for e in events] == list(range(2, 9))


async def _row(app, code: str):
    row = await repository.get_dossier(app.state.pool, code)
    assert row is not None
    return row


async def test_the_agency_intake_chose_needs_no_naming(client, make_submission, open_case, people):
    """Intake may choose the unit of another level at submission (performer_units): a transfer then goes there."""
    p = people
    data = await _open(
        make_submission, open_case, p, performer_units={"commune_police": {"code": p.police, "name": "Công an xã"}}
    )
    code = data.dossier_code
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "receive"), 200, "receive")
    offered = _ok(await client.get(f"/api/v1/dossiers/{code}/actions", headers=p.officer(p.unit, SPECIALIST)), 200, "")
    transfer = next(a for a in offered["actions"] if a["action"] == "transfer")
    assert transfer["needs"] == []
    view = _ok(await _act(client, code, p.officer(p.unit, SPECIALIST), "transfer"), 200, "transfer")
    assert view["current_unit"] == {"code": p.police, "name": "Công an xã"}


def _payload(row) -> dict:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else value


async def test_supplement_pauses_and_resumes_the_clock(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    specialist = p.officer(p.unit, SPECIALIST)
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "receive"), 200, "receive")
    _ok(await client.post(f"/api/v1/dossiers/{code}/supplements", json={"note": "x"}, headers=p.citizen(p.an)), 409, "")
    _ok(await _act(client, code, specialist, "request_supplement"), 422, "no reason")
    view = _ok(
        await _act(
            client,
            code,
            specialist,
            "request_supplement",
            reason="Giấy tờ chứng minh chỗ ở chưa hợp lệ",
            components_requested=["CNCO"],
        ),
        200,
        "request",
    )
    assert (view["status"], view["status_label"]) == ("supplement_requested", "Chờ bổ sung hồ sơ")
    assert view["paused_at"] is not None and view["timeline"][-1]["step"] == "applicant-supplement"
    [request] = view["supplement_requests"]
    assert (request["reason"], request["components_requested"]) == ("Giấy tờ chứng minh chỗ ở chưa hợp lệ", ["CNCO"])
    assert view["due_history"][-1]["kind"] == "paused"
    # While paused nobody acts: the officer gets a 409 listing nothing; the applicant is offered `supplement`.
    assert _ok(await _act(client, code, specialist, "forward"), 409, "paused")["allowed_actions"] == []
    mine = _ok(await client.get(f"/api/v1/dossiers/{code}/actions", headers=p.citizen(p.an)), 200, "applicant")
    assert [a["action"] for a in mine["actions"]] == ["supplement"]

    url = f"/api/v1/dossiers/{code}/supplements"
    doc = str(uuid.uuid4())
    _ok(await client.post(url, json={"note": "Bổ sung", "document_ids": [doc]}, headers=p.citizen(p.dung)), 404, "")
    _ok(await client.post(url, json={"document_ids": [doc]}, headers=specialist), 403, "specialist")
    _ok(await client.post(url, json={}, headers=p.citizen(p.an)), 422, "nothing given")
    row = await _row(app, code)
    before_due, paused_at = row["due_at"], row["paused_at"]
    resumed = _ok(
        await client.post(url, json={"note": "Đã bổ sung giấy tờ", "document_ids": [doc]}, headers=p.citizen(p.binh)),
        200,
        "the parent who filed supplements",
    )
    assert (resumed["status"], resumed["current_step"], resumed["paused_at"]) == ("processing", "appraise", None)
    row = await _row(app, code)
    resumed_at = datetime.fromisoformat(resumed["timeline"][-1]["entered_at"])
    expected = app.state.clock.resumed(before_due, paused_at, resumed_at, LIEN_THONG, LIEN_THONG.budget)
    assert row["due_at"] == expected and row["legal_due_at"] == expected
    assert resumed["due_history"][-1]["kind"] == "resumed" and resumed["due_history"][-1]["due_at"] is not None
    assert [s["step"] for s in resumed["timeline"]][-3:] == ["appraise", "applicant-supplement", "appraise"]
    [answered] = await repository.supplement_requests(app.state.pool, row["id"])
    assert answered["document_ids"] == [uuid.UUID(doc)] and answered["supplemented_by"] == p.binh
    # The procedure allows one request: a second is refused and no longer offered.
    again = _ok(await _act(client, code, specialist, "request_supplement", reason="Lần hai"), 409, "second")
    assert again["type"].endswith("/supplement-limit-reached")


async def test_a_receiving_officer_supplements_at_the_counter(client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "receive"), 200, "receive")
    _ok(await _act(client, code, p.officer(p.unit, SPECIALIST), "request_supplement", reason="Thiếu"), 200, "ask")
    url = f"/api/v1/dossiers/{code}/supplements"
    _ok(await client.post(url, json={"note": "x"}, headers=p.officer(p.other, RECEIVING_OFFICER)), 404, "other")
    view = _ok(
        await client.post(url, json={"note": "Nhận tại quầy"}, headers=p.officer(p.centre, RECEIVING_OFFICER)), 200, ""
    )
    assert view["timeline"][-2]["outcome"] == "supplemented"


async def test_refusal_at_reception_records_form_03(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "refuse"), 422, "no reason")
    view = _ok(
        await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "refuse", reason="Không thuộc thẩm quyền"),
        200,
        "refuse",
    )
    assert (view["status"], view["status_label"]) == ("refused", "Từ chối tiếp nhận")
    # A dossier is named by its code or by its id.
    by_id = _ok(await client.get(f"/api/v1/dossiers/{data.dossier_id}", headers=p.citizen(p.an)), 200, "by id")
    assert by_id["code"] == code and by_id["status"] == "refused"
    refusal = await repository.refusal(app.state.pool, data.dossier_id)
    assert refusal is not None
    assert refusal["reason"] == "Không thuộc thẩm quyền" and refusal["unit_code"] == p.centre
    assert refusal["handler"] == f"receiving_officer-{p.centre}" and refusal["refused_at"] is not None


async def test_extension_by_the_unit_head_or_approver(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "receive"), 200, "receive")
    row = await _row(app, code)
    clock = app.state.clock.legal
    due = row["due_at"].astimezone(clock.tz)
    next_day = clock.calendar.next_working_day(due.date())
    new_due = datetime.combine(next_day, due.time(), clock.tz)
    saturday = due + timedelta(days=(5 - due.weekday()) % 7 or 7)
    url = f"/api/v1/dossiers/{code}/extensions"
    body = {"reason": "Cần xác minh thêm thông tin cư trú", "new_due_at": new_due.isoformat()}
    _ok(await client.post(url, json=body, headers=p.officer(p.unit, SPECIALIST)), 403, "specialist")
    _ok(await client.post(url, json=body, headers=p.officer(p.other, UNIT_HEAD)), 404, "another unit's head")
    _ok(await client.post(url, json=body, headers=p.officer(p.centre, UNIT_HEAD)), 403, "the centre's head")
    _ok(await client.post(url, json=body, headers=p.officer(p.unit, PROVINCIAL_OPERATOR)), 403, "operator")
    _ok(await client.post(url, json=body, headers=p.citizen(p.an)), 403, "the applicant")
    earlier = {**body, "new_due_at": (due - timedelta(hours=1)).isoformat()}
    assert "later" in _ok(await client.post(url, json=earlier, headers=p.officer(p.unit, APPROVER)), 422, "")["detail"]
    weekend = {**body, "new_due_at": saturday.isoformat()}
    _ok(await client.post(url, json=weekend, headers=p.officer(p.unit, APPROVER)), 422, "a Saturday")
    _ok(await client.post(url, json={**body, "reason": "  "}, headers=p.officer(p.unit, APPROVER)), 422, "blank")
    _ok(
        await client.post(url, json={**body, "new_due_at": "2026-12-01T17:00:00"}, headers=p.officer(p.unit, APPROVER)),
        422,
        "naive",
    )
    view = _ok(await client.post(url, json=body, headers=p.officer(p.unit, UNIT_HEAD)), 200, "the unit head")
    assert datetime.fromisoformat(view["due_at"]) == new_due
    assert datetime.fromisoformat(view["legal_due_at"]) == row["legal_due_at"]  # judged on the legal date
    assert view["due_history"][-1] == {
        "changed_at": view["due_history"][-1]["changed_at"],
        "kind": "extended",
        "reason": "Cần xác minh thêm thông tin cư trú",
        "previous_due_at": view["due_history"][-2]["due_at"],
        "due_at": view["due_at"],
    }
    [ext] = await repository.extensions(app.state.pool, row["id"])
    assert (ext["reason"], ext["new_due_at"], ext["unit_code"]) == (body["reason"], new_due, p.unit)
    payload = _payload(
        await app.state.pool.fetchrow(
            "SELECT payload FROM outbox WHERE key = $1 AND event_type = 'vn.motcua.dossier.extended.v1'",
            str(data.dossier_id),
        )
    )
    assert payload["data"]["notify_channels"] == ["email", "sms"] and payload["data"]["reason"] == body["reason"]
    # Approvers may extend too.
    later = {**body, "new_due_at": (new_due + timedelta(days=7)).isoformat()}
    _ok(await client.post(url, json=later, headers=p.officer(p.unit, APPROVER)), 200, "an approver")


async def test_idempotent_retry_and_if_match(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    receiver = p.officer(p.centre, RECEIVING_OFFICER)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await _act(client, code, {**receiver, **key}, "receive")
    again = await _act(client, code, {**receiver, **key}, "receive")
    assert first.status_code == again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert first.json() == again.json() and first.headers["etag"] == '"2"'
    _ok(await _act(client, code, {**receiver, **key}, "refuse", reason="khác"), 422, "same key, other body")
    other_officer = p.officer(p.centre, RECEIVING_OFFICER, sub="hoa-2")
    # The key is the caller's own: another officer's same key is a new request, not a replay (the centre no longer
    # holds the dossier: 403).
    _ok(await _act(client, code, {**other_officer, **key}, "receive"), 403, "other caller, same key")
    specialist = p.officer(p.unit, SPECIALIST)
    stale = _ok(await _act(client, code, {**specialist, "If-Match": '"1"'}, "forward"), 412, "stale version")
    assert stale["type"].endswith("/precondition-failed")
    _ok(await _act(client, code, {**specialist, "If-Match": "abc"}, "forward"), 400, "bad If-Match")
    etag = (await client.get(f"/api/v1/dossiers/{code}", headers=specialist)).headers["etag"]
    _ok(await _act(client, code, {**specialist, "If-Match": etag}, "forward"), 200, "current version")


async def test_concurrent_actions_on_one_dossier(app, client, make_submission, open_case, people):
    data = await _open(make_submission, open_case, people)
    code, p = data.dossier_code, people
    _ok(await _act(client, code, p.officer(p.centre, RECEIVING_OFFICER), "receive"), 200, "receive")
    _ok(await _act(client, code, p.officer(p.unit, SPECIALIST), "forward"), 200, "to approval")
    approvers = [p.officer(p.unit, APPROVER, sub=f"ld-{i}") for i in range(2)]
    results = await asyncio.gather(
        _act(client, code, approvers[0], "approve"), _act(client, code, approvers[1], "reject", reason="Không đủ")
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    count = await app.state.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE key = $1 AND event_type IN ($2, $3)",
        str(data.dossier_id),
        "vn.motcua.dossier.approved.v1",
        "vn.motcua.dossier.rejected.v1",
    )
    assert count == 1


async def test_two_detectors_racing_announce_each_dossier_once(app, make_submission, open_case, people):
    """Dossiers past due and due soon; two detector passes at once on two connections (as two replicas): each
    dossier's overdue (and due-soon) event is written exactly once, with its own sequence number."""
    now = datetime.now(UTC)
    overdue, soon = [], []
    for i in range(6):
        data, event = make_submission(
            unit_code=people.unit, received_at=now - timedelta(days=10), due_in=timedelta(days=9, hours=i)
        )
        await open_case(event)
        overdue.append(data)
    due = now + timedelta(minutes=30)
    for _ in range(3):
        data, event = make_submission(
            unit_code=people.unit, received_at=now - timedelta(days=1), due_in=due - (now - timedelta(days=1))
        )
        await open_case(event)
        soon.append(data)
    settings, pool = app.state.settings, app.state.pool

    async def detector() -> dict[str, int]:
        async with pool.acquire() as conn, conn.transaction():
            counts = await service.detect_deadlines(conn, settings, now=now, limit=1000)
            await asyncio.sleep(0.2)  # hold the claimed rows while the other detector runs
            return counts

    results = await asyncio.gather(detector(), detector())
    ids = [str(d.dossier_id) for d in overdue]
    rows = await pool.fetch(
        "SELECT key, event_type, payload FROM outbox WHERE key = ANY($1::text[]) AND event_type LIKE '%overdue%'", ids
    )
    assert sorted(r["key"] for r in rows) == sorted(ids)
    assert all(int(_payload(r)["sequence"]) == 2 for r in rows)  # submitted = 1, then the overdue event
    soon_ids = [str(d.dossier_id) for d in soon]
    due_soon = await pool.fetch(
        "SELECT key FROM outbox WHERE key = ANY($1::text[]) AND event_type LIKE '%due_soon%'", soon_ids
    )
    assert sorted(r["key"] for r in due_soon) == sorted(soon_ids)
    assert sum(r["overdue"] for r in results) >= len(overdue) and all(
        set(r) == {"overdue", "due_soon"} for r in results
    )
    # A later pass finds nothing more for them.
    async with pool.acquire() as conn, conn.transaction():
        await service.detect_deadlines(conn, settings, now=now + timedelta(seconds=1), limit=1000)
    assert await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE key = ANY($1::text[]) AND event_type LIKE '%overdue%'", ids
    ) == len(ids)


async def test_a_dossier_announced_twice_is_opened_once(app, make_submission, open_case, people):
    """The same dossier under another event id (a producer retry): one case, one first step, its parties once; the
    case-opening statement writes the units, the dossier, its step and its parties together or not at all."""
    data = await _open(make_submission, open_case, people)
    again = CloudEvent(
        source="/motcua/intake",
        type=DossierSubmitted.type_name(),
        subject=data.dossier_code,
        data=data.model_dump(mode="json", exclude={"event_type"}),
    )
    await open_case(again)
    pool = app.state.pool
    assert await pool.fetchval("SELECT count(*) FROM dossiers WHERE id = $1", data.dossier_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM steps WHERE dossier_id = $1", data.dossier_id) == 1
    parties = await pool.fetch(
        "SELECT subject, applicant, submitter FROM dossier_parties WHERE dossier_id = $1 ORDER BY subject",
        data.dossier_id,
    )
    assert sorted((r["subject"], r["applicant"], r["submitter"]) for r in parties) == sorted(
        [(people.an, True, False), (people.binh, False, True)]
    )
    assert await pool.fetchval("SELECT name FROM units WHERE code = $1", people.unit) == data.unit_name
    states = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE key = $1 AND event_type = $2", str(data.dossier_id), DossierState.type_name()
    )
    assert states == 1, "the state is published once"
