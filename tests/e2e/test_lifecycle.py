"""The whole life of dossiers on the generic engine, through the gateway only, on the real servers: every kind of
transition (receive, refuse, request_supplement, forward, transfer, approve, reject, issue_result, return_result),
a supplement that pauses and resumes the clock, a transfer to the commune police and back, an extension with its
apology by e-mail, overdue and due-soon detection by the running detector, and the notifications each causes."""

import asyncio
import uuid
from datetime import datetime

import asyncpg

from .conftest import INTER_AGENCY, eventually
from .test_flow import AN, opened_by_processing, problem, submit

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


UBND = "000.26.01.H29"
# The demo officers: unit and roles (citizen-id's accounts).
OFFICERS = {
    HOA: (UBND, {"receiving_officer"}),
    LAN: (UBND, {"specialist"}),
    TUAN: (UBND, {"approver"}),
    SON: (UBND, {"unit_head"}),
    MINH: (POLICE_UNIT, {"receiving_officer", "specialist", "approver"}),
}
# How the walk below drives a dossier: the first of these the step offers (refuse and reject end it early).
PREFERENCE = ["receive", "request_supplement", "transfer", "forward", "approve", "issue_result", "return_result"]


async def test_an_inter_agency_dossier_runs_to_its_end(api, system, actors):
    """The procedure whose definition transfers to another agency, driven from its definition alone: at each step
    the officer of the unit holding it whose roles the step names takes the first kind it offers (a supplement
    once, the transfer once), with a supplement by the applicant, an extension by the unit head, and the result
    returned by post."""
    an, dung = actors["citizen An"], actors["citizen Dung"]
    # Taken at the counter (the procedure is not offered online) for An.
    resp = await submit(
        api, actors[HOA], procedure=INTER_AGENCY, channel="counter", applicant={"kind": "citizen", "personal_id": AN}
    )
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]
    view = await opened_by_processing(api, code, actors[HOA])
    first = view["current_step"]

    # What each caller may do now; an action the step does not offer is a 409 listing those it does.
    offered = [
        a["action"] for a in ok(await api.get(f"/api/v1/dossiers/{code}/actions", headers=actors[HOA]), "")["actions"]
    ]
    assert "receive" in offered and "approve" not in offered
    assert ok(await api.get(f"/api/v1/dossiers/{code}/actions", headers=an), "an's actions")["actions"] == []
    problem(await api.get(f"/api/v1/dossiers/{code}/actions", headers=dung), 404, "dossier-not-found")
    refused = problem(await act(api, code, actors[HOA], "approve"), 409, "invalid-transition")
    assert refused["allowed_actions"] == offered
    problem(await act(api, code, actors[MINH], "receive"), 404, "dossier-not-found")  # the police: not yet theirs
    problem(await act(api, code, actors[LAN], "receive"), 403, "forbidden")  # the unit, without the role

    done: set[str] = set()
    extended = False
    for _ in range(30):
        view = ok(await api.get(f"/api/v1/dossiers/{code}", headers=actors[SON]), "the unit head reads")
        if view["status"] == "completed":
            break
        if "transfer" in done and view["current_unit"]["code"] == UBND and not extended:
            await _extend(api, system, actors, code, view)
            extended = True
            continue
        who, action = await _next_move(api, actors, code, view, done)
        if action["action"] == "request_supplement":
            await _supplement_round(api, actors, code, who, an, dung)
        else:
            body: dict = {}
            if "transfer_unit_code" in action["needs"]:
                body["transfer_unit_code"] = POLICE_UNIT
            if action["action"] == "return_result":
                body["return_method"] = "post"
            ok(await act(api, code, actors[who], action["action"], **body), f"{who}: {action['action']}")
        done.add(action["action"])
    assert view["status"] == "completed" and view["return_method"] == "post", view
    assert {"receive", "request_supplement", "transfer", "issue_result", "return_result"} <= done
    assert extended
    units = [s["unit"]["code"] for s in view["timeline"]]
    assert POLICE_UNIT in units and units[-1] != POLICE_UNIT and view["timeline"][0]["step"] == first
    outcomes = [s["outcome"] for s in view["timeline"]]
    assert {"accepted", "supplement_requested", "supplemented", "transferred", "issued", "returned"} <= set(outcomes)
    assert all(s["entered_at"] and s["completed_at"] and s["due_at"] and s["unit"]["name"] for s in view["timeline"])
    kinds = [c["kind"] for c in view["due_history"]]
    assert kinds[0] == "received" and "paused" in kinds and "extended" in kinds
    assert {"resumed", "restarted"} & set(kinds)
    citizen_view = ok(await api.get(f"/api/v1/dossiers/{code}", headers=an), "the citizen's sheet")
    assert citizen_view["timeline"] == view["timeline"] and "allowed_actions" not in citizen_view

    # Notify turned every event into a notification for the applicant (and an e-mail: she gave an address).
    conn = await asyncpg.connect(system.settings["processing"].dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND topic = $2",
            view["id"],
            system.settings["processing"].dossier_topic,
        )
    finally:
        await conn.close()
    notes = await eventually(lambda: app_notifications(api, code, an, events + 1))  # + intake's submitted
    subjects = [n["subject"] for n in notes]
    assert f"Hồ sơ {code} cần bổ sung" in subjects
    assert f"Xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}" in subjects
    mails = await eventually(lambda: _mails(system, code, events + 1))
    apology = next(m for m in mails if str(m["Subject"]).startswith("Xin lỗi"))
    assert "Cần thêm thời gian xác minh" in apology.get_body(preferencelist=("plain",)).get_content()


