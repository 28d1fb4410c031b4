"""The whole life of dossiers on the generic engine, through the gateway only, on the real servers: every kind of
transition (receive, refuse, request_supplement, forward, transfer, approve, reject, issue_result, return_result),
a supplement that pauses and resumes the clock, a transfer to the commune police and back, an extension with its
apology by e-mail, overdue and due-soon detection by the running detector, and the notifications each causes."""

import asyncio
import uuid
from datetime import datetime

import asyncpg

from .conftest import INTER_AGENCY, eventually
from .test_flow import opened_by_processing, problem, submit

HOA, LAN, TUAN = "officer hoa (receiving, UBND)", "officer lan (specialist, UBND)", "officer tuan (approver, UBND)"
SON, MINH = "officer son (unit head, UBND)", "officer minh (police)"
POLICE_UNIT = "000.26.02.H29"


async def act(api, code: str, headers: dict, action: str, **body):
    return await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=headers)


def ok(resp, what: str) -> dict:
    assert resp.status_code == 200, (what, resp.text)
    return resp.json()


async def app_notifications(api, code: str, citizen: dict, count: int) -> list[dict] | None:
    resp = await api.get(f"/api/v1/dossiers/{code}/notifications", params={"limit": 100}, headers=citizen)
    items = [n for n in resp.json()["items"] if n["channel"] == "app"]
    return items if len(items) >= count else None


async def test_inter_agency_dossier_with_a_supplement_and_an_extension(api, system, actors):
    an, dung = actors["citizen An"], actors["citizen Dung"]
    code = (await submit(api, an, procedure=INTER_AGENCY)).json()["code"]
    await opened_by_processing(api, code, actors[HOA])

    # What each caller may do now; an action the step does not offer is a 409 listing those it does.
    offered = ok(await api.get(f"/api/v1/dossiers/{code}/actions", headers=actors[HOA]), "hoa's actions")
    assert [a["action"] for a in offered["actions"]] == ["receive", "refuse"]
    assert ok(await api.get(f"/api/v1/dossiers/{code}/actions", headers=an), "an's actions")["actions"] == []
    problem(await api.get(f"/api/v1/dossiers/{code}/actions", headers=dung), 404, "dossier-not-found")
    refused = problem(await act(api, code, actors[HOA], "approve"), 409, "invalid-transition")
    assert refused["allowed_actions"] == ["receive", "refuse"]
    problem(await act(api, code, actors[MINH], "receive"), 404, "dossier-not-found")  # the police: not yet theirs
    problem(await act(api, code, actors[LAN], "receive"), 403, "forbidden")  # the unit, without the role

    view = ok(await act(api, code, actors[HOA], "receive", note="Hồ sơ đủ thành phần"), "receive")
    assert (view["status"], view["current_step"]) == ("processing", "appraise")
    assert view["due_history"][0]["kind"] == "received"

    # A supplement: the clock pauses, the applicant adds a document from the vault, the clock resumes.
    view = ok(
        await act(
            api,
            code,
            actors[LAN],
            "request_supplement",
            reason="Giấy xác nhận tình trạng hôn nhân đã hết hạn",
            components_requested=["XNHN"],
        ),
        "request a supplement",
    )
    assert view["status"] == "supplement_requested" and view["paused_at"]
    public = ok(await api.get(f"/api/v1/public/dossiers/{code}"), "public lookup")
    assert (public["status_label"], public["current_step_name"]) == ("Chờ bổ sung hồ sơ", "Công dân bổ sung hồ sơ")
    upload = await api.post(
        "/api/v1/me/documents",
        headers=an,
        data={"doc_type": "XNHN"},
        files={"file": ("xnhn.pdf", b"%PDF-1.4\n% xac nhan\n", "application/pdf")},
    )
    assert upload.status_code == 201, upload.text
    url = f"/api/v1/dossiers/{code}/supplements"
    body = {"note": "Đã bổ sung giấy xác nhận mới", "document_ids": [upload.json()["id"]]}
    problem(await api.post(url, json=body, headers=dung), 404, "dossier-not-found")
    problem(await api.post(url, json=body, headers=actors[LAN]), 403, "forbidden")
    view = ok(await api.post(url, json=body, headers={**an, "Idempotency-Key": str(uuid.uuid4())}), "supplement")
    assert (view["status"], view["current_step"], view["paused_at"]) == ("processing", "appraise", None)
    assert [c["kind"] for c in view["due_history"]] == ["received", "paused", "resumed"]
    assert view["supplement_requests"][0]["document_count"] == 1

    # Liên thông: to the commune police and back.
    problem(await act(api, code, actors[LAN], "transfer"), 422, "validation-error")
    view = ok(await act(api, code, actors[LAN], "transfer", transfer_unit_code=POLICE_UNIT), "transfer")
    assert view["current_unit"]["code"] == POLICE_UNIT and view["current_step"] == "police_check"
    problem(await act(api, code, actors[LAN], "forward"), 403, "forbidden")  # the police's step now
    view = ok(await act(api, code, actors[MINH], "forward", note="Đã xác minh nơi cư trú"), "back")
    assert view["current_unit"]["code"] == "000.26.01.H29" and view["current_step"] == "appraise"

    # Extension (form 04) by the unit head, with an apology by e-mail.
    etag = (await api.get(f"/api/v1/dossiers/{code}", headers=actors[SON])).headers["etag"]
    clock = system.apps["processing"].state.clock.legal
    due = datetime.fromisoformat(view["due_at"]).astimezone(clock.tz)
    new_due = datetime.combine(clock.calendar.add_working_days(due.date(), 3), due.time(), clock.tz)
    ext = {"reason": "Cần thêm thời gian xác minh tại cơ quan công an", "new_due_at": new_due.isoformat()}
    problem(await api.post(f"/api/v1/dossiers/{code}/extensions", json=ext, headers=actors[LAN]), 403, "forbidden")
    stale = {**actors[SON], "If-Match": '"1"'}
    problem(await api.post(f"/api/v1/dossiers/{code}/extensions", json=ext, headers=stale), 412, "precondition-failed")
    view = ok(
        await api.post(f"/api/v1/dossiers/{code}/extensions", json=ext, headers={**actors[SON], "If-Match": etag}),
        "extend",
    )
    assert datetime.fromisoformat(view["due_at"]) == new_due and view["extensions"][0]["reason"] == ext["reason"]
    assert view["due_history"][-1]["kind"] == "extended"

    for who, action, extra in [
        (LAN, "forward", {}),
        (TUAN, "approve", {}),
        (LAN, "issue_result", {"result_number": "15/2026/XNHN"}),
        (HOA, "return_result", {"return_method": "post"}),
    ]:
        view = ok(await act(api, code, actors[who], action, **extra), action)
    assert (view["status"], view["return_method"]) == ("completed", "post")
    assert [(s["step"], s["unit"]["code"]) for s in view["timeline"]] == [
        ("receive", "000.26.01.H29"),
        ("appraise", "000.26.01.H29"),
        ("applicant-supplement", "000.26.01.H29"),
        ("appraise", "000.26.01.H29"),
        ("police_check", POLICE_UNIT),
        ("appraise", "000.26.01.H29"),
        ("approve", "000.26.01.H29"),
        ("issue", "000.26.01.H29"),
        ("return", "000.26.01.H29"),
    ]
    citizen_view = ok(await api.get(f"/api/v1/dossiers/{code}", headers=an), "the citizen's sheet")
    assert citizen_view["timeline"] == view["timeline"] and "allowed_actions" not in citizen_view

    # Notify turned every event into a notification: submitted, accepted, supplement requested, supplemented,
    # transferred, forwarded ×2, extended, approved, result issued, result returned.
    notes = await eventually(lambda: app_notifications(api, code, an, 11))
    subjects = [n["subject"] for n in notes]
    assert f"Hồ sơ {code} cần bổ sung" in subjects
    assert f"Xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}" in subjects
    mails = await eventually(lambda: _mails(system, code, 11))
    apology = next(m for m in mails if str(m["Subject"]).startswith("Xin lỗi"))
    assert ext["reason"] in apology.get_body(preferencelist=("plain",)).get_content()


