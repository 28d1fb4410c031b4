"""The official one-stop forms as PDF: pure rendering from dataclasses to bytes (no database, no HTTP).

Layout after the appendix of Circular 01/2018/TT-VPCP, with the name Circular 03/2025/TT-VPCP (in force since 15 Sep
2025, for Decree 118/2025/NĐ-CP) gives the receiving counter: Bộ phận Một cửa. The API keeps the numbering of issue 6
and domain.md (01 receipt … 05 control sheet). Circular 03/2025's appendix renumbers: the control sheet is its Mẫu
số 06, its Mẫu số 05 is a notice to stop processing (not made here), and its Mẫu số 04 is called "Văn bản xin lỗi
và đề nghị gia hạn thời gian giải quyết"; ``LEGAL_MODEL`` names both models of each form and is printed at the
foot of each. Forms 01–04 are laid out on A5 as the circulars design them; the control sheet, a table of every
step, on A4 landscape.

Text is set in Liberation Serif, metric-compatible with Times New Roman (the font Decree 30/2020/NĐ-CP prescribes
for administrative documents), from Debian's ``fonts-liberation2``: version 2 is the one with Vietnamese glyphs
(``fonts-liberation`` 1.x has no ư, ơ, ạ…). Text is normalised to NFC so that decomposed input (a base letter
plus combining marks) is drawn with the font's precomposed glyphs and extracts back as typed.

Output is deterministic for the same input: the PDF's creation date is the form's own date
(:attr:`FormHeader.issued_at`), and the file id is a hash of the content.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace

from motcua_common.procedures import TimeBudget

from .domain import VN_TZ, timeliness

FONT_PACKAGE = "fonts-liberation2"
FONT_DIR = Path("/usr/share/fonts/truetype/liberation2")
FONT_FAMILY = "LiberationSerif"
_FONT_FILES = {"": "Regular", "B": "Bold", "I": "Italic"}  # no form sets bold italic

MOTTO_NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
SIGN_HINT = "(Ký và ghi rõ họ tên)"
DOTS = "…………………………"


class FormNumber(StrEnum):
    RECEIPT = "01"
    SUPPLEMENT_REQUEST = "02"
    REFUSAL = "03"
    APOLOGY = "04"
    CONTROL_SHEET = "05"


TITLES: dict[FormNumber, str] = {
    FormNumber.RECEIPT: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    FormNumber.SUPPLEMENT_REQUEST: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    FormNumber.REFUSAL: "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
    FormNumber.APOLOGY: "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
    FormNumber.CONTROL_SHEET: "Phiếu kiểm soát quá trình giải quyết hồ sơ",
}
# The model each form follows: Circular 01/2018/TT-VPCP's number, and the one of Circular 03/2025/TT-VPCP.
LEGAL_MODEL: dict[FormNumber, str] = {
    FormNumber.RECEIPT: "Mẫu số 01 (Thông tư 01/2018/TT-VPCP; Mẫu số 01, Thông tư 03/2025/TT-VPCP)",
    FormNumber.SUPPLEMENT_REQUEST: "Mẫu số 02 (Thông tư 01/2018/TT-VPCP; Mẫu số 02, Thông tư 03/2025/TT-VPCP)",
    FormNumber.REFUSAL: "Mẫu số 03 (Thông tư 01/2018/TT-VPCP; Mẫu số 03, Thông tư 03/2025/TT-VPCP)",
    FormNumber.APOLOGY: "Mẫu số 04 (Thông tư 01/2018/TT-VPCP; Mẫu số 04, Thông tư 03/2025/TT-VPCP)",
    FormNumber.CONTROL_SHEET: "Mẫu số 05 (Thông tư 01/2018/TT-VPCP; Mẫu số 06, Thông tư 03/2025/TT-VPCP)",
}


class FontsMissing(RuntimeError):
    """The TrueType files the forms are set in are not installed."""


@dataclass(frozen=True)
class Fonts:
    """Where the four styles of Liberation Serif are (Debian: ``apt-get install fonts-liberation2``)."""

    directory: Path = FONT_DIR

    def files(self) -> dict[str, Path]:
        paths = {style: self.directory / f"{FONT_FAMILY}-{name}.ttf" for style, name in _FONT_FILES.items()}
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise FontsMissing(
                f"The forms' font files {', '.join(missing)} are not in {self.directory}: install the Debian "
                f"package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}; `make setup` does it when run as root)."
            )
        return paths


# ---------------------------------------------------------------------------------------------------------------
# Vietnamese dates and times (Vietnam time). Decree 30/2020/NĐ-CP, Appendix I: a day below 10 and a month below 3
# are written with a leading zero ("ngày 05 tháng 02 năm 2026", "ngày 23 tháng 11 năm 2026").


def _vn(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("forms need timezone-aware datetimes")
    return moment.astimezone(VN_TZ)


def vn_date(moment: datetime) -> str:
    d = _vn(moment)
    day = f"{d.day:02d}" if d.day < 10 else str(d.day)
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    return f"ngày {day} tháng {month} năm {d.year}"


def vn_time(moment: datetime) -> str:
    d = _vn(moment)
    return f"{d.hour:02d} giờ {d.minute:02d} phút"


def vn_moment(moment: datetime) -> str:
    """``15 giờ 30 phút, ngày 23 tháng 11 năm 2026``, as the forms' "…giờ…phút, ngày…tháng…năm…" lines."""
    return f"{vn_time(moment)}, {vn_date(moment)}"


