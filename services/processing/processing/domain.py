"""The generic workflow engine and the rules around it: pure functions, no I/O.

A dossier runs on the :class:`~motcua_common.procedures.ProcedureDefinition` it was received under. The engine
knows only the *kinds* of action (``receive``, ``forward``, ``transfer``, ``approve``…); which ones a step offers,
where each leads and which roles may take them all come from the definition. Given the definition, the dossier's
:class:`Case` (current step, status, units), the caller and an :class:`ActionRequest`, :func:`decide` returns the
:class:`Transition` to apply or raises a refusal the service turns into problem+json:

- :class:`NotVisible` (404: the caller may not even know the dossier exists), :class:`NotAllowed` (403: wrong unit
  that may read it, or wrong role), :class:`InvalidTransition` (409: the step does not offer that action; it lists
  what the step offers), :class:`LimitReached` (409), :class:`InvalidRequest` (422: a field the action needs).

Statuses stay coarse, for queries and citizens. A final status comes from the action that ends the dossier
(``refuse`` → refused, ``reject`` → rejected, ``return_result`` → completed); a non-final one from the kind of
action that led to the step (``receive`` → processing, ``approve`` → approved, ``issue_result`` → result_issued;
``forward``/``transfer`` keep approved/result_issued and otherwise give processing; ``request_supplement`` →
supplement_requested until the applicant supplements and the status before the request comes back).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from motcua_common.principal import (
    APPROVER,
    OFFICER_ROLES,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    UNIT_HEAD,
    Principal,
)
from motcua_common.procedures import ACTION_KINDS, ProcedureDefinition, StepDefinition

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Timeliness = Literal["early", "on_time", "late"]


class Status(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    APPROVED = "approved"
    RESULT_ISSUED = "result_issued"
    COMPLETED = "completed"
    REJECTED = "rejected"
    REFUSED = "refused"


STATUS_LABELS: dict[Status, str] = {
    Status.SUBMITTED: "Đã nộp, chờ tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT_REQUESTED: "Chờ bổ sung hồ sơ",
    Status.APPROVED: "Đã phê duyệt",
    Status.RESULT_ISSUED: "Đã có kết quả, chờ trả",
    Status.COMPLETED: "Đã trả kết quả",
    Status.REJECTED: "Bị từ chối",
    Status.REFUSED: "Từ chối tiếp nhận",
}
FINAL_STATUSES = (Status.COMPLETED, Status.REJECTED, Status.REFUSED)
OPEN_STATUSES = (
    Status.SUBMITTED,
    Status.PROCESSING,
    Status.SUPPLEMENT_REQUESTED,
    Status.APPROVED,
    Status.RESULT_ISSUED,
)
# Open and with the legal clock running (not waiting for the applicant): what the overdue detector watches.
RUNNING_STATUSES = tuple(s for s in OPEN_STATUSES if s is not Status.SUPPLEMENT_REQUESTED)

# The outcome recorded on the step an action completes.
OUTCOMES: dict[str, str] = {
    "receive": "accepted",
    "refuse": "refused",
    "request_supplement": "supplement_requested",
    "forward": "forwarded",
    "transfer": "transferred",
    "approve": "approved",
    "reject": "rejected",
    "issue_result": "issued",
    "return_result": "returned",
}
# Actions that need a reason the applicant reads (Vietnamese).
REASON_ACTIONS = frozenset({"refuse", "reject", "request_supplement"})
FINAL_ACTIONS: dict[str, Status] = {
    "refuse": Status.REFUSED,
    "reject": Status.REJECTED,
    "return_result": Status.COMPLETED,
}
RETURN_METHOD_NOTES = {
    "online": "Trả kết quả trực tuyến",
    "counter": "Trả kết quả tại bộ phận một cửa",
    "post": "Trả kết quả qua dịch vụ bưu chính công ích",
}
# The pseudo-step shown on the timeline while the applicant supplements (the definition's steps never use it:
# their keys cannot contain a hyphen).
SUPPLEMENT_STEP = "applicant-supplement"
SUPPLEMENT_STEP_NAME = "Công dân bổ sung hồ sơ"
# Who may extend a dossier's due date (form 04): the head or an approver of the unit holding it.
EXTENSION_ROLES = frozenset({UNIT_HEAD, APPROVER})
MAX_REASON_LENGTH = 2000

# The per-action endpoints of before issue 6, kept as deprecated aliases: each names the kinds it may stand for,
# the first one the current step offers is taken (``reject`` refuses at reception, as it did).
LEGACY_ALIASES: dict[str, tuple[str, ...]] = {
    "accept": ("receive",),
    "approve": ("approve",),
    "reject": ("reject", "refuse"),
    "issue-result": ("issue_result",),
    "return-result": ("return_result",),
}


def status_label(status: Status | str) -> str:
    return STATUS_LABELS[Status(status)]


# ---------------------------------------------------------------------------------------------- who may see it


def dossier_units(dossier: Mapping) -> set[str]:
    """The units that hold or held a dossier: the competent unit, the receiving one, and every unit a step was
    performed by (another agency it was transferred to)."""
    units = {dossier["unit_code"], dossier.get("receiving_unit_code"), dossier.get("current_unit_code")}
    units.update(dossier.get("involved_units") or ())
    return {u for u in units if u}


def is_party(subject: str, dossier: Mapping) -> bool:
    """Whether the citizen ``subject`` is the dossier's applicant or the citizen who submitted it."""
    return (dossier["applicant_kind"] == "citizen" and dossier["applicant_subject"] == subject) or (
        dossier["submitter_kind"] == "citizen" and dossier["submitter_subject"] == subject
    )


