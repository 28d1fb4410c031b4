"""The official forms endpoint on the real PostgreSQL: who may fetch each form of a dossier (exactly those who may
see its tracking), which forms apply to it, and what the PDFs say (text extracted back with pypdf)."""

import io
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from pypdf import PdfReader

from motcua_common.auth import APPROVER, RECEIVING_OFFICER, SCOPE_DOSSIERS_READ, SCOPE_POST_SUBMIT, UNIT_HEAD
from motcua_common.problems import PROBLEM_JSON
from motcua_common.testing_auth import TestIssuer
from processing import forms

FORMS = ("01", "02", "03", "04", "05")


def pdf_text(resp) -> str:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "private, no-store"
    reader = PdfReader(io.BytesIO(resp.content))
    return " ".join(" ".join(p.extract_text() for p in reader.pages).split())


def problem(resp, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["type"].endswith("/" + slug), body
    return body


@pytest.fixture
def people(issuer: TestIssuer):
    """Two units; the applicant Ánh and a stranger Dũng; officers of each unit; partners."""
    unit, other = f"U{uuid.uuid4().hex[:6]}.H29", f"U{uuid.uuid4().hex[:6]}.H29"
    anh, dung = f"anh-{uuid.uuid4().hex[:6]}", f"dung-{uuid.uuid4().hex[:6]}"

    def officer(unit_code: str, *roles: str, name: str) -> dict:
        return issuer.bearer(issuer.officer(unit_code, *roles, sub=f"o-{uuid.uuid4().hex[:6]}", name=name))

    return {
        "unit": unit,
        "other_unit": other,
        "anh": anh,
        "applicant": issuer.bearer(issuer.citizen("001190001234", sub=anh)),
        "stranger": issuer.bearer(issuer.citizen("001090009999", sub=dung)),
        "receiving officer": officer(unit, RECEIVING_OFFICER, name="Nguyễn Thị Hoà"),
        "approver": officer(unit, APPROVER, name="Trần Đức Thắng"),
        "officer of another unit": officer(other, UNIT_HEAD, RECEIVING_OFFICER, name="Lê Văn Bình"),
        "partner with dossiers:read": issuer.bearer(issuer.partner("provincial-system", SCOPE_DOSSIERS_READ)),
        "partner of another unit": issuer.bearer(issuer.partner("vcci", SCOPE_DOSSIERS_READ, unit="VCCI.HN")),
        "partner without dossiers:read": issuer.bearer(issuer.partner("vietnam-post", SCOPE_POST_SUBMIT)),
    }


async def _dossier(make_submission, open_case, people, **extra) -> str:
    received = datetime(2026, 11, 23, 2, 15, tzinfo=UTC)  # 09:15 in Vietnam
    data, event = make_submission(
        unit_code=people["unit"], applicant=people["anh"], received_at=received, due_in=timedelta(days=3), **extra
    )
    await open_case(event)
    return data.dossier_code


async def _act(client, code: str, action: str, headers: dict, body: dict | None = None) -> None:
    resp = await client.post(f"/api/v1/dossiers/{code}/actions/{action}", json=body, headers=headers)
    assert resp.status_code == 200, resp.text


async def test_who_may_fetch_the_forms(client, make_submission, open_case, people):
    code = await _dossier(make_submission, open_case, people)
    unknown = problem(
        await client.get("/api/v1/dossiers/KHONG-CO-MA-NAY/forms/01", headers=people["applicant"]),
        404,
        "dossier-not-found",
    )
    allowed = {"applicant", "receiving officer", "approver", "partner with dossiers:read"}
    refused = {"stranger", "officer of another unit", "partner of another unit", "partner without dossiers:read"}
    for who in sorted(allowed | refused):
        for form in ("01", "05"):
            resp = await client.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=people[who])
            tracking = await client.get(f"/api/v1/dossiers/{code}", headers=people[who])
            if who in allowed:
                assert code in pdf_text(resp), (who, form)
                assert tracking.status_code == 200, who  # the same people see the tracking…
            else:
                body = problem(resp, 404, "dossier-not-found")
                assert (body["title"], body["status"]) == (unknown["title"], unknown["status"]), who
                assert tracking.status_code == 404, who  # …and the same are refused it
        # A form that does not apply is not confirmed to those who may not see the dossier either.
        if who in refused:
            problem(
                await client.get(f"/api/v1/dossiers/{code}/forms/03", headers=people[who]), 404, "dossier-not-found"
            )
    problem(await client.get(f"/api/v1/dossiers/{code}/forms/01"), 401, "unauthorized")