def vn_short(moment: datetime) -> str:
    """A compact form for table cells: ``15 giờ 30`` over ``23/11/2026``."""
    d = _vn(moment)
    return f"{d.hour:02d} giờ {d.minute:02d}\n{d.day:02d}/{d.month:02d}/{d.year}"


def budget_text(budget: TimeBudget) -> str:
    """A legal processing time as the receipt states it."""
    if budget.working_hours is not None:
        return f"{budget.working_hours} giờ làm việc"
    if budget.same_day:
        return "trong ngày làm việc (hồ sơ nhận sau 15 giờ được trả trong ngày làm việc tiếp theo)"
    return f"{budget.working_days} ngày làm việc"


TIMELINESS_LABELS = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}


# ---------------------------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True)
class FormHeader:
    """The heading every form shares.

    ``authority``: the issuing body (printed upper-case, top left); ``office``: the part of it that issues the
    form, e.g. "Bộ phận Một cửa" (bold, under it), if any; ``number``: the form's number ("Số: …"), if it has
    one; ``place``: the place of the date line ("Hoàn Kiếm, ngày…"); ``issued_at``: the form's date, also the
    PDF's creation date."""

    authority: str
    issued_at: datetime
    office: str | None = None
    number: str | None = None
    place: str | None = None


@dataclass(frozen=True)
class DossierRef:
    """What identifies the dossier on every form. ``applicant`` is what the form prints after "Hồ sơ của"."""

    code: str
    procedure: str
    applicant: str


@dataclass(frozen=True)
class ReceiptForm:
    """01: the dossier was received; when the result will be returned."""

    header: FormHeader
    dossier: DossierRef
    unit_name: str  # the unit that received it
    received_at: datetime
    due_at: datetime
    components: tuple[str, ...] = ()  # the documents handed in; empty: "as in the electronic dossier"
    processing_time: str | None = None  # the legal time, e.g. budget_text(definition.budget)
    result_delivery: str | None = None  # where the result will be returned
    received_by: str | None = None  # the receiving officer's name


@dataclass(frozen=True)
class SupplementRequestForm:
    """02: what the applicant must add or correct, and why."""

    header: FormHeader
    dossier: DossierRef
    requested_at: datetime
    items: tuple[str, ...]
    reason: str
    requested_by: str | None = None  # the officer who guides the applicant
    contact: str | None = None  # where to ask, e.g. the counter's telephone
    supplement_due_at: datetime | None = None  # by when, if the procedure sets a limit


@dataclass(frozen=True)
class RefusalForm:
    """03: the dossier is refused at reception, with the reason."""

    header: FormHeader
    dossier: DossierRef
    unit_name: str
    refused_at: datetime
    reason: str
    refused_by: str | None = None


@dataclass(frozen=True)
class ApologyForm:
    """04: the dossier will be late; the unit apologises and sets a new date."""

    header: FormHeader
    dossier: DossierRef
    unit_name: str
    received_at: datetime
    due_at: datetime  # the date the receipt promised
    new_due_at: datetime
    reason: str
    signer_title: str = "Thủ trưởng cơ quan"
    signer_name: str | None = None


