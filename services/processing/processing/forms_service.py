"""The official forms of a dossier: who may fetch them, which apply, and what each prints from processing's data.

One small function per form reads what that form needs and returns the renderer's input (``forms.py``), or None
when the form does not apply to the dossier. Processing holds no personal data (applicants are opaque subjects),
so the forms name the applicant only as processing knows them: a citizen as "Công dân", an organisation by its
tax code; the name and personal id number are on the receipt intake gives at submission.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import asyncpg

from motcua_common.auth import Principal
from motcua_common.problems import ProblemError

from . import domain, forms, repository
from .forms import (
    ApologyForm,
    ControlSheetForm,
    ControlStep,
    DossierRef,
    Form,
    FormHeader,
    FormNumber,
    ReceiptForm,
    RefusalForm,
    SupplementRequestForm,
)
from .service import dossier_not_found

log = logging.getLogger("processing.forms")

ONE_STOP_OFFICE = "Bộ phận Một cửa"
CITIZEN_APPLICANT = "Công dân (họ tên, số định danh cá nhân theo hồ sơ điện tử)"
# Outcomes a step can end with when the dossier is refused; the engine's "refuse" kind and today's "reject".
REFUSED = frozenset({"rejected", "refused"})
OUTCOME_LABELS = {
    "accepted": "Đã tiếp nhận",
    "approved": "Đã phê duyệt",
    "issued": "Đã ban hành kết quả",
    "returned": "Đã trả kết quả",
    "rejected": "Từ chối",
    "refused": "Từ chối tiếp nhận",
}
# The unit kinds a unit's name starts with, so that its place can be printed in the date line.
_UNIT_PREFIX = re.compile(
    r"^(?:ủy ban nhân dân|ubnd|công an|trung tâm phục vụ hành chính công|bộ phận một cửa)\s+", re.IGNORECASE
)
_AREA_PREFIX = re.compile(r"^(?:phường|xã|đặc khu|thị trấn|thành phố|tỉnh|quận|huyện|thị xã)\s+", re.IGNORECASE)

Steps = Sequence[Mapping]
Loader = Callable[[asyncpg.Connection, Mapping, Steps, datetime], Awaitable[Form | None]]


def form_not_available(code: str, form: FormNumber) -> ProblemError:
    return ProblemError(
        404,
        "form-not-available",
        "Hồ sơ không có biểu mẫu này",
        f"Form {form} ({forms.TITLES[form]}) does not apply to dossier '{code}' (yet).",
    )


# ---------------------------------------------------------------------------------------------------------------
# What every form prints


def applicant_label(dossier: Mapping) -> str:
    if dossier["applicant_kind"] == "organisation" and dossier["applicant_tax_code"]:
        return f"Tổ chức có mã số thuế {dossier['applicant_tax_code']}"
    return CITIZEN_APPLICANT


def dossier_ref(dossier: Mapping) -> DossierRef:
    return DossierRef(
        code=dossier["code"],
        procedure=f"{dossier['procedure_name']} (mã thủ tục {dossier['procedure_code']})",
        applicant=applicant_label(dossier),
    )


def place_of(unit_name: str) -> str | None:
    """The place a unit dates its documents from: "Ủy ban nhân dân phường Hoàn Kiếm" → "Hoàn Kiếm"."""
    place = _AREA_PREFIX.sub("", _UNIT_PREFIX.sub("", unit_name.strip())).strip()
    return place if place and place != unit_name.strip() else None


def receiving_unit_name(dossier: Mapping) -> str:
    """The unit whose one-stop counter received the dossier. Processing keeps the receiving unit's code only; its
    name is the competent unit's when they are the same, or ``receiving_unit_name`` once the engine stores it."""
    name = dossier.get("receiving_unit_name")
    return name or dossier["unit_name"]


def header(unit_name: str, issued_at: datetime, *, one_stop: bool) -> FormHeader:
    return FormHeader(
        authority=unit_name,
        office=ONE_STOP_OFFICE if one_stop else None,
        issued_at=issued_at,
        place=place_of(unit_name),
    )


def _first_step(steps: Steps) -> Mapping | None:
    return steps[0] if steps else None


def refused_at_reception(steps: Steps) -> Mapping | None:
    """The receiving step, if the dossier was refused there (the engine's first step always receives)."""
    first = _first_step(steps)
    if first is not None and first["completed_at"] is not None and first["outcome"] in REFUSED:
        return first
    return None


# ---------------------------------------------------------------------------------------------------------------
# One function per form


async def receipt(conn: asyncpg.Connection, dossier: Mapping, steps: Steps, now: datetime) -> ReceiptForm | None:
    """01: for every dossier processing holds, except one refused at reception (it gets form 03 instead).

    The appointment is the one the receipt promised: the due date set when the dossier was received (the clock
    starts at receipt), not one moved since by a supplement or an extension; before receipt, the current one."""
    if refused_at_reception(steps):
        return None
    received = [c for c in await repository.due_changes(conn, dossier["id"]) if c["kind"] == "received"]
    appointment = received[0]["due_at"] if received else dossier["due_at"]
    first = _first_step(steps)
    received_by = first["handler_name"] if first is not None and first["completed_at"] is not None else None
    unit = receiving_unit_name(dossier)
    return ReceiptForm(
        header=header(unit, dossier["received_at"], one_stop=True),
        dossier=dossier_ref(dossier),
        unit_name=unit,
        received_at=dossier["received_at"],
        due_at=appointment,
        received_by=received_by,
    )


