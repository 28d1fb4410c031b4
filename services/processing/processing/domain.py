"""The dossier's state machine and the timeliness rule: pure functions, no I/O.

    submitted --accept--> processing --approve--> approved --issue_result--> result_issued
        |                     |                                                   |
        +----reject-----------+--> rejected                          return_result --> completed

Each status has one open workflow step; an action completes it (with an outcome) and opens the next.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from motcua_common.principal import (
    APPROVER,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    SPECIALIST,
    UNIT_HEAD,
    Principal,
)

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Timeliness = Literal["early", "on_time", "late"]


class Status(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    APPROVED = "approved"
    REJECTED = "rejected"
    RESULT_ISSUED = "result_issued"
    COMPLETED = "completed"


class Action(StrEnum):
    ACCEPT = "accept"
    APPROVE = "approve"
    REJECT = "reject"
    ISSUE_RESULT = "issue_result"
    RETURN_RESULT = "return_result"


STATUS_LABELS: dict[Status, str] = {
    Status.SUBMITTED: "Đã nộp, chờ tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.APPROVED: "Đã phê duyệt",
    Status.REJECTED: "Bị từ chối",
    Status.RESULT_ISSUED: "Đã có kết quả, chờ trả",
    Status.COMPLETED: "Đã trả kết quả",
}
OPEN_STATUSES = (Status.SUBMITTED, Status.PROCESSING, Status.APPROVED, Status.RESULT_ISSUED)

STEP_NAMES: dict[str, str] = {
    "receive": "Tiếp nhận hồ sơ",
    "appraise": "Thẩm định, xử lý hồ sơ",
    "issue": "Ban hành kết quả",
    "return": "Trả kết quả",
}
# The step that is open while the dossier is in a status; final statuses have none.
STATUS_STEP: dict[Status, str | None] = {
    Status.SUBMITTED: "receive",
    Status.PROCESSING: "appraise",
    Status.APPROVED: "issue",
    Status.RESULT_ISSUED: "return",
    Status.REJECTED: None,
    Status.COMPLETED: None,
}
RETURN_METHOD_NOTES = {
    "online": "Trả kết quả trực tuyến",
    "counter": "Trả kết quả tại bộ phận một cửa",
    "post": "Trả kết quả qua dịch vụ bưu chính công ích",
}
FIRST_STEP = "receive"

# Who may take each action: an officer of the dossier's own unit holding one of these roles. A
# provincial_operator reads every unit's dossiers and queues but takes no action.
ACTION_ROLES: dict[Action, frozenset[str]] = {
    Action.ACCEPT: frozenset({RECEIVING_OFFICER, UNIT_HEAD}),
    Action.REJECT: frozenset({RECEIVING_OFFICER, APPROVER, UNIT_HEAD}),
    Action.APPROVE: frozenset({APPROVER, UNIT_HEAD}),
    Action.ISSUE_RESULT: frozenset({SPECIALIST, APPROVER, UNIT_HEAD}),
    Action.RETURN_RESULT: frozenset({RECEIVING_OFFICER, UNIT_HEAD}),
}


def role_allows(roles: frozenset[str] | set[str], action: Action | str) -> bool:
    """Whether an officer with ``roles`` may take ``action`` (on a dossier of their own unit)."""
    return bool(ACTION_ROLES[Action(action)] & set(roles))


def dossier_units(dossier: Mapping) -> set[str]:
    """The units that hold a dossier: the competent unit and, when it differs, the receiving one."""
    return {u for u in (dossier["unit_code"], dossier.get("receiving_unit_code")) if u}


def is_party(subject: str, dossier: Mapping) -> bool:
    """Whether the citizen ``subject`` is the dossier's applicant or the citizen who submitted it."""
    return (dossier["applicant_kind"] == "citizen" and dossier["applicant_subject"] == subject) or (
        dossier["submitter_kind"] == "citizen" and dossier["submitter_subject"] == subject
    )