def may_read(principal: Principal, dossier: Mapping) -> bool:
    """Who may see a dossier's full tracking.

    - a citizen: its applicant or its submitter (by token ``sub``);
    - an officer: of a unit that holds or held it (competent, receiving, transferred to); a provincial operator: any;
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


# ---------------------------------------------------------------------------------------------- refusals


class NotVisible(Exception):
    """The caller may not know the dossier exists (404, as for an unknown code)."""


class NotAllowed(Exception):
    """The caller may see the dossier but not do this (403)."""


class InvalidTransition(Exception):
    """The current step does not offer this action (409); ``allowed`` lists what it offers."""

    def __init__(self, kind: str, step: str | None, status: str, allowed: list[str]):
        self.kind, self.step, self.status, self.allowed = kind, step, status, allowed
        where = f"step '{step}' (status '{status}')" if step else f"status '{status}'"
        offered = ", ".join(allowed) if allowed else "nothing"
        super().__init__(f"Action '{kind}' is not allowed at {where}; allowed: {offered}.")


class LimitReached(Exception):
    """No more supplement requests are allowed by the procedure (409)."""


class InvalidRequest(ValueError):
    """A field the action needs is missing or wrong (422)."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


# ---------------------------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Case:
    """What the engine needs to know of a dossier."""

    code: str
    status: str
    current_step: str | None  # the open step (while supplementing: the step that asked)
    unit_code: str  # the competent unit
    receiving_unit_code: str | None
    current_unit_code: str | None  # the unit holding the current step
    agency_units: Mapping[str, str] = field(default_factory=dict)  # unit level -> unit chosen at transfer
    supplement_requests: int = 0
    channel: str = "online"

    @classmethod
    def from_row(cls, row: Mapping) -> "Case":
        return cls(
            code=row["code"],
            status=row["status"],
            current_step=row["current_step"],
            unit_code=row["unit_code"],
            receiving_unit_code=row.get("receiving_unit_code"),
            current_unit_code=row.get("current_unit_code") or row["unit_code"],
            # the unit per level: chosen by intake at submission (performer_units) or named at a transfer
            agency_units={k: v["code"] for k, v in (row.get("agency_units") or {}).items()},
            supplement_requests=row.get("supplement_count") or 0,
            channel=row.get("channel") or "online",
        )

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == Status.SUPPLEMENT_REQUESTED


@dataclass(frozen=True)
class ActionRequest:
    kind: str
    target: str | None = None
    reason: str | None = None
    note: str | None = None
    transfer_unit_code: str | None = None
    return_method: str | None = None
    result_number: str | None = None
    components_requested: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transition:
    kind: str
    from_step: str
    to_step: str | None  # None: the dossier ends, or (request_supplement) waits for the applicant on this step
    status: Status  # the dossier's status afterwards
    outcome: str  # recorded on the step the action completes
    to_unit_code: str | None = None  # the unit that performs ``to_step``
    new_agency: tuple[str, str] | None = None  # (level, unit code) recorded when a step of another level is entered
    reason: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class AllowedAction:
    kind: str
    target: str | None
    target_name: str | None
    needs: tuple[str, ...]  # request fields this action requires


def acting_unit(case: Case) -> str:
    return case.current_unit_code or case.unit_code