async def test_receipt_and_control_sheet_of_a_dossier_on_the_officer_path(client, make_submission, open_case, people):
    code = await _dossier(make_submission, open_case, people)
    await _act(client, code, "accept", people["receiving officer"], {"note": "Hồ sơ đầy đủ, hợp lệ"})
    await _act(client, code, "approve", people["approver"])

    resp = await client.get(f"/api/v1/dossiers/{code}/forms/01", headers=people["applicant"])
    receipt = pdf_text(resp)
    # The legal clock starts when the officer receives the dossier: the appointment is the due date set then.
    view = (await client.get(f"/api/v1/dossiers/{code}", headers=people["applicant"])).json()
    appointment = datetime.fromisoformat(view["due_history"][0]["due_at"])
    for expected in [
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        f"Mã hồ sơ: {code}",
        "Thời gian nhận hồ sơ: 09 giờ 15 phút, ngày 23 tháng 11 năm 2026",
        f"Thời gian trả kết quả giải quyết hồ sơ: {forms.vn_moment(appointment)}",
        "Tiếp nhận hồ sơ của: Công dân",
        "Nguyễn Thị Hoà",  # the officer who received it signs
    ]:
        assert expected in receipt, expected
    assert "001190001234" not in receipt  # no personal id: processing holds none
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("inline; ") and f'filename="mau-01-{code}.pdf"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"Giấy tiếp nhận hồ sơ và hẹn trả kết quả {code}.pdf"

    sheet = pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/05", headers=people["receiving officer"]))
    for expected in [
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        f"Mã hồ sơ: {code}",
        "Tiếp nhận hồ sơ",
        "Thẩm định, xử lý hồ sơ",
        "Ban hành kết quả",
        "Nguyễn Thị Hoà",
        "Trần Đức Thắng",
        "Đã tiếp nhận; Hồ sơ đầy đủ, hợp lệ",
        "Đã phê duyệt",
        "09 giờ 15 23/11/2026",
        "Kết quả giải quyết hồ sơ (trước hạn / đúng hạn / quá hạn): Đang giải quyết",
    ]:
        assert expected in sheet, expected

    for form in ("02", "03", "04"):  # not refused, no supplement request, no extension (yet: see below)
        body = problem(
            await client.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=people["applicant"]),
            404,
            "form-not-available",
        )
        assert body["title"] == "Hồ sơ không có biểu mẫu này"


async def test_supplement_request_and_apology_give_forms_02_and_04(
    app, client, make_submission, open_case, people, issuer
):
    code = await _dossier(make_submission, open_case, people)
    await _act(client, code, "accept", people["receiving officer"])
    ask = {"action": "request_supplement", "reason": "Tờ khai chưa có chữ ký", "components_requested": ["Tờ khai"]}
    resp = await client.post(f"/api/v1/dossiers/{code}/actions", json=ask, headers=people["approver"])
    assert resp.status_code == 200, resp.text
    request = pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/02", headers=people["applicant"]))
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in request.upper()
    for expected in [f"Mã hồ sơ: {code}", "Tờ khai chưa có chữ ký", "Trần Đức Thắng"]:
        assert expected in request, expected
    resp = await client.post(
        f"/api/v1/dossiers/{code}/supplements", json={"note": "Đã ký tờ khai"}, headers=people["applicant"]
    )
    assert resp.status_code == 200, resp.text
    clock = app.state.clock.legal
    due = datetime.fromisoformat(resp.json()["due_at"]).astimezone(clock.tz)
    new_due = datetime.combine(clock.calendar.add_working_days(due.date(), 2), due.time(), clock.tz)
    head = issuer.bearer(issuer.officer(people["unit"], UNIT_HEAD, sub="head-1", name="Vũ Hồng Sơn"))
    ext = {"reason": "Cần xác minh thêm với cơ quan khác", "new_due_at": new_due.isoformat()}
    resp = await client.post(f"/api/v1/dossiers/{code}/extensions", json=ext, headers=head)
    assert resp.status_code == 200, resp.text
    apology = pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/04", headers=people["applicant"]))
    for expected in [f"Mã hồ sơ: {code}", ext["reason"], "Vũ Hồng Sơn", forms.vn_date(new_due)]:
        assert expected in apology, expected