async def supplement_request(
    conn: asyncpg.Connection, dossier: Mapping, steps: Steps, now: datetime
) -> SupplementRequestForm | None:
    """02: the dossier's latest supplement request (``repository.supplement_requests``): when, what to add or
    correct, why, and the officer who asked. Procedures set no deadline for the applicant, so none is printed."""
    requests = await repository.supplement_requests(conn, dossier["id"])
    if not requests:
        return None
    latest = requests[-1]
    return SupplementRequestForm(
        header=header(latest["unit_name"], latest["requested_at"], one_stop=True),
        dossier=dossier_ref(dossier),
        requested_at=latest["requested_at"],
        items=tuple(latest["components_requested"]) or (latest["reason"],),
        reason=latest["reason"],
        requested_by=latest["requested_by_name"],
    )


async def refusal(conn: asyncpg.Connection, dossier: Mapping, steps: Steps, now: datetime) -> RefusalForm | None:
    """03: when the dossier was refused at reception; the reason is the one recorded on the receiving step."""
    step = refused_at_reception(steps)
    if step is None:
        return None
    unit = receiving_unit_name(dossier)
    return RefusalForm(
        header=header(unit, step["completed_at"], one_stop=True),
        dossier=dossier_ref(dossier),
        unit_name=unit,
        refused_at=step["completed_at"],
        reason=step["note"] or dossier["rejection_reason"] or "",
        refused_by=step["handler_name"],
    )


async def apology(conn: asyncpg.Connection, dossier: Mapping, steps: Steps, now: datetime) -> ApologyForm | None:
    """04: the dossier's latest extension (``repository.extensions``): the reason for the delay, the appointment
    before the first extension, the new one, and the head or approver who signed it."""
    extensions = await repository.extensions(conn, dossier["id"])
    if not extensions:
        return None
    latest = extensions[-1]
    return ApologyForm(
        header=header(latest["unit_name"], latest["extended_at"], one_stop=False),
        dossier=dossier_ref(dossier),
        unit_name=latest["unit_name"],
        received_at=dossier["received_at"],
        due_at=extensions[0]["previous_due_at"],
        new_due_at=latest["new_due_at"],
        reason=latest["reason"],
        signer_name=latest["extended_by_name"],
    )


def control_step(step: Mapping) -> ControlStep:
    outcome = OUTCOME_LABELS.get(step["outcome"] or "")
    return ControlStep(
        name=step["name_vi"],
        unit=step["unit_name"],
        handler=step["handler_name"] or step["handler"],
        entered_at=step["entered_at"],
        due_at=step["due_at"],
        left_at=step["completed_at"],
        note="; ".join(part for part in (outcome, step["note"]) if part) or None,
    )


async def control_sheet(
    conn: asyncpg.Connection, dossier: Mapping, steps: Steps, now: datetime
) -> ControlSheetForm | None:
    """05: every dossier. Dated at its last change, so the same dossier gives the same sheet until it moves on
    (never later than ``now``: an after-hours submission counts as received the next working day, which can be
    after the first actions); an open step past its due time is shown late as of ``now``."""
    moments = [dossier["received_at"], *(s["entered_at"] for s in steps), *(s["completed_at"] for s in steps)]
    unit = dossier["unit_name"]
    others = dict.fromkeys(s["unit_name"] for s in steps if s["unit_name"] != unit)
    return ControlSheetForm(
        header=header(unit, min(now, max(m for m in moments if m is not None)), one_stop=False),
        dossier=dossier_ref(dossier),
        unit_name=unit,
        received_at=dossier["received_at"],
        due_at=dossier["due_at"],
        steps=tuple(control_step(s) for s in steps),
        as_of=now,
        completed_at=dossier["completed_at"],
        cooperating_units=tuple(others),
        outcome=dossier["timeliness"],
    )


LOADERS: dict[FormNumber, Loader] = {
    FormNumber.RECEIPT: receipt,
    FormNumber.SUPPLEMENT_REQUEST: supplement_request,
    FormNumber.REFUSAL: refusal,
    FormNumber.APOLOGY: apology,
    FormNumber.CONTROL_SHEET: control_sheet,
}


# ---------------------------------------------------------------------------------------------------------------


def content_disposition(form: FormNumber, code: str) -> str:
    """``inline`` with an ASCII ``filename`` for old clients and the Vietnamese one as RFC 5987 ``filename*``."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", f"mau-{form}-{code}.pdf")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(f'{forms.TITLES[form]} {code}.pdf')}"


async def form_pdf(
    conn: asyncpg.Connection,
    code: str,
    form: FormNumber,
    principal: Principal,
    *,
    fonts: forms.Fonts,
    now: datetime | None = None,
) -> bytes:
    """The form as PDF, for exactly those who may see the dossier's tracking (:func:`domain.may_read`); anyone
    else gets the 404 of an unknown code. A form that does not apply to the dossier is a 404 of its own
    (``form-not-available``), told only to those who may see the dossier."""
    dossier = await repository.get_dossier(conn, code)
    if dossier is None or not domain.may_read(principal, dossier):
        raise dossier_not_found(code)
    steps = await repository.list_steps(conn, dossier["id"])
    data = await LOADERS[form](conn, dossier, steps, now or datetime.now(UTC))
    if data is None:
        raise form_not_available(code, form)
    try:
        # Setting a page takes a few hundred milliseconds of CPU (font subsetting): off the event loop.
        return await asyncio.to_thread(forms.render, data, fonts)
    except forms.FontsMissing as exc:
        log.error("cannot render form %s: %s", form, exc)
        raise ProblemError(
            503,
            "forms-unavailable",
            "Tạm thời chưa lập được biểu mẫu",
            str(exc),
            headers={"Retry-After": "60"},
        ) from exc