@dataclass(frozen=True)
class ControlStep:
    """One row of the control sheet: a step, who held it, when it came in, when it left, by when it was due."""

    name: str
    unit: str
    handler: str | None
    entered_at: datetime
    due_at: datetime
    left_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class ControlSheetForm:
    """05: every step of the dossier's processing, on time or late."""

    header: FormHeader
    dossier: DossierRef
    unit_name: str  # the competent unit
    received_at: datetime
    due_at: datetime
    steps: tuple[ControlStep, ...]
    as_of: datetime  # an open step past its due time at this moment is shown as late
    completed_at: datetime | None = None
    cooperating_units: tuple[str, ...] = ()
    outcome: Literal["early", "on_time", "late"] | None = None


Form = ReceiptForm | SupplementRequestForm | RefusalForm | ApologyForm | ControlSheetForm
FORM_NUMBERS: dict[type, FormNumber] = {
    ReceiptForm: FormNumber.RECEIPT,
    SupplementRequestForm: FormNumber.SUPPLEMENT_REQUEST,
    RefusalForm: FormNumber.REFUSAL,
    ApologyForm: FormNumber.APOLOGY,
    ControlSheetForm: FormNumber.CONTROL_SHEET,
}


def step_result(step: ControlStep, as_of: datetime) -> str:
    """The control sheet's "Kết quả" column: how the step kept its time (Trước hạn / Đúng hạn / Quá hạn), or
    that it is still open (late already if ``as_of`` is past its due time)."""
    if step.left_at is not None:
        return TIMELINESS_LABELS[timeliness(step.left_at, step.due_at)]
    return "Quá hạn, đang xử lý" if as_of > step.due_at else "Đang xử lý"


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_BREAKS = re.compile(r"[\r\t\f\v]")


def clean(text: str) -> str:
    """NFC, no control characters but line breaks (a reason typed with tabs still prints)."""
    return "".join(ch for ch in _BREAKS.sub(" ", nfc(text)) if ch == "\n" or unicodedata.category(ch) != "Cc")


