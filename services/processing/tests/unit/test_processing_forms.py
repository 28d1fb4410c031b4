"""Unit tests of the official forms: each form is rendered with the real fonts, its text extracted back with pypdf,
and the Vietnamese (diacritics included) and the key fields found intact; dates in Vietnamese style and Vietnam
time; deterministic output; a clear error without the fonts."""

import io
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from pypdf import PdfReader

from motcua_common.procedures import TimeBudget
from processing import forms, forms_service
from processing.forms import (
    ApologyForm,
    ControlSheetForm,
    ControlStep,
    DossierRef,
    FormHeader,
    FormNumber,
    ReceiptForm,
    RefusalForm,
    SupplementRequestForm,
)

UNIT = "Ủy ban nhân dân phường Hoàn Kiếm"
CODE = "000.26.01.H29-261123-0007-K7QX"
# 08:30 UTC = 15:30 in Vietnam (UTC+7), on a Monday.
RECEIVED = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
DUE = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
DOSSIER = DossierRef(
    code=CODE,
    procedure="Xác nhận tình trạng hôn nhân (mã thủ tục 1.004873)",
    applicant="Tổ chức có mã số thuế 0101234567",
)


def header(at: datetime = RECEIVED, **extra) -> FormHeader:
    return FormHeader(authority=UNIT, office="Bộ phận Một cửa", issued_at=at, place="Hoàn Kiếm", **extra)


def text_of(pdf: bytes) -> str:
    """The PDF's text, whitespace collapsed (line breaks fall where the layout puts them)."""
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def metadata(pdf: bytes) -> dict:
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    return dict(info)


def receipt(**overrides) -> ReceiptForm:
    values: dict = {
        "header": header(),
        "dossier": DOSSIER,
        "unit_name": UNIT,
        "received_at": RECEIVED,
        "due_at": DUE,
        "components": ("Tờ khai cấp Giấy xác nhận tình trạng hôn nhân",),
        "processing_time": forms.budget_text(TimeBudget(working_days=3)),
        "received_by": "Nguyễn Thị Hoa",
    }
    return ReceiptForm(**(values | overrides))


def control_sheet(steps: tuple[ControlStep, ...] | None = None, as_of: datetime = DUE) -> ControlSheetForm:
    if steps is None:
        steps = (
            ControlStep("Tiếp nhận hồ sơ", UNIT, "Nguyễn Thị Hoa", RECEIVED, DUE, RECEIVED + timedelta(hours=1)),
            ControlStep(
                "Thẩm định, xử lý hồ sơ",
                "Công an phường Hoàn Kiếm",
                "Trần Minh Tuấn",
                RECEIVED + timedelta(hours=1),
                DUE,
                DUE + timedelta(hours=2),
                "Đã xác minh nơi cư trú",
            ),
            ControlStep("Ban hành kết quả", UNIT, None, DUE + timedelta(hours=2), DUE + timedelta(days=1)),
        )
    return ControlSheetForm(
        header=header(),
        dossier=DOSSIER,
        unit_name=UNIT,
        received_at=RECEIVED,
        due_at=DUE,
        steps=steps,
        as_of=as_of,
        cooperating_units=("Công an phường Hoàn Kiếm",),
    )


def test_receipt_01():
    pdf = forms.render(receipt())
    text = text_of(pdf)
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN PHƯỜNG HOÀN KIẾM",
        "BỘ PHẬN MỘT CỬA",
        "Hoàn Kiếm, ngày 23 tháng 11 năm 2026",
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        f"Mã hồ sơ: {CODE}",
        f"Bộ phận Một cửa: {UNIT}",
        "Tiếp nhận hồ sơ của: Tổ chức có mã số thuế 0101234567",
        "Xác nhận tình trạng hôn nhân (mã thủ tục 1.004873)",
        "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân",
        "3 ngày làm việc",
        "Thời gian nhận hồ sơ: 15 giờ 30 phút, ngày 23 tháng 11 năm 2026",
        "Thời gian trả kết quả giải quyết hồ sơ: 15 giờ 30 phút, ngày 26 tháng 11 năm 2026",
        "NGƯỜI NỘP HỒ SƠ",
        "NGƯỜI TIẾP NHẬN HỒ SƠ",
        "(Ký và ghi rõ họ tên)",
        "Nguyễn Thị Hoa",
    ]:
        assert expected in text, expected
    info = metadata(pdf)
    assert info["/Title"] == f"Giấy tiếp nhận hồ sơ và hẹn trả kết quả - {CODE}"
    assert info["/CreationDate"] == "D:20261123153000+07'00'"  # the receipt's own time, in Vietnam time
    assert info["/Author"] == UNIT


