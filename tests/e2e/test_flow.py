"""One dossier end to end, through the gateway only, on the real servers: a citizen logged in with PKCE submits,
officers of the competent unit work it each with their own role, the citizen follows it and is notified."""

import uuid

import pytest

from .conftest import eventually

AN = "001090001234"  # demo citizen with e-mail an.nguyen@example.vn
STEPS = ["receive", "appraise", "approve", "issue", "return"]  # 1.004873 as shipped (catalogue/1.004873.v1.json)
HOA, LAN, TUAN = "officer hoa (receiving, UBND)", "officer lan (specialist, UBND)", "officer tuan (approver, UBND)"


def problem(resp, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert body["type"].endswith("/" + slug), body
    assert body["title"] and body["status"] == status
    return body


async def submit(api, headers: dict, procedure: str = "1.004873", key: str | None = None, **extra):
    body = {"procedure_code": procedure, **extra}
    return await api.post(
        "/api/v1/dossiers", json=body, headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())}
    )


async def opened_by_processing(api, code: str, officer: dict) -> dict:
    """Wait until processing has consumed ``dossier.submitted`` and shows the case in the unit's queue."""

    async def check():
        resp = await api.get("/api/v1/work-queue", params={"status": "submitted", "limit": 100}, headers=officer)
        return code in {i["code"] for i in resp.json()["items"]}

    await eventually(check)
    return (await api.get(f"/api/v1/dossiers/{code}", headers=officer)).json()


async def test_catalogue_through_the_gateway(api):
    page = (await api.get("/api/v1/procedures", params={"limit": 100})).json()
    assert len(page["items"]) >= 5
    detail = (await api.get("/api/v1/procedures/1.001193")).json()
    assert detail["name"] == "Đăng ký khai sinh" and detail["components"]
    problem(await api.get("/api/v1/procedures/0.000000"), 404, "procedure-not-found")


async def test_a_dossier_goes_from_submission_to_returned_result(api, system, actors):
    an = actors["citizen An"]
    key = str(uuid.uuid4())
    resp = await submit(api, an, key=key)
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    code = receipt["code"]
    # prefilled from the real population registry (citizen-id), not typed by the applicant
    assert receipt["applicant"]["full_name"] == "Nguyễn Văn An"
    assert receipt["applicant"]["permanent_address"]
    assert receipt["applicant"]["date_of_birth"].startswith("1990")
    assert receipt["field_origins"]["full_name"] == "registry"
    again = await submit(api, an, key=key)
    assert again.status_code == 201 and again.json()["code"] == code
    assert again.headers["idempotent-replayed"] == "true"

    view = await opened_by_processing(api, code, actors[HOA])
    assert view["status"] == "submitted" and view["due_at"]

    problem(
        await api.post(f"/api/v1/dossiers/{code}/actions/approve", json={}, headers=actors[TUAN]),
        409,
        "invalid-transition",
    )
    problem(await api.post(f"/api/v1/dossiers/{code}/actions/accept", json={}), 401, "unauthorized")
    for who, action, body in [
        (HOA, "receive", {"note": "Hồ sơ đầy đủ"}),
        (LAN, "forward", {}),
        (TUAN, "approve", {}),
        (LAN, "issue_result", {}),
        (HOA, "return_result", {"return_method": "online"}),
    ]:
        resp = await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=actors[who])
        assert resp.status_code == 200, (action, resp.text)
    problem(
        await api.post(f"/api/v1/dossiers/{code}/actions/accept", json={}, headers=actors[HOA]),
        409,
        "invalid-transition",
    )

    view = (await api.get(f"/api/v1/dossiers/{code}", headers=an)).json()
    assert view["status"] == "completed" and view["status_label"] == "Đã trả kết quả"
    assert view["timeliness"] in {"early", "on_time"}
    assert [s["step"] for s in view["timeline"]] == STEPS
    assert [s["handler"] for s in view["timeline"]] == [
        "hoa.tiepnhan",
        "lan.chuyenvien",
        "tuan.lanhdao",
        "lan.chuyenvien",
        "hoa.tiepnhan",
    ]
    for step in view["timeline"]:
        assert step["unit"]["code"] == receipt["unit"]["code"]
        assert step["entered_at"] and step["completed_at"] and step["due_at"]

    # one e-mail per event: submitted, accepted, forwarded, approved, result issued, result returned
    mails = await eventually(lambda: _mails(system, code, 6))
    subjects = [str(m["Subject"]) for m in mails]
    assert f"Hồ sơ {code} đã được tiếp nhận" in subjects
    assert any("hoàn thành" in s for s in subjects)
    assert all(str(m["To"]).endswith("an.nguyen@example.vn") for m in mails)
    notes = (await api.get(f"/api/v1/dossiers/{code}/notifications", params={"limit": 100}, headers=an)).json()["items"]
    assert {n["channel"] for n in notes} >= {"app", "email"}
    assert len([n for n in notes if n["channel"] == "app"]) == 6