class _Page(FPDF):
    """An FPDF document with the few building blocks the forms share."""

    def __init__(self, fonts: Fonts, *, landscape: bool, a5: bool):
        super().__init__(orientation="L" if landscape else "P", unit="mm", format=(148, 210) if a5 else "A4")
        self.base_size = 11.0 if a5 else 12.0
        self.lh = self.base_size * 0.50
        left, right = (15.0, 12.0) if a5 else (20.0, 15.0)
        self.set_margins(left, 12.0, right)
        self.set_auto_page_break(True, margin=12.0)
        for style, path in fonts.files().items():
            self.add_font(FONT_FAMILY, style, str(path))
        self.set_font(FONT_FAMILY, "", self.base_size)
        self.add_page()

    def font(self, style: str = "", size: float | None = None) -> None:
        self.set_font(FONT_FAMILY, style, size or self.base_size)

    def heading(self, header: FormHeader) -> None:
        """Issuing body on the left, the national motto on the right, each underlined with a short rule; then
        the number on the left and the place and date in italics on the right."""
        top, left_w = self.get_y(), self.epw * 0.42
        right_x, right_w = self.l_margin + left_w, self.epw - left_w
        small = self.base_size - 1.5
        # The motto's first line stays on one line: smaller type on a narrow page rather than a break.
        self.font("B", small)
        motto_size = min(small, small * (right_w - 2) / self.get_string_width(MOTTO_NATION))
        self.font("", small)
        self.column(self.l_margin, left_w, small * 0.45, clean(header.authority).upper())
        if header.office:
            self.font("B", small)
            self.column(self.l_margin, left_w, small * 0.45, clean(header.office).upper())
        self._rule(self.l_margin + left_w / 2, self.get_y() + 0.8, left_w * 0.35)
        left_end = self.get_y() + 2
        self.set_y(top)
        self.font("B", motto_size)
        self.column(right_x, right_w, small * 0.45, MOTTO_NATION)
        self.font("B", motto_size + 0.5)
        self.column(right_x, right_w, small * 0.48, MOTTO)
        self._rule(right_x + right_w / 2, self.get_y() + 0.8, self.get_string_width(MOTTO))
        self.set_y(max(left_end, self.get_y() + 2) + 1.5)
        row = self.get_y()
        if header.number:
            self.font("", small)
            self.column(self.l_margin, left_w, self.lh, f"Số: {clean(header.number)}")
        self.set_y(row)
        self.font("I", small)
        place = f"{clean(header.place)}, " if header.place else ""
        date_line = place + vn_date(header.issued_at)
        self.column(right_x, right_w, self.lh, date_line[0].upper() + date_line[1:])
        self.set_y(max(self.get_y(), row + self.lh) + 3)

    def column(self, x: float, width: float, height: float, text: str, align: Align = Align.C) -> None:
        """Text in a column starting at ``x``, leaving the position under it, back at ``x``."""
        self.set_x(x)
        self.multi_cell(width, height, text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)

    def _rule(self, centre: float, y: float, width: float) -> None:
        self.set_line_width(0.25)
        self.line(centre - width / 2, y, centre + width / 2, y)

    def form_title(self, text: str, *lines: str) -> None:
        self.font("B", self.base_size + 1.5)
        self.multi_cell(0, self.lh * 1.2, clean(text).upper(), align=Align.C, new_x=XPos.LMARGIN)
        for line in lines:
            self.font("B")
            self.multi_cell(0, self.lh, clean(line), align=Align.C, new_x=XPos.LMARGIN)
        self.ln(2.5)

    def field(self, label: str, value: str) -> None:
        """``label: value`` flowing over as many lines as needed, the value in bold."""
        self.set_x(self.l_margin)
        self.font()
        self.write(self.lh, f"{label}: ")
        self.font("B")
        self.write(self.lh, clean(value))
        self.ln(self.lh + 0.6)

    def para(self, value: str, style: str = "", align: Align = Align.J, indent: float = 0) -> None:
        self.set_x(self.l_margin + indent)
        self.font(style)
        self.multi_cell(self.epw - indent, self.lh, clean(value), align=align, new_x=XPos.LMARGIN)
        self.ln(0.6)

    def items(self, values: Sequence[str]) -> None:
        for i, value in enumerate(values, start=1):
            self.para(f"{i}. {value}", indent=4)

    def signatures(self, blocks: Sequence[tuple[str, str, str | None]]) -> None:
        """Signature blocks side by side, each: its title (bold, upper-case), the hint, room to sign, the name."""
        self.ln(3)
        if self.will_page_break(32):
            self.add_page()
        top, width = self.get_y(), self.epw / len(blocks)
        bottom = top
        for i, (title, hint, name) in enumerate(blocks):
            x = self.l_margin + i * width
            self.set_y(top)
            self.font("B")
            self.column(x, width, self.lh, clean(title).upper())
            self.font("I", self.base_size - 1)
            self.column(x, width, self.lh, hint)
            self.set_y(self.get_y() + 16)
            self.font("B")
            self.column(x, width, self.lh, clean(name) if name else "")
            bottom = max(bottom, self.get_y())
        self.set_xy(self.l_margin, bottom + 2)

    def electronic_note(self, form: FormNumber, issued_at: datetime) -> None:
        self.ln(2)
        self.font("I", self.base_size - 2.5)
        self.multi_cell(
            0,
            self.lh * 0.8,
            f"Biểu mẫu điện tử lập từ dữ liệu hồ sơ trên hệ thống Một Cửa, {vn_moment(issued_at)}. "
            f"{LEGAL_MODEL[form]}.",
            align=Align.L,
            new_x=XPos.LMARGIN,
        )


def _receipt(pdf: _Page, f: ReceiptForm) -> None:
    pdf.form_title(TITLES[FormNumber.RECEIPT], f"Mã hồ sơ: {f.dossier.code}")
    pdf.field("Bộ phận Một cửa", f.unit_name)
    pdf.field("Tiếp nhận hồ sơ của", f.dossier.applicant)
    pdf.field("Nội dung yêu cầu giải quyết", f.dossier.procedure)
    pdf.para("1. Thành phần hồ sơ nộp gồm:")
    if f.components:
        pdf.items(f.components)
    else:
        pdf.para("Theo hồ sơ điện tử đã nộp (danh sách thành phần kèm mã hồ sơ).", indent=4)
    pdf.field("2. Thời gian giải quyết hồ sơ theo quy định", f.processing_time or "theo thủ tục hành chính đã công bố")
    pdf.field("3. Thời gian nhận hồ sơ", vn_moment(f.received_at))
    pdf.field("4. Thời gian trả kết quả giải quyết hồ sơ", vn_moment(f.due_at))
    pdf.field("5. Đăng ký nhận kết quả tại", f.result_delivery or "theo phương thức đã đăng ký khi nộp hồ sơ")
    pdf.signatures([("Người nộp hồ sơ", SIGN_HINT, None), ("Người tiếp nhận hồ sơ", SIGN_HINT, f.received_by)])