def resolve_performer(
    definition: ProcedureDefinition, step: StepDefinition, case: Case, unit_code: str | None = None
) -> str | None:
    """The unit that performs ``step`` for this dossier: the receiving unit (the competent unit when the dossier
    came online), the competent unit, or for a step of a unit level the unit named now (``unit_code``), else the
    one chosen for that level earlier, else the competent unit when the level is the procedure's own. None when
    a unit must be named and was not."""
    match step.performer:
        case "receiving_unit":
            return case.receiving_unit_code or case.unit_code
        case "competent_unit":
            return case.unit_code
        case level:
            if unit_code:
                return unit_code
            if level in case.agency_units:
                return case.agency_units[level]
            return case.unit_code if level == definition.level else None


def _needs(definition: ProcedureDefinition, kind: str, target: str | None, case: Case) -> tuple[str, ...]:
    needs: list[str] = []
    if kind in REASON_ACTIONS:
        needs.append("reason")
    if kind == "return_result":
        needs.append("return_method")
    if target is not None and resolve_performer(definition, definition.step(target), case) is None:
        needs.append("transfer_unit_code")
    return tuple(needs)


def offered(definition: ProcedureDefinition, case: Case) -> list[AllowedAction]:
    """What the current step offers, whoever asks (empty while the dossier is final or waits for the applicant)."""
    if case.final or case.paused or case.current_step is None:
        return []
    step = definition.step(case.current_step)
    result = []
    # In the order of ACTION_KINDS, whatever order the definition's JSON came in (PostgreSQL's jsonb sorts keys).
    for kind, target in sorted(step.actions.items(), key=lambda item: ACTION_KINDS.index(item[0])):
        if kind == "request_supplement" and case.supplement_requests >= definition.supplement.max_requests:
            continue
        name = definition.step(target).name if target else None
        result.append(AllowedAction(kind, target, name, _needs(definition, kind, target, case)))
    return result


def authorize_officer(
    principal: Principal, dossier: Mapping, roles: frozenset[str] | tuple[str, ...] | None = None
) -> None:
    """Only an officer of the unit holding the dossier's current step, with one of ``roles``, may act on it.

    Someone who may not even see the dossier gets the same 404 as for an unknown code (:class:`NotVisible`);
    someone who may see it but not act (another unit that held it, a provincial operator, a citizen party, an
    officer of the unit without the role) gets 403 (:class:`NotAllowed`)."""
    unit = dossier.get("current_unit_code") or dossier["unit_code"]
    if principal.kind != "officer" or principal.unit_code != unit:
        if may_read(principal, dossier):
            raise NotAllowed("Only officers of the unit holding the dossier's current step may act on it.")
        raise NotVisible()
    if roles is not None and not principal.roles & set(roles):
        raise NotAllowed(f"This needs one of the roles: {', '.join(sorted(roles))}.")


def allowed_for(definition: ProcedureDefinition, dossier: Mapping, principal: Principal) -> list[AllowedAction]:
    """What ``principal`` may do now (GET /actions). Officers of the holding unit with a role of the current step
    get the step's actions (plus ``extend`` for the unit's head or approver while the clock runs); the citizen
    parties, and receiving officers of the receiving unit, get ``supplement`` while a supplement is awaited."""
    case = Case.from_row(dossier)
    result: list[AllowedAction] = []
    if case.paused and may_supplement(principal, dossier):
        result.append(AllowedAction("supplement", case.current_step, None, ("document_ids",)))
    if principal.kind != "officer" or principal.unit_code != acting_unit(case) or case.final:
        return result
    if case.current_step is not None and principal.roles & set(definition.step(case.current_step).roles):
        result += offered(definition, case)
    if not case.paused and principal.roles & EXTENSION_ROLES:
        result.append(AllowedAction("extend", None, None, ("reason", "new_due_at")))
    return result


def _clean_reason(reason: str | None) -> str:
    clean = (reason or "").strip()
    if not clean or len(clean) > MAX_REASON_LENGTH:
        raise InvalidRequest("reason", f"This action needs a reason of 1 to {MAX_REASON_LENGTH} characters.")
    return clean


def _status_after(kind: str, current: str) -> Status:
    if kind in FINAL_ACTIONS:
        return FINAL_ACTIONS[kind]
    match kind:
        case "approve":
            return Status.APPROVED
        case "issue_result":
            return Status.RESULT_ISSUED
        case "request_supplement":
            return Status.SUPPLEMENT_REQUESTED
        case "forward" | "transfer" if current in (Status.APPROVED, Status.RESULT_ISSUED):
            return Status(current)
    return Status.PROCESSING