async def _next_move(api, actors, code: str, view: dict, done: set[str]) -> tuple[str, dict]:
    """The officer of the unit holding the step who may act on it, and the action to take: a supplement request
    once, a transfer once unless it is the step's only way on (the way back from the other agency)."""
    moves: list[tuple[int, str, dict]] = []
    for who, (unit, _) in OFFICERS.items():
        if unit != view["current_unit"]["code"]:
            continue
        for action in ok(await api.get(f"/api/v1/dossiers/{code}/actions", headers=actors[who]), who)["actions"]:
            kind = action["action"]
            if kind in PREFERENCE and not (kind == "request_supplement" and kind in done):
                again = kind == "transfer" and kind in done
                moves.append((PREFERENCE.index(kind) + (100 if again else 0), who, action))
    if moves:
        _, who, action = min(moves, key=lambda m: m[0])
        return who, action
    raise AssertionError(f"nobody can move step {view['current_step']} at {view['current_unit']}")


async def _supplement_round(api, actors, code: str, asker: str, an: dict, dung: dict) -> None:
    """The step's officer asks for a document; the clock pauses; the applicant adds it from her vault."""
    problem(await act(api, code, actors[asker], "request_supplement"), 422, "validation-error")  # no reason
    view = ok(
        await act(
            api, code, actors[asker], "request_supplement", reason="Giấy tờ đã hết hạn", components_requested=["GT"]
        ),
        "request a supplement",
    )
    assert view["status"] == "supplement_requested" and view["paused_at"]
    public = ok(await api.get(f"/api/v1/public/dossiers/{code}"), "public lookup")
    assert (public["status_label"], public["current_step_name"]) == ("Chờ bổ sung hồ sơ", "Công dân bổ sung hồ sơ")
    problem(await act(api, code, actors[asker], "forward"), 409, "invalid-transition")  # nothing while paused
    upload = await api.post(
        "/api/v1/me/documents",
        headers=an,
        data={"doc_type": "GT"},
        files={"file": ("giay-to.pdf", b"%PDF-1.4\n% bo sung\n", "application/pdf")},
    )
    assert upload.status_code == 201, upload.text
    url = f"/api/v1/dossiers/{code}/supplements"
    body = {"note": "Đã bổ sung giấy tờ còn hạn", "document_ids": [upload.json()["id"]]}
    problem(await api.post(url, json=body, headers=dung), 404, "dossier-not-found")
    problem(await api.post(url, json=body, headers=actors[TUAN]), 403, "forbidden")
    back = ok(await api.post(url, json=body, headers={**an, "Idempotency-Key": str(uuid.uuid4())}), "supplement")
    assert back["paused_at"] is None and back["current_step"] == view["current_step"]
    assert back["supplement_requests"][-1]["document_count"] == 1


async def _extend(api, system, actors, code: str, view: dict) -> None:
    """Form 04 by the unit head: a later appointment on a working day, with If-Match."""
    clock = system.apps["processing"].state.clock.legal
    due = datetime.fromisoformat(view["due_at"]).astimezone(clock.tz)
    new_due = datetime.combine(clock.calendar.add_working_days(due.date(), 3), due.time(), clock.tz)
    ext = {"reason": "Cần thêm thời gian xác minh tại cơ quan công an", "new_due_at": new_due.isoformat()}
    url = f"/api/v1/dossiers/{code}/extensions"
    problem(await api.post(url, json=ext, headers=actors[LAN]), 403, "forbidden")
    problem(await api.post(url, json=ext, headers={**actors[SON], "If-Match": '"1"'}), 412, "precondition-failed")
    etag = (await api.get(f"/api/v1/dossiers/{code}", headers=actors[SON])).headers["etag"]
    done = ok(await api.post(url, json=ext, headers={**actors[SON], "If-Match": etag}), "extend")
    assert datetime.fromisoformat(done["due_at"]) == new_due and done["extensions"][-1]["reason"] == ext["reason"]
    assert done["legal_due_at"] == view["legal_due_at"]


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
    problem(await act(api, rejected, actors[LAN], "reject", reason="x"), 409, "invalid-transition")  # appraisal
    ok(await act(api, rejected, actors[LAN], "forward"), "to approval")
    problem(await act(api, rejected, actors[HOA], "reject", reason="x"), 403, "forbidden")  # not an approver
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