def _supplement_request(pdf: _Page, f: SupplementRequestForm) -> None:
    pdf.form_title(TITLES[FormNumber.SUPPLEMENT_REQUEST], f"Mã hồ sơ: {f.dossier.code}")
    pdf.field("Hồ sơ của", f.dossier.applicant)
    pdf.field("Nội dung yêu cầu giải quyết", f.dossier.procedure)
    pdf.field("Ngày yêu cầu", vn_moment(f.requested_at))
    pdf.para("Yêu cầu bổ sung, hoàn thiện hồ sơ gồm những nội dung sau:")
    pdf.items(f.items)
    pdf.field("Lý do", f.reason)
    if f.supplement_due_at is not None:
        pdf.field("Thời hạn bổ sung, hoàn thiện hồ sơ", vn_moment(f.supplement_due_at))
    contact = f" tại {f.contact}" if f.contact else ""
    pdf.para(
        "Trong quá trình bổ sung, hoàn thiện hồ sơ nếu có vướng mắc, Ông/Bà liên hệ Bộ phận Một cửa"
        f"{contact} để được hướng dẫn. Thời gian giải quyết hồ sơ tạm dừng cho đến khi Ông/Bà nộp đủ hồ sơ."
    )
    pdf.para("Xin trân trọng cảm ơn!", style="I")
    pdf.signatures([("Người hướng dẫn", SIGN_HINT, f.requested_by)])


def _refusal(pdf: _Page, f: RefusalForm) -> None:
    pdf.form_title(TITLES[FormNumber.REFUSAL], f"Mã hồ sơ: {f.dossier.code}")
    pdf.field("Bộ phận Một cửa", f.unit_name)
    pdf.field("Tiếp nhận hồ sơ của", f.dossier.applicant)
    pdf.field("Nội dung yêu cầu giải quyết", f.dossier.procedure)
    pdf.para(
        f"Qua xem xét, {f.unit_name} thông báo không tiếp nhận, giải quyết hồ sơ này "
        f"({vn_moment(f.refused_at)}) với lý do cụ thể như sau:"
    )
    pdf.para(f.reason, style="B", indent=4)
    pdf.para("Xin thông báo cho Ông/Bà được biết và thực hiện./.")
    pdf.signatures([("Người tiếp nhận hồ sơ", SIGN_HINT, f.refused_by)])


def _apology(pdf: _Page, f: ApologyForm) -> None:
    pdf.form_title(TITLES[FormNumber.APOLOGY], f"Mã hồ sơ: {f.dossier.code}")
    pdf.field("Kính gửi", f.dossier.applicant)
    pdf.para(
        f"Ngày {vn_date(f.received_at).removeprefix('ngày ')}, {f.unit_name} tiếp nhận hồ sơ đề nghị giải quyết "
        f"thủ tục hành chính: {f.dossier.procedure}."
    )
    pdf.field("Thời gian hẹn trả kết quả giải quyết hồ sơ", vn_moment(f.due_at))
    pdf.para(
        f"Tuy nhiên đến nay, {f.unit_name} chưa trả kết quả giải quyết hồ sơ đúng hạn ghi trên Giấy tiếp nhận hồ sơ "
        "và hẹn trả kết quả, với lý do:"
    )
    pdf.para(f.reason, style="B", indent=4)
    pdf.para(
        f"Sự chậm trễ này đã gây phiền hà cho Ông/Bà. {f.unit_name} xin lỗi Ông/Bà và hẹn trả kết quả giải quyết "
        "hồ sơ vào:"
    )
    pdf.para(vn_moment(f.new_due_at), style="B", align=Align.C)
    pdf.para("Xin trân trọng cảm ơn./.", style="I")
    pdf.signatures([(f.signer_title, "(Ký, ghi rõ họ tên và đóng dấu)", f.signer_name)])