def decide(
    definition: ProcedureDefinition, dossier: Mapping, principal: Principal, request: ActionRequest
) -> Transition:
    """The transition ``request`` makes, or the refusal. Checks in order: who may act at all (404/403), whether
    the current step offers the action (409), the step's roles (403), then the request's fields (422)."""
    case = Case.from_row(dossier)
    step_key = case.current_step
    if case.final or step_key is None:
        authorize_officer(principal, dossier)  # 404 for strangers before saying anything
        raise InvalidTransition(request.kind, None, case.status, [])
    step = definition.step(step_key)
    # The unit first (404/403 before the step is discussed), then a role the procedure uses at all (a provincial
    # operator takes no action).
    authorize_officer(principal, dossier, frozenset(r for s in definition.steps for r in s.roles))
    allowed = [a.kind for a in offered(definition, case)]
    if request.kind not in step.actions or case.paused:
        raise InvalidTransition(request.kind, step_key, case.status, allowed)
    if request.kind == "request_supplement" and request.kind not in allowed:
        raise LimitReached(
            f"The procedure allows {definition.supplement.max_requests} supplement request(s); "
            f"{case.supplement_requests} already made."
        )
    authorize_officer(principal, dossier, step.roles)
    target = step.actions[request.kind]
    if request.target is not None and request.target != target:
        raise InvalidRequest(
            "target", f"Action '{request.kind}' at step '{step_key}' leads to '{target}', not '{request.target}'."
        )
    reason = _clean_reason(request.reason) if request.kind in REASON_ACTIONS else None
    if request.kind == "request_supplement" and not request.components_requested and not reason:
        raise InvalidRequest("components_requested", "Say what is missing.")
    if request.kind == "return_result":
        if request.return_method is None:
            raise InvalidRequest("return_method", "Say how the result is returned: online, counter or post.")
        if request.return_method not in definition.result_delivery:
            raise InvalidRequest(
                "return_method",
                f"This procedure returns results by: {', '.join(definition.result_delivery)}.",
            )
    to_unit: str | None = None
    new_agency: tuple[str, str] | None = None
    if target is not None:
        next_step = definition.step(target)
        named = request.transfer_unit_code
        if next_step.performer in ("receiving_unit", "competent_unit"):
            named = None  # a step of the dossier's own units: nothing to choose
        to_unit = resolve_performer(definition, next_step, case, named)
        if to_unit is None:
            raise InvalidRequest(
                "transfer_unit_code",
                f"Step '{target}' is performed by a unit of level '{next_step.performer}': name it.",
            )
        if named and next_step.performer not in ("receiving_unit", "competent_unit"):
            new_agency = (next_step.performer, named)
    return Transition(
        kind=request.kind,
        from_step=step_key,
        to_step=target,
        status=_status_after(request.kind, case.status),
        outcome=OUTCOMES[request.kind],
        to_unit_code=to_unit,
        new_agency=new_agency,
        reason=reason,
    )


def resolve_alias(definition: ProcedureDefinition, dossier: Mapping, alias: str) -> str:
    """The action kind a deprecated per-action endpoint stands for at the dossier's current step."""
    kinds = LEGACY_ALIASES[alias]
    step_key = dossier["current_step"]
    if step_key is not None and dossier["status"] not in FINAL_STATUSES:
        offered_kinds = definition.step(step_key).actions
        for kind in kinds:
            if kind in offered_kinds:
                return kind
    return kinds[0]


# ---------------------------------------------------------------------------------------------- supplements


def may_supplement(principal: Principal, dossier: Mapping) -> bool:
    """The applicant or submitting citizen, or a receiving officer of the unit that received the dossier (at a
    counter, on the applicant's behalf)."""
    if principal.kind == "citizen":
        return is_party(principal.subject, dossier)
    receiving = dossier.get("receiving_unit_code") or dossier["unit_code"]
    return principal.kind == "officer" and principal.unit_code == receiving and principal.has_role(RECEIVING_OFFICER)


def authorize_supplement(principal: Principal, dossier: Mapping) -> None:
    if may_supplement(principal, dossier):
        if dossier["status"] != Status.SUPPLEMENT_REQUESTED:
            raise InvalidTransition("supplement", dossier["current_step"], dossier["status"], [])
        return
    if may_read(principal, dossier):
        raise NotAllowed(
            "Only the applicant, the citizen who submitted the dossier or a receiving officer may supplement it."
        )
    raise NotVisible()


def authorize_extension(principal: Principal, dossier: Mapping) -> None:
    authorize_officer(principal, dossier, EXTENSION_ROLES)
    if dossier["status"] not in RUNNING_STATUSES:
        raise InvalidTransition("extend", dossier["current_step"], dossier["status"], [])