async def test_a_rejection_reaches_the_citizen_with_its_reason(api, system, actors):
    binh, police = actors["citizen Bình"], actors["officer minh (police)"]
    code = (await submit(api, binh, procedure="1.004194")).json()["code"]
    await opened_by_processing(api, code, police)
    problem(
        await api.post(f"/api/v1/dossiers/{code}/actions/reject", json={}, headers=police),
        422,
        "validation-error",
    )
    reason = "Giấy tờ chứng minh chỗ ở không hợp lệ"
    resp = await api.post(f"/api/v1/dossiers/{code}/actions/reject", json={"reason": reason}, headers=police)
    assert resp.status_code == 200
    view = (await api.get(f"/api/v1/dossiers/{code}", headers=binh)).json()
    # At the reception step the deprecated /reject stands for `refuse`: refused to receive (form 03).
    assert view["status"] == "refused" and view["rejection_reason"] == reason
    mails = await eventually(lambda: _mails(system, code, 2))
    rejected = [m for m in mails if "không được tiếp nhận" in str(m["Subject"])]
    assert rejected and reason in rejected[0].get_body(preferencelist=("plain",)).get_content()


async def test_tracking_answers_right_after_submission(api, actors):
    an = actors["citizen An"]
    code = (await submit(api, an)).json()["code"]
    view = await api.get(f"/api/v1/dossiers/{code}", headers=an)
    assert view.status_code == 200
    assert view.json()["code"] == code and view.json()["timeline"][0]["step"] == "receive"
    public = await api.get(f"/api/v1/public/dossiers/{code}")
    assert public.status_code == 200 and public.json()["status"] == "submitted"
    problem(await api.get("/api/v1/dossiers/000.26.01.H29-000101-9999-AAAAAA", headers=an), 404, "dossier-not-found")


def at_counter(personal_id) -> dict:
    return {
        "procedure_code": "1.004873",
        "channel": "counter",
        "applicant": {"kind": "citizen", "personal_id": personal_id},
    }


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({**at_counter(AN), "procedure_code": "9.999999"}, 422, "procedure-not-found"),
        (at_counter("0010900012"), 422, "validation-error"),
        (at_counter("999090001234"), 422, "invalid-personal-id"),
        (at_counter("001790001234"), 422, "invalid-personal-id"),
        (at_counter("001090999999"), 422, "applicant-not-found"),
        (at_counter("036045000999"), 422, "applicant-not-active"),
        ({"channel": "counter", "applicant": {"personal_id": AN}}, 422, "validation-error"),
        ({**at_counter(AN), "procedure_code": 1004873}, 422, "validation-error"),
        ({**at_counter(AN), "channel": 5}, 422, "validation-error"),
        ({**at_counter(AN), "applicant": {"kind": "organisation", "personal_id": AN}}, 422, "validation-error"),
        ([1, 2, 3], 422, "validation-error"),
    ],
)
async def test_bad_input_gets_a_problem_not_a_500(api, actors, body, status, slug):
    """At the counter a receiving officer may take a dossier for anyone, so every answer of the registry shows."""
    officer = actors[HOA]
    resp = await api.post("/api/v1/dossiers", json=body, headers={**officer, "Idempotency-Key": str(uuid.uuid4())})
    problem(resp, status, slug)


async def test_malformed_and_oversized_bodies(api, system, actors):
    an = actors["citizen An"]
    resp = await api.post(
        "/api/v1/dossiers",
        content=b"{not json",
        headers={**an, "Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"},
    )
    problem(resp, 400, "malformed-json")
    limit = system.settings["gateway"].max_body_bytes
    resp = await api.post(
        "/api/v1/dossiers",
        content=b"x" * (limit + 1),
        headers={**an, "Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"},
    )
    problem(resp, 413, "payload-too-large")
    problem(
        await api.post("/api/v1/dossiers", json={"procedure_code": "1.004873"}, headers=an),
        400,
        "idempotency-key-required",
    )


async def test_every_response_has_a_request_id(api):
    ok = await api.get("/api/v1/procedures")
    bad = await api.get("/api/v1/procedures/none", headers={"X-Request-ID": "mine-42"})
    assert len(ok.headers["x-request-id"]) >= 16
    assert bad.headers["x-request-id"] == "mine-42" and bad.json()["request_id"] == "mine-42"


async def _mails(system, code: str, count: int):
    mails = [m for m in system.mailbox.messages if m["X-Motcua-Dossier-Code"] == code]
    return mails if len(mails) >= count else None