def test_receipt_without_components_or_officer_says_where_they_are():
    text = text_of(forms.render(receipt(components=(), processing_time=None, received_by=None)))
    assert "Theo hồ sơ điện tử đã nộp" in text
    assert "Nguyễn Thị Hoa" not in text


def test_supplement_request_02():
    form = SupplementRequestForm(
        header=header(RECEIVED + timedelta(days=1)),
        dossier=DOSSIER,
        requested_at=RECEIVED + timedelta(days=1),
        items=("Bản sao Giấy khai sinh có chứng thực", "Tờ khai ghi thiếu nơi cư trú trước đây"),
        reason="Hồ sơ chưa đủ thành phần theo quy định",
        requested_by="Nguyễn Thị Hoa",
        contact="số điện thoại 024 3825 0000",
        supplement_due_at=RECEIVED + timedelta(days=8),
    )
    text = text_of(forms.render(form))
    for expected in [
        "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
        f"Mã hồ sơ: {CODE}",
        "Hồ sơ của: Tổ chức có mã số thuế 0101234567",
        "1. Bản sao Giấy khai sinh có chứng thực",
        "2. Tờ khai ghi thiếu nơi cư trú trước đây",
        "Lý do: Hồ sơ chưa đủ thành phần theo quy định",
        "Ngày yêu cầu: 15 giờ 30 phút, ngày 24 tháng 11 năm 2026",
        "Thời hạn bổ sung, hoàn thiện hồ sơ: 15 giờ 30 phút, ngày 01 tháng 12 năm 2026",
        "số điện thoại 024 3825 0000",
        "NGƯỜI HƯỚNG DẪN",
        "Hoàn Kiếm, ngày 24 tháng 11 năm 2026",
    ]:
        assert expected in text, expected


def test_refusal_03():
    reason = "Thủ tục không thuộc thẩm quyền của Ủy ban nhân dân phường; đề nghị nộp tại Công an phường."
    form = RefusalForm(header(), DOSSIER, UNIT, RECEIVED, reason, refused_by="Lê Thị Ngọc Ánh")
    text = text_of(forms.render(form))
    for expected in [
        "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
        f"Mã hồ sơ: {CODE}",
        f"Qua xem xét, {UNIT} thông báo không tiếp nhận, giải quyết hồ sơ này",
        reason,
        "Xin thông báo cho Ông/Bà được biết và thực hiện./.",
        "Lê Thị Ngọc Ánh",
    ]:
        assert expected in text, expected


def test_apology_04():
    extended = RECEIVED + timedelta(days=2)
    form = ApologyForm(
        header=FormHeader(authority=UNIT, issued_at=extended, place="Hoàn Kiếm", number="15/UBND-VP"),
        dossier=DOSSIER,
        unit_name=UNIT,
        received_at=RECEIVED,
        due_at=DUE,
        new_due_at=datetime(2026, 12, 2, 2, 0, tzinfo=UTC),
        reason="Cần xác minh thông tin tại nơi cư trú trước đây của người yêu cầu.",
        signer_name="Phạm Quốc Việt",
    )
    text = text_of(forms.render(form))
    for expected in [
        "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
        "Số: 15/UBND-VP",
        "Kính gửi: Tổ chức có mã số thuế 0101234567",
        f"Ngày 23 tháng 11 năm 2026, {UNIT} tiếp nhận hồ sơ",
        "Thời gian hẹn trả kết quả giải quyết hồ sơ: 15 giờ 30 phút, ngày 26 tháng 11 năm 2026",
        "Cần xác minh thông tin tại nơi cư trú trước đây của người yêu cầu.",
        "xin lỗi Ông/Bà",
        "09 giờ 00 phút, ngày 02 tháng 12 năm 2026",
        "THỦ TRƯỞNG CƠ QUAN",
        "Phạm Quốc Việt",
    ]:
        assert expected in text, expected
    assert "BỘ PHẬN MỘT CỬA" not in text  # the agency itself apologises, not its counter