async def test_refusal_and_rejection(api, actors):
    an = actors["citizen An"]
    refused = (await submit(api, an)).json()["code"]
    await opened_by_processing(api, refused, actors[HOA])
    problem(await act(api, refused, actors[HOA], "refuse"), 422, "validation-error")
    view = ok(await act(api, refused, actors[HOA], "refuse", reason="Hồ sơ không thuộc thẩm quyền"), "refuse")
    assert (view["status"], view["status_label"]) == ("refused", "Từ chối tiếp nhận")

    rejected = (await submit(api, an)).json()["code"]
    await opened_by_processing(api, rejected, actors[HOA])
    ok(await act(api, rejected, actors[HOA], "receive"), "receive")
    problem(await act(api, rejected, actors[LAN], "reject", reason="x"), 403, "forbidden")
    view = ok(await act(api, rejected, actors[TUAN], "reject", reason="Không đủ điều kiện xác nhận"), "reject")
    assert (view["status"], view["rejection_reason"]) == ("rejected", "Không đủ điều kiện xác nhận")
    problem(await act(api, rejected, actors[TUAN], "approve"), 409, "invalid-transition")


async def test_overdue_and_due_soon_are_detected_once(api, system, actors):
    """The running detector announces a dossier due soon, then overdue, once each (its due date is moved into the
    past here, as time would)."""
    an = actors["citizen An"]
    code = (await submit(api, an)).json()["code"]
    await opened_by_processing(api, code, actors[HOA])
    ok(await act(api, code, actors[HOA], "receive"), "receive")
    conn = await asyncpg.connect(system.settings["processing"].dsn)
    try:
        await conn.execute(
            "UPDATE dossiers SET due_soon_at = now() - interval '1 minute', due_at = now() + interval '1 hour'"
            " WHERE code = $1",
            code,
        )
        soon = await eventually(lambda: _notes_with(api, code, an, "sắp đến hạn"))
        await conn.execute("UPDATE dossiers SET due_at = now() - interval '1 minute' WHERE code = $1", code)
        late = await eventually(lambda: _notes_with(api, code, an, "đã quá hạn"))
        await asyncio.sleep(2)  # four more detector passes (0.5 s apart in the e2e settings): nothing new
        marks = await conn.fetchrow(
            "SELECT overdue_notified_at, due_soon_notified_at FROM dossiers WHERE code = $1", code
        )
    finally:
        await conn.close()
    assert marks["overdue_notified_at"] and marks["due_soon_notified_at"]
    assert len(soon) == 1 and len(late) == 1
    assert len(await _notes_with(api, code, an, "đã quá hạn") or []) == 1


async def _notes_with(api, code: str, citizen: dict, text: str) -> list[dict] | None:
    items = await app_notifications(api, code, citizen, 1) or []
    found = [n for n in items if text in n["subject"]]
    return found or None


async def _mails(system, code: str, count: int):
    mails = [m for m in system.mailbox.messages if m["X-Motcua-Dossier-Code"] == code]
    return mails if len(mails) >= count else None
