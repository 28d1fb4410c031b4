"""The official forms through the gateway on the real servers: a dossier worked by the officers of its unit, then
its receipt (01) and control sheet (05) as PDFs for the citizen and the officers who may see it, and for nobody
else; the Vietnamese text extracted back intact."""

import io
from urllib.parse import unquote

from pypdf import PdfReader

from .test_flow import HOA, LAN, TUAN, opened_by_processing, problem, submit

UNIT_NAME = "Ủy ban nhân dân phường Hoàn Kiếm"


def pdf_text(resp) -> str:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(resp.content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


async def test_receipt_and_control_sheet_of_a_worked_dossier(api, actors):
    an = actors["citizen An"]
    code = (await submit(api, an)).json()["code"]
    await opened_by_processing(api, code, actors[HOA])
    for who, action in [(HOA, "receive"), (LAN, "forward"), (TUAN, "approve"), (LAN, "issue_result")]:
        resp = await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action}, headers=actors[who])
        assert resp.status_code == 200, (action, resp.text)

    receipt_resp = await api.get(f"/api/v1/dossiers/{code}/forms/01", headers=an)
    receipt = pdf_text(receipt_resp)
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        f"Mã hồ sơ: {code}",
        f"Bộ phận Một cửa: {UNIT_NAME}",
        "Xác nhận tình trạng hôn nhân (mã thủ tục 1.004873)",
        "Hoàn Kiếm, ngày",
        "Nguyễn Thị Hoa",  # the receiving officer, by the name in her token
    ]:
        assert expected in receipt, expected
    assert "Nguyễn Văn An" not in receipt and "001090001234" not in receipt  # processing holds no personal data
    # The gateway passes the file's name on: ASCII for old clients, Vietnamese in RFC 5987 form.
    disposition = receipt_resp.headers["content-disposition"]
    assert f'filename="mau-01-{code}.pdf"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"Giấy tiếp nhận hồ sơ và hẹn trả kết quả {code}.pdf"
    assert receipt_resp.headers["x-content-type-options"] == "nosniff"

    sheet = pdf_text(await api.get(f"/api/v1/dossiers/{code}/forms/05", headers=actors[HOA]))
    for expected in [
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        f"Mã hồ sơ: {code}",
        "Tiếp nhận hồ sơ",
        "Thẩm định, xử lý hồ sơ",
        "Ban hành kết quả",
        "Trả kết quả",
        "Nguyễn Thị Hoa",
        "Phạm Anh Tuấn",
        "Lê Thị Lan",
        "Đã tiếp nhận",
        "Đã phê duyệt",
        "Đã ban hành kết quả",
        "Trước hạn",
    ]:
        assert expected in sheet, expected
    # The operator of the province sees every unit's dossiers, and so their forms.
    assert code in pdf_text(
        await api.get(f"/api/v1/dossiers/{code}/forms/05", headers=actors["operator quan (province)"])
    )

    for who in ("citizen Bình", "officer minh (police)", "partner vietnam-post"):
        for form in ("01", "05"):
            problem(
                await api.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=actors[who]), 404, "dossier-not-found"
            )
    problem(await api.get(f"/api/v1/dossiers/{code}/forms/03", headers=an), 404, "form-not-available")
    problem(await api.get(f"/api/v1/dossiers/{code}/forms/05"), 401, "unauthorized")
    problem(await api.get(f"/api/v1/dossiers/{code}/forms/07", headers=an), 422, "validation-error")