def test_control_sheet_05_lists_every_step_with_its_times_and_result():
    pdf = forms.render(control_sheet())
    text = text_of(pdf)
    for expected in [
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        f"Mã hồ sơ: {CODE}",
        f"Cơ quan (bộ phận) giải quyết hồ sơ: {UNIT}",
        "Cơ quan phối hợp giải quyết hồ sơ: Công an phường Hoàn Kiếm",
        "Tiếp nhận hồ sơ",
        "Thẩm định, xử lý hồ sơ",
        "Ban hành kết quả",
        "Nguyễn Thị Hoa",
        "Trần Minh Tuấn",
        "Chưa phân công",
        "Đã xác minh nơi cư trú",
        "15 giờ 30 23/11/2026",  # entered
        "16 giờ 30 23/11/2026",  # left
        "17 giờ 30 26/11/2026",  # left after its due time
        "Trước hạn",
        "Quá hạn",
        "Đang xử lý",
        "Kết quả giải quyết hồ sơ (trước hạn / đúng hạn / quá hạn): Đang giải quyết",
    ]:
        assert expected in text, expected
    assert metadata(pdf)["/Title"] == f"Phiếu kiểm soát quá trình giải quyết hồ sơ - {CODE}"
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert page.mediabox.width > page.mediabox.height  # A4 landscape, for the table


def test_a_long_control_sheet_runs_over_pages_and_keeps_every_row():
    steps = tuple(
        ControlStep(f"Bước thứ {n} – luân chuyển liên thông", UNIT, f"Cán bộ số {n}", RECEIVED, DUE, DUE)
        for n in range(1, 41)
    )
    pdf = forms.render(control_sheet(steps))
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 1
    text = text_of(pdf)
    assert all(f"Bước thứ {n} – luân chuyển liên thông" in text for n in range(1, 41))


def test_the_a5_forms_are_a5():
    page = PdfReader(io.BytesIO(forms.render(receipt()))).pages[0]
    assert (round(float(page.mediabox.width) / 72 * 25.4), round(float(page.mediabox.height) / 72 * 25.4)) == (148, 210)


def test_same_input_same_bytes_and_the_date_comes_from_the_data():
    assert forms.render(control_sheet()) == forms.render(control_sheet())
    later = forms.render(receipt(header=header(RECEIVED + timedelta(minutes=1))))
    assert later != forms.render(receipt())
    assert metadata(later)["/CreationDate"] == "D:20261123153100+07'00'"


def test_decomposed_input_prints_and_extracts_as_composed_text():
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hoa – Phường Hoàn Kiếm")
    assert nfd != unicodedata.normalize("NFC", nfd)
    text = text_of(forms.render(receipt(received_by=nfd)))
    assert "Nguyễn Thị Hoa – Phường Hoàn Kiếm" in text


def test_control_characters_are_dropped_and_tabs_become_spaces():
    text = text_of(forms.render(receipt(received_by="Nguyễn\x00 Thị\tHoa\x07")))
    assert "Nguyễn Thị Hoa" in text


@pytest.mark.parametrize(
    ("moment", "date", "time"),
    [
        (datetime(2026, 11, 23, 8, 30, tzinfo=UTC), "ngày 23 tháng 11 năm 2026", "15 giờ 30 phút"),
        # Decree 30/2020: a day below 10 and a month below 3 get a leading zero; March and later do not.
        (datetime(2026, 2, 5, 1, 5, tzinfo=UTC), "ngày 05 tháng 02 năm 2026", "08 giờ 05 phút"),
        (datetime(2027, 3, 9, 2, 0, tzinfo=UTC), "ngày 09 tháng 3 năm 2027", "09 giờ 00 phút"),
        # 23:30 UTC on New Year's Eve is already the next year in Vietnam.
        (datetime(2026, 12, 31, 17, 30, tzinfo=UTC), "ngày 01 tháng 01 năm 2027", "00 giờ 30 phút"),
    ],
)
def test_vietnamese_dates_in_vietnam_time(moment, date, time):
    assert forms.vn_date(moment) == date
    assert forms.vn_time(moment) == time
    assert forms.vn_moment(moment) == f"{time}, {date}"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        forms.vn_date(datetime(2026, 11, 23, 15, 30))


