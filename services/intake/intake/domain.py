"""Pure intake rules: the dossier code, who may submit or read a dossier, who may publish a procedure version and
what a catalogue accepts, and what an uploaded file really is. The legal clock (working days, working hours, the
15:00 rule) is ``motcua_common.legal_clock``, shared with processing."""

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from motcua_common.legal_clock import DEFAULT_OFFICE_HOURS
from motcua_common.principal import (
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    SCOPE_POST_SUBMIT,
    Principal,
)
from motcua_common.procedures import ProcedureDefinition, TimeBudget


def processing_days(budget: TimeBudget) -> int:
    """The budget in whole working days, for the ``processing_days`` field older readers use (an hour budget is
    rounded up to whole days of the default office hours: a label, never used to compute a date)."""
    if budget.working_days is not None:
        return budget.working_days
    assert budget.working_hours is not None  # a TimeBudget has exactly one of the two
    return math.ceil(budget.working_hours * 3600 / DEFAULT_OFFICE_HOURS.seconds_per_day)


# 31 characters that cannot be mistaken for one another when read aloud or copied from paper: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_SUFFIX_LENGTH = 6  # 31**6 ~ 8.9e8 (~30 bits) per unit, day and sequence number


def code_suffix(length: int = CODE_SUFFIX_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def dossier_code(unit_code: str, day: date, sequence: int, suffix: str | None = None) -> str:
    """``<agency code>-<YYMMDD>-<sequence>-<random>``: the provincial format (e.g. 38.98.H29-210519-0013) plus
    six random characters, so that knowing one code (or the daily sequence) does not give the next one. Every
    look-up by code also answers 404 for a code that exists but is not the caller's, and the gateway rate-limits
    look-ups, so guessing a code means ~9e8 tries per sequence number."""
    suffix = suffix if suffix is not None else code_suffix()
    return f"{unit_code}-{day:%y%m%d}-{sequence:04d}-{suffix}"


def receipt_message(code: str, procedure_name: str, appointment_at: datetime, tz: ZoneInfo) -> str:
    local = appointment_at.astimezone(tz)
    return (
        f"Hồ sơ {code} ({procedure_name}) đã được tiếp nhận. Ngày hẹn trả kết quả: {local:%H:%M} ngày {local:%d/%m/%Y}."
    )


def bundle_message(bundle_name: str, codes: list[str], due_at: datetime, tz: ZoneInfo) -> str:
    local = due_at.astimezone(tz)
    return (
        f"Hồ sơ liên thông ({bundle_name}) đã được tiếp nhận thành {len(codes)} hồ sơ: {', '.join(codes)}. "
        f"Ngày hẹn trả kết quả chậm nhất: {local:%H:%M} ngày {local:%d/%m/%Y}."
    )


# --- Who may do what (pure decisions on a verified principal; the service raises the errors) ---------------

COUNTER_CHANNELS = ("counter", "service_centre")


def submission_refusal(principal: Principal, channel: str) -> str | None:
    """Why this caller may not submit on this channel, or None. These are the clear cases intake refuses itself,
    before any registry read; whether a citizen holds a mandate for someone else is the registry's answer."""
    if principal.kind == "citizen":
        return None if channel == "online" else "Citizens submit online; counter and post dossiers are taken by staff."
    if principal.kind == "officer":
        if not principal.has_role(RECEIVING_OFFICER):
            return "Only a receiving officer takes dossiers at a counter."
        if channel not in COUNTER_CHANNELS:
            return "A receiving officer submits with channel counter or service_centre."
        return None
    if principal.kind == "partner":
        if not principal.has_scope(SCOPE_POST_SUBMIT):
            return f"Partners need the {SCOPE_POST_SUBMIT} scope to submit dossiers."
        if channel != "post":
            return "A postal partner submits with channel post."
        return None
    return f"{principal.kind} accounts do not submit dossiers."


@dataclass(frozen=True)
class DossierParties:
    """The parts of a stored dossier that decide who may see it."""

    unit_code: str
    receiving_unit_code: str | None
    applicant_subject: str | None
    submitter_kind: str | None
    submitter_subject: str | None


def is_party(principal: Principal, d: DossierParties) -> bool:
    """The citizen is the applicant or the one who submitted the dossier."""
    if principal.kind != "citizen":
        return False
    return principal.subject == d.applicant_subject or (
        d.submitter_kind == "citizen" and principal.subject == d.submitter_subject
    )


def is_unit_officer(principal: Principal, d: DossierParties) -> bool:
    return principal.kind == "officer" and principal.unit_code in (d.unit_code, d.receiving_unit_code)


def can_track(principal: Principal, d: DossierParties) -> bool:
    """The receipt-stage tracking: the same rules as processing's tracking."""
    if is_party(principal, d) or is_unit_officer(principal, d):
        return True
    if principal.has_role(PROVINCIAL_OPERATOR):
        return True
    if principal.kind == "partner" and principal.has_scope(SCOPE_DOSSIERS_READ):
        return principal.unit_code is None or principal.unit_code == d.unit_code
    return False


def can_read_application(principal: Principal, d: DossierParties) -> bool:
    """The application as submitted (personal data): the parties and the officers of the competent or receiving
    unit only; partners and the provincial operator of another unit see tracking, not the application."""
    return is_party(principal, d) or is_unit_officer(principal, d)


EVENT_SOURCE = "/motcua/intake"  # the CloudEvents `source` of every event intake publishes

# --- The catalogue ----------------------------------------------------------------------------------------------

# Performers that are not a unit level: the unit that received the dossier and the competent unit.
OWN_PERFORMERS = frozenset({"receiving_unit", "competent_unit"})


def publish_refusal(principal: Principal) -> str | None:
    """Why this caller may not publish procedure versions, or None: only an officer holding the provincial
    operator role publishes, for any procedure of the province's catalogue."""
    if principal.has_role(PROVINCIAL_OPERATOR):
        return None
    return "Only an officer with the provincial_operator role publishes procedure versions."


def inter_agency_levels(definition: ProcedureDefinition) -> list[str]:
    """The unit levels of the steps performed by another agency (liên thông), in step order, each once."""
    levels: list[str] = []
    for step in definition.steps:
        if step.performer not in OWN_PERFORMERS and step.performer not in levels:
            levels.append(step.performer)
    return levels


def definition_problems(
    definition: ProcedureDefinition, members: Mapping[str, ProcedureDefinition | None]
) -> list[str]:
    """What the catalogue refuses in a definition the model accepts: step budgets that do not add up to the overall
    budget; for a bundle, a budget other than the overall one, and members that are unknown, repeated, the bundle
    itself or bundles themselves (a member slower than the bundle is fine: the bundle's budget caps its dossier).
    ``members`` maps each member code to its latest version (None: unknown)."""
    problems = []
    mismatch = definition.budget_mismatch()
    if mismatch:
        problems.append(f"budget: {mismatch}")
    if definition.bundle is not None:
        if definition.bundle.budget != definition.budget:
            problems.append("bundle.budget: a bundle's budget is its overall budget (give the same in both)")
        if definition.code in definition.bundle.members:
            problems.append("bundle.members: a bundle cannot contain itself")
        for code in definition.bundle.members:
            member = members.get(code)
            if member is None:
                problems.append(f"bundle.members: no procedure {code!r} in the catalogue")
            elif member.bundle is not None:
                problems.append(f"bundle.members: {code!r} is itself a bundle")
        if len(set(definition.bundle.members)) != len(definition.bundle.members):
            problems.append("bundle.members: a member is listed twice")
    return problems


# --- Uploaded files --------------------------------------------------------------------------------------------

_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
ALLOWED_DOCUMENT_TYPES = tuple(t for _, t in _MAGIC)


def sniff_content_type(head: bytes) -> str | None:
    """The file's type from its first bytes, whatever the client declared; None if not an accepted type."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    return None