async def test_refusal_at_reception_gives_form_03_and_no_receipt(client, make_submission, open_case, people):
    code = await _dossier(make_submission, open_case, people)
    reason = "Thủ tục không thuộc thẩm quyền giải quyết của đơn vị; đề nghị nộp tại Công an phường."
    await _act(client, code, "reject", people["receiving officer"], {"reason": reason})
    refusal = pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/03", headers=people["applicant"]))
    for expected in ["PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", f"Mã hồ sơ: {code}", reason, "Nguyễn Thị Hoà"]:
        assert expected in refusal, expected
    problem(
        await client.get(f"/api/v1/dossiers/{code}/forms/01", headers=people["applicant"]), 404, "form-not-available"
    )
    sheet = pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/05", headers=people["applicant"]))
    assert "Từ chối" in sheet


async def test_refusal_after_appraisal_is_no_form_03(client, make_submission, open_case, people):
    code = await _dossier(make_submission, open_case, people)
    await _act(client, code, "accept", people["receiving officer"])
    await _act(client, code, "reject", people["approver"], {"reason": "Không đủ điều kiện theo quy định"})
    problem(
        await client.get(f"/api/v1/dossiers/{code}/forms/03", headers=people["applicant"]), 404, "form-not-available"
    )
    assert code in pdf_text(await client.get(f"/api/v1/dossiers/{code}/forms/01", headers=people["applicant"]))


async def test_an_organisation_is_named_by_its_tax_code(client, make_submission, open_case, people):
    data, event = make_submission(unit_code=people["unit"], tax_code="0109998887", submitter=people["anh"])
    await open_case(event)
    text = pdf_text(await client.get(f"/api/v1/dossiers/{data.dossier_code}/forms/01", headers=people["applicant"]))
    assert "Tiếp nhận hồ sơ của: Tổ chức có mã số thuế 0109998887" in text


@pytest.mark.parametrize("form", ["06", "1", "00", "abc"])
async def test_unknown_form_numbers_are_422(client, make_submission, open_case, people, form):
    code = await _dossier(make_submission, open_case, people)
    problem(
        await client.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=people["applicant"]), 422, "validation-error"
    )


async def test_without_the_fonts_a_503_names_the_package(
    app, client, make_submission, open_case, people, tmp_path, monkeypatch
):
    code = await _dossier(make_submission, open_case, people)
    monkeypatch.setattr(app.state.settings, "forms_font_dir", tmp_path)
    body = problem(
        await client.get(f"/api/v1/dossiers/{code}/forms/05", headers=people["applicant"]), 503, "forms-unavailable"
    )
    assert "fonts-liberation2" in body["detail"]


async def test_every_form_of_the_list_is_served_or_said_not_to_apply(client, make_submission, open_case, people):
    code = await _dossier(make_submission, open_case, people)
    answers = {
        form: (await client.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=people["applicant"])).status_code
        for form in FORMS
    }
    assert answers == {"01": 200, "02": 404, "03": 404, "04": 404, "05": 200}


async def test_the_control_sheet_is_never_dated_in_the_future(client, make_submission, open_case, people):
    """An after-hours submission counts as received the next working day: the sheet is dated today, not then."""
    before = datetime.now(UTC)
    data, event = make_submission(
        unit_code=people["unit"], applicant=people["anh"], received_at=before + timedelta(days=2)
    )
    await open_case(event)
    sheet = pdf_text(await client.get(f"/api/v1/dossiers/{data.dossier_code}/forms/05", headers=people["applicant"]))
    today = {forms.vn_date(t).capitalize() for t in (before, datetime.now(UTC))}
    assert any(line in sheet for line in today), (today, sheet[:400])
    assert forms.vn_date(before + timedelta(days=2)).capitalize() not in sheet