# ---------------------------------------------------------------------------------------------- work queues

# Who sees the whole queue of a unit (every step of every dossier it holds): its head, and a provincial operator
# (of any unit, or of the whole province). Other officers see the steps one of their roles may take.
WHOLE_QUEUE_ROLES = frozenset({UNIT_HEAD, PROVINCIAL_OPERATOR})
# The roles a step can name (a provincial operator takes no step).
STEP_ROLES = tuple(r for r in OFFICER_ROLES if r != PROVINCIAL_OPERATOR)


@dataclass(frozen=True)
class QueueScope:
    """Whose queue: the unit holding the current step (None: every unit of the province) and the roles the current
    step must name one of (None: any step)."""

    unit_code: str | None
    roles: frozenset[str] | None


def queue_scope(principal: Principal, unit_code: str | None, role: str | None) -> QueueScope:
    """The queue an officer may read (:class:`NotAllowed` otherwise, a 403: a queue is not an object whose existence
    is secret).

    - the unit: their own; a provincial operator may name any unit, or none for the whole province;
    - the steps: a unit head or a provincial operator sees every step, or the steps of ``role`` if they name one;
      any other officer sees the steps that name one of their roles, or of ``role`` if they hold it.
    """
    if principal.kind != "officer":
        raise NotAllowed("Only officers have a work queue.")
    if principal.has_role(PROVINCIAL_OPERATOR):
        unit = unit_code
    elif unit_code is not None and unit_code != principal.unit_code:
        raise NotAllowed("Officers see their own unit's work queue only.")
    else:
        unit = principal.unit_code
    whole = bool(principal.roles & WHOLE_QUEUE_ROLES)
    if role is not None:
        if not whole and role not in principal.roles:
            raise NotAllowed(f"Only the unit head sees the queue of a role the officer does not hold ('{role}').")
        return QueueScope(unit, frozenset({role}))
    if whole:
        return QueueScope(unit, None)
    return QueueScope(unit, frozenset(r for r in principal.roles if r in STEP_ROLES))


@dataclass(frozen=True)
class QueueFlags:
    overdue: bool  # past its due date, the clock running
    due_soon: bool  # within the due-soon window before its due date, not yet overdue
    paused: bool  # waiting for the applicant's supplement: the clock is suspended, neither flag applies


def queue_flags(row: Mapping, now: datetime, due_soon_until: datetime) -> QueueFlags:
    """The flags of a queue item, as the queue's ``overdue`` and ``due_soon`` filters select them: overdue before
    ``now``; due soon from ``now`` to ``due_soon_until`` (:meth:`~processing.deadlines.Clock.due_soon_until`, the
    engine's due-soon rule as a range of due dates)."""
    paused = row["status"] == Status.SUPPLEMENT_REQUESTED
    overdue = not paused and row["due_at"] < now
    due_soon = not paused and now <= row["due_at"] <= due_soon_until
    return QueueFlags(overdue=overdue, due_soon=due_soon, paused=paused)


# ---------------------------------------------------------------------------------------------- predicted completion

PREDICTION_PERCENTILE = 80  # the share of past dossiers done within the time the prediction counts


def _vn_number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def prediction_label(
    at: datetime, typical_working_days: float, sample_size: int, *, paused: bool, beyond_typical: bool
) -> str:
    """What the citizen reads beside the legal due date (Vietnamese)."""
    basis = (
        f"{PREDICTION_PERCENTILE}% trong {sample_size} hồ sơ cùng thủ tục gần đây tại đơn vị được giải quyết trong "
        f"{_vn_number(typical_working_days)} ngày làm việc"
    )
    if beyond_typical:
        return f"Hồ sơ đã quá thời gian giải quyết thường thấy ({basis})."
    local = at.astimezone(VN_TZ)
    when = f"Dự kiến có kết quả trước {local:%H:%M} ngày {local:%d/%m/%Y}"
    if paused:
        when += " nếu hồ sơ được bổ sung ngay"
    return f"{when} ({basis})."


# ---------------------------------------------------------------------------------------------- timeliness


def timeliness(completed_at: datetime, due_at: datetime) -> Timeliness:
    """Classify a completion against the legal due date, as units are judged (Decision 766/QĐ-TTg).

    Early means done on a calendar day (Vietnam time) before the due date's day; on time means the due
    day itself and not after the due instant; anything after the due instant is late. ``due_at`` is the legal
    due date: moved by supplement pauses (the law suspends the time), never by an extension (an apology with a new
    appointment, form 04, is issued *because* the dossier is late).
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