CONTROL_COLUMNS = (
    ("STT", 9),
    ("Bước xử lý", 36),
    ("Cơ quan, bộ phận", 46),
    ("Người xử lý", 32),
    ("Nhận hồ sơ", 25),
    ("Chuyển hồ sơ", 25),
    ("Hạn xử lý", 25),
    ("Kết quả", 24),
    ("Ghi chú", 40),
)


def _control_sheet(pdf: _Page, f: ControlSheetForm) -> None:
    pdf.form_title(TITLES[FormNumber.CONTROL_SHEET], f"Mã hồ sơ: {f.dossier.code}")
    pdf.field("Kèm theo hồ sơ của", f.dossier.applicant)
    pdf.field("Nội dung yêu cầu giải quyết", f.dossier.procedure)
    pdf.field("Cơ quan (bộ phận) giải quyết hồ sơ", f.unit_name)
    if f.cooperating_units:
        pdf.field("Cơ quan phối hợp giải quyết hồ sơ", "; ".join(f.cooperating_units))
    pdf.field("Thời gian nhận hồ sơ", vn_moment(f.received_at))
    pdf.field("Thời gian hẹn trả kết quả", vn_moment(f.due_at))
    pdf.ln(1.5)
    total = sum(w for _, w in CONTROL_COLUMNS)
    pdf.font("", pdf.base_size - 2)
    with pdf.table(
        col_widths=tuple(w for _, w in CONTROL_COLUMNS),
        width=min(pdf.epw, total),
        text_align=(Align.C, Align.L, Align.L, Align.L, Align.C, Align.C, Align.C, Align.C, Align.L),
        line_height=(pdf.base_size - 2) * 0.48,
        headings_style=FontFace(emphasis="BOLD"),
        padding=1,
    ) as table:
        table.row([title for title, _ in CONTROL_COLUMNS])
        for n, step in enumerate(f.steps, start=1):
            table.row(
                [
                    str(n),
                    clean(step.name),
                    clean(step.unit),
                    clean(step.handler) if step.handler else "Chưa phân công",
                    vn_short(step.entered_at),
                    vn_short(step.left_at) if step.left_at else "",
                    vn_short(step.due_at),
                    step_result(step, f.as_of),
                    clean(step.note) if step.note else "",
                ]
            )
    pdf.ln(3)
    if f.completed_at is not None:
        pdf.field("Hoàn thành", vn_moment(f.completed_at))
    overall = TIMELINESS_LABELS[f.outcome] if f.outcome else "Đang giải quyết"
    pdf.field("Kết quả giải quyết hồ sơ (trước hạn / đúng hạn / quá hạn)", overall)


def render(form: Form, fonts: Fonts | None = None) -> bytes:
    """The form as a PDF document. Raises :class:`FontsMissing` (naming the Debian package) without the fonts."""
    number = FORM_NUMBERS[type(form)]
    pdf = _Page(
        fonts or Fonts(), landscape=number is FormNumber.CONTROL_SHEET, a5=number is not FormNumber.CONTROL_SHEET
    )
    header = form.header
    pdf.set_creation_date(_vn(header.issued_at))
    pdf.set_lang("vi-VN")
    pdf.set_title(f"{TITLES[number]} - {form.dossier.code}")
    pdf.set_subject(LEGAL_MODEL[number])
    pdf.set_author(clean(header.authority))
    pdf.set_creator("Một Cửa")
    pdf.heading(header)
    match form:
        case ReceiptForm():
            _receipt(pdf, form)
        case SupplementRequestForm():
            _supplement_request(pdf, form)
        case RefusalForm():
            _refusal(pdf, form)
        case ApologyForm():
            _apology(pdf, form)
        case ControlSheetForm():
            _control_sheet(pdf, form)
    pdf.electronic_note(number, header.issued_at)
    return bytes(pdf.output())


__all__ = [
    "ApologyForm",
    "ControlSheetForm",
    "ControlStep",
    "DossierRef",
    "FONT_PACKAGE",
    "Fonts",
    "FontsMissing",
    "Form",
    "FormHeader",
    "FormNumber",
    "ReceiptForm",
    "RefusalForm",
    "SupplementRequestForm",
    "TITLES",
    "budget_text",
    "render",
    "step_result",
    "vn_date",
    "vn_moment",
    "vn_time",
]