def may_read(principal: Principal, dossier: Mapping) -> bool:
    """Who may see a dossier's full tracking.

    - a citizen: its applicant or its submitter (by token ``sub``);
    - an officer: of the competent unit or of the unit that received it; a provincial operator: any;
    - a partner with ``dossiers:read``: any dossier, or only its own unit's if the token names a unit;
    - anyone else (services, other citizens, other units' officers): no.
    """
    match principal.kind:
        case "citizen":
            return is_party(principal.subject, dossier)
        case "officer":
            return principal.has_role(PROVINCIAL_OPERATOR) or principal.unit_code in dossier_units(dossier)
        case "partner":
            if not principal.has_scope(SCOPE_DOSSIERS_READ):
                return False
            return principal.unit_code is None or principal.unit_code in dossier_units(dossier)
    return False


MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class Transition:
    action: Action
    source: Status
    target: Status
    outcome: str  # recorded on the step the action completes
    next_step: str | None  # the step it opens, if any

    @property
    def final(self) -> bool:
        return self.target in (Status.REJECTED, Status.COMPLETED)


_TRANSITIONS: dict[tuple[Action, Status], Transition] = {
    (t.action, t.source): t
    for t in (
        Transition(Action.ACCEPT, Status.SUBMITTED, Status.PROCESSING, "accepted", "appraise"),
        Transition(Action.APPROVE, Status.PROCESSING, Status.APPROVED, "approved", "issue"),
        Transition(Action.ISSUE_RESULT, Status.APPROVED, Status.RESULT_ISSUED, "issued", "return"),
        Transition(Action.RETURN_RESULT, Status.RESULT_ISSUED, Status.COMPLETED, "returned", None),
        # Refusal to receive (form 03) and refusal after appraisal.
        Transition(Action.REJECT, Status.SUBMITTED, Status.REJECTED, "rejected", None),
        Transition(Action.REJECT, Status.PROCESSING, Status.REJECTED, "rejected", None),
    )
}


class InvalidTransition(Exception):
    """The action is not allowed in the dossier's current status."""

    def __init__(self, action: Action | str, status: Status | str):
        self.action, self.status = str(action), str(status)
        super().__init__(f"Action '{self.action}' is not allowed while the dossier is '{self.status}'.")


class ReasonRequired(ValueError):
    """A rejection must say why (the applicant is told the reason)."""


def transition(status: Status | str, action: Action | str, *, reason: str | None = None) -> Transition:
    """The transition ``action`` makes from ``status``; raises if it is not allowed."""
    try:
        key = (Action(action), Status(status))
    except ValueError:
        raise InvalidTransition(action, status) from None
    found = _TRANSITIONS.get(key)
    if found is None:
        raise InvalidTransition(action, status)
    if found.action is Action.REJECT:
        clean = (reason or "").strip()
        if not clean or len(clean) > MAX_REASON_LENGTH:
            raise ReasonRequired(f"A rejection needs a reason of 1 to {MAX_REASON_LENGTH} characters.")
    return found


def allowed_actions(status: Status | str) -> list[Action]:
    return [a for (a, s) in _TRANSITIONS if s == Status(status)]


def status_label(status: Status | str) -> str:
    return STATUS_LABELS[Status(status)]


def timeliness(completed_at: datetime, due_at: datetime) -> Timeliness:
    """Classify a completion against the due date, as units are judged (Decision 766/QĐ-TTg).

    Early means done on a calendar day (Vietnam time) before the due date's day; on time means the due
    day itself and not after the due instant; anything after the due instant is late.
    """
    if completed_at.tzinfo is None or due_at.tzinfo is None:
        raise ValueError("timeliness needs timezone-aware datetimes")
    if completed_at > due_at:
        return "late"
    if completed_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
        return "early"
    return "on_time"


def default_result_number(code: str) -> str:
    return f"KQ-{code}"