def test_budget_text():
    assert forms.budget_text(TimeBudget(working_days=3)) == "3 ngày làm việc"
    assert forms.budget_text(TimeBudget(working_hours=8)) == "8 giờ làm việc"
    assert forms.budget_text(TimeBudget(working_days=0)).startswith("trong ngày làm việc")


def test_step_result():
    step = ControlStep("Thẩm định", UNIT, None, RECEIVED, DUE)
    assert forms.step_result(step, as_of=DUE) == "Đang xử lý"
    assert forms.step_result(step, as_of=DUE + timedelta(seconds=1)) == "Quá hạn, đang xử lý"
    done = {left: ControlStep("Thẩm định", UNIT, None, RECEIVED, DUE, left) for left in (RECEIVED, DUE)}
    assert forms.step_result(done[RECEIVED], as_of=DUE) == "Trước hạn"
    assert forms.step_result(done[DUE], as_of=DUE) == "Đúng hạn"
    late = ControlStep("Thẩm định", UNIT, None, RECEIVED, DUE, DUE + timedelta(minutes=1))
    assert forms.step_result(late, as_of=DUE) == "Quá hạn"


def test_missing_fonts_name_the_debian_package(tmp_path: Path):
    with pytest.raises(forms.FontsMissing) as err:
        forms.render(receipt(), forms.Fonts(tmp_path))
    assert forms.FONT_PACKAGE == "fonts-liberation2" and "fonts-liberation2" in str(err.value)
    assert "LiberationSerif-Regular.ttf" in str(err.value)


def test_every_form_number_has_a_title_and_a_legal_model():
    assert [n.value for n in FormNumber] == ["01", "02", "03", "04", "05"]
    assert set(forms.TITLES) == set(forms.LEGAL_MODEL) == set(FormNumber)
    assert "Mẫu số 06, Thông tư 03/2025/TT-VPCP" in forms.LEGAL_MODEL[FormNumber.CONTROL_SHEET]


# ---------------------------------------------------------------------------------------------------------------
# What processing's data becomes on the forms (forms_service's pure helpers)


def test_applicant_as_processing_knows_them():
    citizen = {"applicant_kind": "citizen", "applicant_tax_code": None}
    organisation = {"applicant_kind": "organisation", "applicant_tax_code": "0101234567"}
    assert forms_service.applicant_label(citizen) == forms_service.CITIZEN_APPLICANT
    assert forms_service.applicant_label(organisation) == "Tổ chức có mã số thuế 0101234567"


@pytest.mark.parametrize(
    ("unit", "place"),
    [
        ("Ủy ban nhân dân phường Hoàn Kiếm", "Hoàn Kiếm"),
        ("Công an phường Hoàn Kiếm", "Hoàn Kiếm"),
        ("UBND xã Đông Anh", "Đông Anh"),
        ("Trung tâm Phục vụ hành chính công thành phố Hà Nội", "Hà Nội"),
        ("Đơn vị 000.00.01.H29", None),
    ],
)
def test_place_of_a_unit(unit, place):
    assert forms_service.place_of(unit) == place


def test_content_disposition_has_an_ascii_name_and_the_vietnamese_one():
    value = forms_service.content_disposition(FormNumber.CONTROL_SHEET, CODE)
    assert value.isascii()
    assert f'filename="mau-05-{CODE}.pdf"' in value
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == f"Phiếu kiểm soát quá trình giải quyết hồ sơ {CODE}.pdf"


def test_refused_at_reception_is_the_first_step_refused():
    refused = {"completed_at": RECEIVED, "outcome": "rejected"}
    accepted = {"completed_at": RECEIVED, "outcome": "accepted"}
    assert forms_service.refused_at_reception([refused]) == refused
    assert forms_service.refused_at_reception([accepted, refused]) is None  # refused after appraisal: no form 03
    assert forms_service.refused_at_reception([]) is None
