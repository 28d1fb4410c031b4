"""Use cases: store procedure versions, open a case, apply the engine's transitions, supplements, extensions,
deadline detection, tracking and the work queue. They take the caller's connection (one transaction) and never
commit."""

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from motcua_common.auth import Principal, forbidden
from motcua_common.contracts import (
    Actor,
    ApplicantRef,
    DossierAccepted,
    DossierApproved,
    DossierDueSoon,
    DossierEvent,
    DossierExtended,
    DossierOverdue,
    DossierRefused,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierState,
    DossierStepForwarded,
    DossierSubmitted,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierTransferred,
    ProcedureVersionPublished,
)
from motcua_common.outbox import OutboxRow, enqueue, insert_row, outbox_row
from motcua_common.pagination import decode_keyset, encode_keyset, filter_scope
from motcua_common.problems import FieldError, ProblemError
from motcua_common.procedures import ProcedureDefinition

from . import domain, repository
from .deadlines import DUE_REASONS, Clock
from .domain import ActionRequest, Status, Transition
from .schemas import (
    AllowedAction,
    AllowedActions,
    DossierView,
    DueChange,
    ExtensionView,
    PredictedCompletion,
    PublicDossierView,
    Ref,
    SupplementRequestView,
    TimelineStep,
)
from .settings import Settings

log = logging.getLogger("processing.service")


def dossier_not_found(code: str) -> ProblemError:
    return ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier has the code '{code}'.")


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422, "validation-error", "Dữ liệu không hợp lệ", message, [FieldError(field=field, message=message)]
    )


def _problem(exc: Exception, code: str) -> ProblemError:
    """The problem+json for an engine refusal."""
    match exc:
        case domain.NotVisible():
            return dossier_not_found(code)
        case domain.NotAllowed():
            return forbidden(str(exc))
        case domain.InvalidTransition():
            return ProblemError(
                409,
                "invalid-transition",
                "Thao tác không hợp lệ với trạng thái hiện tại của hồ sơ",
                str(exc),
                allowed_actions=exc.allowed,
            )
        case domain.LimitReached():
            return ProblemError(409, "supplement-limit-reached", "Đã hết số lần yêu cầu bổ sung hồ sơ", str(exc))
        case domain.InvalidRequest():
            return _invalid(exc.field, str(exc))
    raise exc


# ---------------------------------------------------------------------------------------------- procedure versions

_DEFINITIONS: dict[tuple[str, int], ProcedureDefinition] = {}  # versions never change: safe to keep per process


async def definition_of(conn: asyncpg.Connection, code: str, version: int) -> ProcedureDefinition | None:
    key = (code, version)
    if key not in _DEFINITIONS:
        text = await repository.get_procedure_version(conn, code, version)
        if text is None:
            return None
        _DEFINITIONS[key] = ProcedureDefinition.model_validate_json(text)
    return _DEFINITIONS[key]


async def _definition_for(conn: asyncpg.Connection, row: asyncpg.Record) -> ProcedureDefinition:
    found = await definition_of(conn, row["procedure_code"], row["procedure_version"])
    if found is None:  # a case is opened only once its version is stored, and versions are never deleted
        raise RuntimeError(f"procedure {row['procedure_code']} v{row['procedure_version']} is not stored")
    return found


async def store_version(
    conn: asyncpg.Connection, settings: Settings, clock: Clock, published: ProcedureVersionPublished
) -> int:
    """Keep a published procedure version (the first announcement of a code and version wins: a version never
    changes) and open the dossiers that were waiting for it. Returns how many were opened."""
    definition = published.definition()
    await repository.lock_procedure_version(conn, definition.code, definition.version)
    stored = await repository.insert_procedure_version(
        conn, definition.code, definition.version, definition.model_dump(mode="json"), published.published_at
    )
    if not stored:
        log.info("procedure %s v%s already stored", definition.code, definition.version)
    opened = 0
    for pending in await repository.take_pending(conn, definition.code, definition.version):
        data = DossierSubmitted.model_validate_json(pending["data"])
        opened += await _open(conn, settings, clock, data, definition)
    return opened


# ---------------------------------------------------------------------------------------------- opening a case


async def open_case(
    conn: asyncpg.Connection, settings: Settings, clock: Clock, data: DossierSubmitted, event_id: str
) -> bool:
    """Open the case for a submitted dossier at the first step of its procedure version, and publish its state.
    Its ``dossier.submitted`` is the dossier's event number 1 (``event_sequence`` starts there).

    A dossier whose procedure version has not arrived yet waits (``pending_submissions``) and is opened when the
    version is stored. Returns False when it waits or is already open."""
    definition = _DEFINITIONS.get((data.procedure_code, data.procedure_version))
    if definition is None:
        # Only a submission that may have to wait races with its version's arrival. A version in the cache was read
        # from the database, so it is stored: then the case opens without the lock (one round trip less per event).
        await repository.lock_procedure_version(conn, data.procedure_code, data.procedure_version)
        definition = await definition_of(conn, data.procedure_code, data.procedure_version)
    if definition is None:
        log.info(
            "dossier %s waits for procedure %s v%s", data.dossier_code, data.procedure_code, data.procedure_version
        )
        await repository.insert_pending(
            conn,
            data.dossier_id,
            data.procedure_code,
            data.procedure_version,
            event_id,
            data.model_dump(mode="json"),
        )
        return False
    return await _open(conn, settings, clock, data, definition)


async def _open(
    conn: asyncpg.Connection, settings: Settings, clock: Clock, data: DossierSubmitted, definition: ProcedureDefinition
) -> bool:
    # The units the dossier names, by code (the performers' after the competent unit's: they are named last).
    units = {data.unit_code: data.unit_name} | {unit.code: unit.name for unit in (data.performer_units or {}).values()}
    first = definition.steps[0]
    # The units intake chose for the steps of other levels (inter-agency), by performer.
    agency_units = {level: unit.model_dump() for level, unit in (data.performer_units or {}).items()}
    case = domain.Case(
        code=data.dossier_code,
        status=Status.SUBMITTED,
        current_step=first.key,
        unit_code=data.unit_code,
        receiving_unit_code=data.receiving_unit_code,
        current_unit_code=None,
        agency_units={level: unit["code"] for level, unit in agency_units.items()},
    )
    unit_code = domain.resolve_performer(definition, first, case) or data.unit_code
    if unit_code == data.unit_code:
        unit_name = data.unit_name
    else:
        unit_name = units.get(unit_code) or await repository.unit_name(conn, unit_code) or unit_code
    # The citizens who will list it under GET /me/dossiers: the applicant and the submitter (often one person).
    parties: dict[str, dict[str, bool]] = {}
    if data.applicant.kind == "citizen" and data.applicant.subject:
        parties.setdefault(data.applicant.subject, {"applicant": False, "submitter": False})["applicant"] = True
    if data.submitted_by.kind == "citizen":
        parties.setdefault(data.submitted_by.subject, {"applicant": False, "submitter": False})["submitter"] = True
    dossier = {
        "id": data.dossier_id,
        "code": data.dossier_code,
        "procedure_code": data.procedure_code,
        "procedure_name": data.procedure_name,
        "procedure_version": data.procedure_version,
        "channel": data.channel,
        "applicant_kind": data.applicant.kind,
        "applicant_subject": data.applicant.subject,
        "applicant_tax_code": data.applicant.tax_code,
        "submitter_kind": data.submitted_by.kind,
        "submitter_subject": data.submitted_by.subject,
        "receiving_unit_code": data.receiving_unit_code,
        "unit_code": data.unit_code,
        "unit_name": data.unit_name,
        "status": str(Status.SUBMITTED),
        "received_at": data.received_at,
        "due_at": data.appointment_at,
        "current_step": first.key,
        "current_roles": first.roles,
        "current_unit_code": unit_code,
        "current_unit_name": unit_name,
        "bundle": data.bundle.model_dump(mode="json") if data.bundle else None,
        "fee_vnd": data.fee_vnd,
        "due_soon_at": clock.due_soon_at(data.appointment_at, settings.due_soon_working_days),
        "agency_units": agency_units,
    }
    # Its state event (number 1) is written by the same statement, built from what is inserted as
    # publish_state would build it from the row (tests/integration/test_processing_state.py).
    state = state_event(_as_inserted(dossier), data.occurred_at)
    opened = await repository.open_dossier(
        conn,
        dossier,
        units=units,
        first_step={
            "step": first.key,
            "name_vi": first.name,
            "unit_code": unit_code,
            "unit_name": unit_name,
            "entered_at": data.submitted_at,
            "due_at": clock.step_due(data.submitted_at, first),
        },
        parties=parties,
        events=[_state_row(settings, state)],
    )
    if opened is None:
        log.info("dossier %s already open; announcement ignored", data.dossier_code)
        return False
    return True


def _as_inserted(dossier: dict[str, Any]) -> dict[str, Any]:
    """A new dossier's row as ``open_dossier`` returns it: the columns the state event reads (times in UTC, as the
    driver returns them; event number 1, not completed; the legal due date is the appointment)."""
    return dossier | {
        "received_at": dossier["received_at"].astimezone(UTC),
        "due_at": dossier["due_at"].astimezone(UTC),
        "legal_due_at": dossier["due_at"].astimezone(UTC),
        "event_sequence": 1,
        "completed_at": None,
        "timeliness": None,
    }


async def _unit_name(conn: asyncpg.Connection, code: str, known_code: str, known_name: str) -> str:
    if code == known_code:
        return known_name
    return await repository.unit_name(conn, code) or code


# ---------------------------------------------------------------------------------------------- actions


async def _locked(conn: asyncpg.Connection, ref: str, now: datetime | None) -> tuple[asyncpg.Record, datetime]:
    """The dossier locked for a change, and the change's time: taken once the row is locked, and never before the
    dossier's last action, so event times never run backwards (even with clocks of several replicas a little
    apart)."""
    row = await repository.lock_dossier(conn, ref)
    if row is None:
        raise dossier_not_found(ref)
    now = now or datetime.now(UTC)
    last_action = await repository.last_action_at(conn, row["id"])
    if last_action is not None and now < last_action:
        now = last_action
    return row, now


def _check_version(row: asyncpg.Record, if_match: int | None) -> None:
    if if_match is not None and if_match != row["version"]:
        raise ProblemError(
            412,
            "precondition-failed",
            "Hồ sơ đã thay đổi",
            f"The dossier is at version {row['version']}, not {if_match}; reload it and retry.",
        )


async def act(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    ref: str,
    request: ActionRequest,
    officer: Principal,
    *,
    if_match: int | None = None,
    now: datetime | None = None,
) -> DossierView:
    """Apply one action through the engine: complete the current step, open the next (in whichever unit performs
    it), move the clock, update the dossier and enqueue the event (numbered ``event_sequence + 1``) and the
    dossier's new state, all in the caller's transaction under a row lock on the dossier."""
    row, now = await _locked(conn, ref, now)
    definition = await _definition_for(conn, row)
    try:
        move = domain.decide(definition, row, officer, request)
    except (
        domain.NotVisible,
        domain.NotAllowed,
        domain.InvalidTransition,
        domain.LimitReached,
        domain.InvalidRequest,
    ) as exc:
        raise _problem(exc, ref) from None
    _check_version(row, if_match)
    await _apply(conn, settings, clock, row, definition, move, request, officer, now)
    return await _settled(conn, settings, clock, row["id"], now, officer)


async def _apply(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    row: asyncpg.Record,
    definition: ProcedureDefinition,
    move: Transition,
    request: ActionRequest,
    officer: Principal,
    now: datetime,
) -> None:
    dossier_id, code = row["id"], row["code"]
    sequence = row["event_sequence"] + 1
    fields: dict[str, Any] = {"status": str(move.status), "event_sequence": sequence}
    due_at, legal_due_at = row["due_at"], row["legal_due_at"]
    step_note = request.note
    kind = move.kind

    if kind == "receive":  # the legal clock starts at receipt (form 01)
        started, due_at = clock.start(now, definition.budget)
        legal_due_at = due_at
        fields.update(clock_started_at=started)
        await _due_changed(conn, settings, clock, fields, dossier_id, now, "received", row["due_at"], due_at)
        fields["legal_due_at"] = legal_due_at
    if move.reason is not None:
        step_note = move.reason
    if kind in ("reject", "refuse"):
        fields["rejection_reason"] = move.reason
        if kind == "refuse":
            fields["refused_at"] = now
    elif kind == "issue_result":
        result_number = request.result_number or domain.default_result_number(code)
        fields.update(
            result_number=result_number, result_issued_at=now, timeliness=domain.timeliness(now, legal_due_at)
        )
        step_note = request.note or f"Số kết quả: {result_number}"
    elif kind == "return_result":
        assert request.return_method is not None  # the engine refuses return_result without it
        fields["return_method"] = request.return_method
        if row["timeliness"] is None:  # a procedure without an issue_result step is judged when it returns
            fields["timeliness"] = domain.timeliness(now, legal_due_at)
        step_note = domain.RETURN_METHOD_NOTES[request.return_method]
    elif kind == "request_supplement":
        await repository.insert_supplement_request(
            conn,
            dossier_id,
            seq=row["supplement_count"] + 1,
            step=move.from_step,
            unit_code=row["current_unit_code"],
            unit_name=row["current_unit_name"],
            requested_by=officer.subject,
            requested_by_name=officer.name,
            requested_at=now,
            reason=move.reason,
            components_requested=list(request.components_requested),
            status_before=row["status"],
            clock_rule=definition.supplement.clock,
            due_at_request=due_at,
        )
        fields.update(paused_at=now, supplement_count=row["supplement_count"] + 1)
        await repository.insert_due_change(
            conn,
            dossier_id,
            at=now,
            kind="paused",
            reason=DUE_REASONS["paused"] + f": {move.reason}",
            previous_due_at=due_at,
            due_at=None,
        )

    current = await repository.open_step(conn, dossier_id)
    if current is not None:
        await repository.complete_step(
            conn,
            current["id"],
            handler=officer.subject,
            handler_name=officer.name,
            completed_at=now,
            outcome=move.outcome,
            note=step_note,
            action=kind,
        )
    seq = await repository.last_seq(conn, dossier_id) + 1
    if move.to_step is not None:
        assert move.to_unit_code is not None  # the engine names the unit of every step it leads to
        next_step = definition.step(move.to_step)
        unit_name = await _unit_name(conn, move.to_unit_code, row["current_unit_code"], row["current_unit_name"])
        if move.to_unit_code == row["unit_code"]:
            unit_name = row["unit_name"]
        same_unit = move.to_unit_code == row["current_unit_code"]
        # The acting officer carries the dossier into the next step of their own unit until someone acts on it;
        # another unit's step waits in that unit's queue.
        await repository.insert_step(
            conn,
            dossier_id=dossier_id,
            seq=seq,
            step=next_step.key,
            name_vi=next_step.name,
            unit_code=move.to_unit_code,
            unit_name=unit_name,
            handler=officer.subject if same_unit else None,
            handler_name=officer.name if same_unit else None,
            entered_at=now,
            due_at=clock.step_due(now, next_step),
        )
        involved = sorted(set(row["involved_units"] or ()) | {move.to_unit_code})
        fields.update(
            current_step=next_step.key,
            current_roles=list(next_step.roles),
            current_handler=officer.subject if same_unit else None,
            current_unit_code=move.to_unit_code,
            current_unit_name=unit_name,
            involved_units=involved,
        )
        if move.new_agency is not None:
            level, unit = move.new_agency
            fields["agency_units"] = {**(row["agency_units"] or {}), level: {"code": unit, "name": unit_name}}
    elif kind == "request_supplement":
        # The applicant holds the dossier now: a pseudo-step on the sheet, back to the asking step on supplement.
        await repository.insert_step(
            conn,
            dossier_id=dossier_id,
            seq=seq,
            step=domain.SUPPLEMENT_STEP,
            name_vi=domain.SUPPLEMENT_STEP_NAME,
            unit_code=row["current_unit_code"],
            unit_name=row["current_unit_name"],
            handler=None,
            handler_name=None,
            entered_at=now,
            due_at=due_at,
        )
        fields["current_handler"] = None
    else:
        fields.update(current_step=None, current_roles=[], current_handler=None, completed_at=now)
    if "due_at" not in fields:
        fields["due_at"] = due_at
    event = _event_for(row, move, request, officer, now, fields, definition)
    if "timeliness" in fields:  # the dossier has its result: a sample for the predicted completion date
        seconds = await _record_completion(conn, settings, clock, row, now)
        if isinstance(event, DossierResultIssued) and seconds is not None:
            event.processing_working_days = round(clock.working_days(seconds), 3)
    await _commit(conn, settings, row, fields, event)


async def _commit(
    conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, fields: dict[str, Any], event: DossierEvent
) -> None:
    """Write the dossier's change (only if it is still at the version read under the lock) and its event, numbered
    ``fields["event_sequence"]``."""
    if not await repository.update_dossier(conn, row["id"], row["version"], **fields):
        raise ProblemError(
            409,
            "concurrent-update",
            "Hồ sơ vừa được cập nhật bởi thao tác khác",
            "The dossier changed while this action was applied; reload and retry.",
        )
    await _enqueue(conn, settings, row, event, fields["event_sequence"])


async def _enqueue(
    conn: asyncpg.Connection,
    settings: Settings,
    row: asyncpg.Record,
    data: DossierEvent | DossierState,
    number: int,
    topic: str | None = None,
) -> None:
    """Write the dossier's ``number``-th event (on the dossier topic unless another is named) to the outbox."""
    await enqueue(
        conn,
        data.in_sequence(number),
        topic=topic or settings.dossier_topic,
        key=str(row["id"]),
        source=settings.event_source,
        subject=row["code"],
    )


async def _settled(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    dossier_id: UUID,
    now: datetime,
    principal: Principal,
) -> DossierView:
    """After a change: publish the dossier's new state and answer with its sheet."""
    updated = await repository.get_sheet(conn, str(dossier_id))
    await publish_state(conn, settings, updated, now)
    return await _full_view(conn, settings, clock, updated, now)


async def _due_changed(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    fields: dict[str, Any],
    dossier_id: UUID,
    at: datetime,
    kind: str,
    previous: datetime | None,
    due_at: datetime,
    reason: str | None = None,
) -> None:
    """Record a new due date with its reason; the deadline marks are cleared so the detectors watch the new one."""
    fields.update(
        due_at=due_at,
        due_soon_at=clock.due_soon_at(due_at, settings.due_soon_working_days),
        overdue_notified_at=None,
        due_soon_notified_at=None,
    )
    await repository.insert_due_change(
        conn,
        dossier_id,
        at=at,
        kind=kind,
        reason=reason or DUE_REASONS[kind],
        previous_due_at=previous,
        due_at=due_at,
    )


def _event_for(
    row: asyncpg.Record,
    move: Transition,
    request: ActionRequest,
    officer: Principal,
    now: datetime,
    fields: dict[str, Any],
    definition: ProcedureDefinition,
) -> DossierEvent:
    common: dict[str, Any] = {
        "dossier_id": row["id"],
        "dossier_code": row["code"],
        "occurred_at": now,
        "unit_code": row["current_unit_code"],
        "unit_name": row["current_unit_name"],
        "handler": officer.subject,
        "due_at": fields["due_at"],
    }
    # The events of issue 6 also say which step was completed and where the dossier went (those before keep
    # their published shape).
    moved: dict[str, Any] = {
        **common,
        "step": move.from_step,
        "next_step": move.to_step,
        "next_step_name": definition.step(move.to_step).name if move.to_step else None,
        "next_unit_code": fields.get("current_unit_code") if move.to_step else None,
        "next_unit_name": fields.get("current_unit_name") if move.to_step else None,
    }
    # The engine gives every refuse/reject/request_supplement a reason and every return_result a method.
    why: dict[str, Any] = {"reason": move.reason}
    status: dict[str, Any] = {"status": str(move.status)}
    method: dict[str, Any] = {"return_method": request.return_method, "notify_post": request.return_method == "post"}
    match move.kind:
        case "receive":
            return DossierAccepted(**common)
        case "approve":
            return DossierApproved(**common)
        case "reject":
            return DossierRejected(**common, **why)
        case "refuse":
            return DossierRefused(**moved, **why)
        case "issue_result":
            return DossierResultIssued(**common, result_number=fields["result_number"], timeliness=fields["timeliness"])
        case "return_result":
            return DossierResultReturned(**common, **method)
        case "request_supplement":
            return DossierSupplementRequested(
                **moved,
                **why,
                components_requested=list(request.components_requested),
                request_number=fields["supplement_count"],
                clock_rule=definition.supplement.clock,
            )
        case "transfer":
            return DossierTransferred(**moved, **status)
    return DossierStepForwarded(**moved, **status)


# ---------------------------------------------------------------------------------------------- completion times


async def _pauses(conn: asyncpg.Connection, dossier_id: UUID, now: datetime) -> list[tuple[datetime, datetime]]:
    """The dossier's supplement waits, (requested, supplemented), the open one until ``now``."""
    return [
        (r["requested_at"], r["supplemented_at"] or now) for r in await repository.supplement_requests(conn, dossier_id)
    ]


async def _record_completion(
    conn: asyncpg.Connection, settings: Settings, clock: Clock, row: asyncpg.Record, now: datetime
) -> float | None:
    """Keep how much office time the dossier took from receipt to its result, its supplement waits left out, in its
    procedure and competent unit's summary (the predicted completion date of the next dossiers); return it."""
    started = row["clock_started_at"]
    if started is None:  # never received: a result needs a receipt first, but do not guess
        return None
    seconds = clock.office_seconds(started, now, await _pauses(conn, row["id"], now))
    await repository.record_completion(
        conn,
        dossier_id=row["id"],
        procedure_code=row["procedure_code"],
        unit_code=row["unit_code"],
        completed_at=now,
        working_seconds=seconds,
        window=settings.prediction_window,
    )
    return seconds


def _prediction(settings: Settings, clock: Clock, row: asyncpg.Record, now: datetime) -> PredictedCompletion | None:
    """When the dossier is likely to have its result, from the office time past dossiers of its procedure and
    competent unit took from receipt to result (their 80th percentile), counted from its own receipt; None once it
    has its result or is final, or with too few past dossiers."""
    if row["status"] in domain.FINAL_STATUSES or row["timeliness"] is not None:
        return None
    stats = row["sheet_completion_stats"]
    if stats is None or stats["sample_size"] < settings.prediction_min_samples or stats["p80_seconds"] is None:
        return None
    typical = stats["p80_seconds"]
    # Not received yet: counted from the submission, as if received then.
    started = row["clock_started_at"] or row["received_at"]
    pauses = [(r["requested_at"], r["supplemented_at"] or now) for r in row["sheet_supplement_requests"]]
    at, beyond = clock.predicted_completion(started, pauses, now, typical)
    typical_days = round(clock.working_days(typical), 1)
    return PredictedCompletion(
        at=at,
        percentile=domain.PREDICTION_PERCENTILE,
        typical_working_days=typical_days,
        median_working_days=round(clock.working_days(stats["median_seconds"]), 1),
        sample_size=stats["sample_size"],
        beyond_typical=beyond,
        label=domain.prediction_label(
            at, typical_days, stats["sample_size"], paused=row["paused_at"] is not None, beyond_typical=beyond
        ),
    )


# ---------------------------------------------------------------------------------------------- supplements


async def supplement(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    ref: str,
    principal: Principal,
    *,
    note: str | None,
    document_ids: list[UUID],
    if_match: int | None = None,
    now: datetime | None = None,
) -> DossierView:
    """The applicant (or a receiving officer at the counter on their behalf) supplements: the clock runs again
    (the time left at the pause, or the whole budget anew, per the procedure) and the dossier goes back to the step
    that asked."""
    row, now = await _locked(conn, ref, now)
    try:
        domain.authorize_supplement(principal, row)
    except (domain.NotVisible, domain.NotAllowed, domain.InvalidTransition) as exc:
        raise _problem(exc, ref) from None
    _check_version(row, if_match)
    definition = await _definition_for(conn, row)
    request = await repository.open_supplement_request(conn, row["id"])
    assert request is not None and row["paused_at"] is not None  # status supplement_requested has both
    paused_at = row["paused_at"]
    step = definition.step(request["step"])
    rule = definition.supplement.clock
    due_at = clock.resumed(row["due_at"], paused_at, now, definition, definition.budget)
    legal_due_at = clock.resumed(row["legal_due_at"], paused_at, now, definition, definition.budget)
    sequence = row["event_sequence"] + 1
    fields: dict[str, Any] = {
        "status": request["status_before"],
        "paused_at": None,
        "legal_due_at": legal_due_at,
        "event_sequence": sequence,
    }
    kind = "restarted" if rule == "restart" else "resumed"
    await _due_changed(conn, settings, clock, fields, row["id"], now, kind, request["due_at_request"], due_at)
    await repository.answer_supplement_request(
        conn,
        row["id"],
        request["seq"],
        supplemented_at=now,
        supplemented_by_kind=principal.kind,
        supplemented_by=principal.subject,
        note=note,
        document_ids=document_ids,
        due_at_resume=due_at,
    )
    waiting = await repository.open_step(conn, row["id"])
    if waiting is not None:
        await repository.complete_step(
            conn,
            waiting["id"],
            handler=principal.subject,
            handler_name=principal.name if principal.kind == "officer" else None,
            completed_at=now,
            outcome="supplemented",
            note=note,
            action="supplement",
        )
    asking = [s for s in await repository.list_steps(conn, row["id"]) if s["step"] == request["step"]][-1]
    await repository.insert_step(
        conn,
        dossier_id=row["id"],
        seq=await repository.last_seq(conn, row["id"]) + 1,
        step=step.key,
        name_vi=step.name,
        unit_code=row["current_unit_code"],
        unit_name=row["current_unit_name"],
        handler=asking["handler"],
        handler_name=asking["handler_name"],
        entered_at=now,
        due_at=clock.resumed(asking["due_at"], paused_at, now, definition, step.budget),
    )
    fields["current_handler"] = asking["handler"]
    event = DossierSupplemented(
        dossier_id=row["id"],
        dossier_code=row["code"],
        occurred_at=now,
        status=request["status_before"],
        by=Actor(kind=principal.kind, subject=principal.subject),  # type: ignore[arg-type]  # citizen or officer
        request_number=request["seq"],
        document_count=len(document_ids),
        step=step.key,
        unit_code=row["current_unit_code"],
        unit_name=row["current_unit_name"],
        due_at=due_at,
    )
    await _commit(conn, settings, row, fields, event)
    return await _settled(conn, settings, clock, row["id"], now, principal)


# ---------------------------------------------------------------------------------------------- extensions


async def extend(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    ref: str,
    officer: Principal,
    *,
    reason: str,
    new_due_at: datetime,
    if_match: int | None = None,
    now: datetime | None = None,
) -> DossierView:
    """Form 04: the head or an approver of the unit holding the dossier apologises and sets a new appointment
    (later than the current one, on a working day). The applicant is told by e-mail or SMS (the event says so)."""
    row, now = await _locked(conn, ref, now)
    try:
        domain.authorize_extension(officer, row)
    except (domain.NotVisible, domain.NotAllowed, domain.InvalidTransition) as exc:
        raise _problem(exc, ref) from None
    _check_version(row, if_match)
    why_not = clock.acceptable_extension(row["due_at"], new_due_at)
    if why_not is not None:
        raise _invalid("new_due_at", why_not)
    reason = reason.strip()
    sequence = row["event_sequence"] + 1
    fields: dict[str, Any] = {"event_sequence": sequence}
    await repository.insert_extension(
        conn,
        row["id"],
        unit_code=row["current_unit_code"],
        unit_name=row["current_unit_name"],
        extended_by=officer.subject,
        extended_by_name=officer.name,
        extended_at=now,
        reason=reason,
        previous_due_at=row["due_at"],
        new_due_at=new_due_at,
    )
    await _due_changed(conn, settings, clock, fields, row["id"], now, "extended", row["due_at"], new_due_at, reason)
    event = DossierExtended(
        dossier_id=row["id"],
        dossier_code=row["code"],
        occurred_at=now,
        status=row["status"],
        unit_code=row["current_unit_code"],
        unit_name=row["current_unit_name"],
        handler=officer.subject,
        reason=reason,
        previous_due_at=row["due_at"],
        due_at=new_due_at,
    )
    await _commit(conn, settings, row, fields, event)
    return await _settled(conn, settings, clock, row["id"], now, officer)


# ---------------------------------------------------------------------------------------------- deadlines


async def detect_deadlines(
    conn: asyncpg.Connection, settings: Settings, *, now: datetime | None = None, limit: int = 100
) -> dict[str, int]:
    """One pass of the overdue and due-soon detector, in the caller's transaction: the dossiers that crossed a
    line are marked and their events written together (``claim_deadline``), so several replicas running this at
    once announce each dossier once per due date."""
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    for kind, model in (("overdue", DossierOverdue), ("due_soon", DossierDueSoon)):
        rows = await repository.claim_deadline(conn, kind, now, limit)
        for row in rows:
            definition = await _definition_for(conn, row)
            step = row["current_step"]
            event = model(
                dossier_id=row["id"],
                dossier_code=row["code"],
                occurred_at=now,
                status=row["status"],
                step=step,
                step_name=definition.step(step).name if step else None,
                unit_code=row["current_unit_code"],
                unit_name=row["current_unit_name"],
                due_at=row["due_at"],
            )
            await _enqueue(conn, settings, row, event, row["event_sequence"])
            await publish_state(conn, settings, row, now)
        counts[kind] = len(rows)
    return counts


# ---------------------------------------------------------------------------------------------- reading


async def allowed_actions(conn: asyncpg.Connection, ref: str, principal: Principal) -> AllowedActions:
    row = await repository.get_dossier(conn, ref)
    if row is None or not (domain.may_read(principal, row) or domain.may_supplement(principal, row)):
        raise dossier_not_found(ref)
    definition = await _definition_for(conn, row)
    step = row["current_step"]
    return AllowedActions(
        code=row["code"],
        status=row["status"],
        current_step=step,
        current_step_name=definition.step(step).name if step else None,
        actions=[
            AllowedAction(action=a.kind, target=a.target, target_name=a.target_name, needs=list(a.needs))
            for a in domain.allowed_for(definition, row, principal)
        ],
    )


def state_event(row: Mapping[str, Any], at: datetime) -> DossierState:
    """The dossier's current state, ``row`` as the dossiers table has it (``get_dossier``), numbered as the last
    dossier event it includes."""
    return DossierState(
        dossier_id=row["id"],
        dossier_code=row["code"],
        sequence=row["event_sequence"],
        occurred_at=at,
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        current_step=row["current_step"],
        procedure_code=row["procedure_code"],
        procedure_name=row["procedure_name"],
        procedure_version=row["procedure_version"],
        channel=row["channel"],
        receiving_unit_code=row["receiving_unit_code"],
        unit_code=row["unit_code"],
        unit_name=row["unit_name"],
        applicant=ApplicantRef(
            kind=row["applicant_kind"],
            subject=row["applicant_subject"],
            tax_code=row["applicant_tax_code"],
        ),
        received_at=row["received_at"],
        due_at=row["due_at"],
        completed_at=row["completed_at"],
        timeliness=row["timeliness"],
        current_unit_code=row["current_unit_code"],
        legal_due_at=row["legal_due_at"],
    ).in_sequence(row["event_sequence"])


async def publish_state(conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, at: datetime) -> None:
    """Enqueue the dossier's current state on the compacted state topic (key = dossier id), numbered as the
    last dossier event it includes."""
    await insert_row(conn, _state_row(settings, state_event(row, at)))


def _state_row(settings: Settings, state: DossierState) -> OutboxRow:
    return outbox_row(
        state,
        topic=settings.dossier_state_topic,
        key=str(state.dossier_id),
        source=settings.event_source,
        subject=state.dossier_code,
    )


async def view(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    ref: str,
    principal: Principal,
    *,
    now: datetime | None = None,
) -> DossierView:
    """The full tracking of a dossier, for those :func:`domain.may_read` admits; 404 for anyone else."""
    row = await repository.get_sheet(conn, ref)
    if row is None or not domain.may_read(principal, row):
        raise dossier_not_found(ref)
    return await _full_view(conn, settings, clock, row, now or datetime.now(UTC))


async def public_view(conn: asyncpg.Connection, ref: str) -> PublicDossierView:
    row = await repository.get_dossier(conn, ref)
    if row is None:
        raise dossier_not_found(ref)
    step = row["current_step"]
    step_name = None
    if step:
        step_name = (await _definition_for(conn, row)).step(step).name
        if row["status"] == Status.SUPPLEMENT_REQUESTED:
            step_name = domain.SUPPLEMENT_STEP_NAME
    return PublicDossierView(
        code=row["code"],
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        current_step_name=step_name,
        unit=Ref(code=row["unit_code"], name=row["unit_name"]),
        due_at=row["due_at"],
    )


async def _full_view(
    conn: asyncpg.Connection, settings: Settings, clock: Clock, row: asyncpg.Record, now: datetime
) -> DossierView:
    """The process control sheet (form 05): every step with its unit, handler, entered, left and due; the current
    due date with the reason of every change; the supplement requests and extensions; the predicted completion
    date beside the legal due date. ``row`` is a sheet (:func:`repository.get_sheet`): the dossier with its children."""
    steps = row["sheet_steps"]
    definition = await _definition_for(conn, row)
    step = row["current_step"]
    return DossierView(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        procedure=Ref(code=row["procedure_code"], name=row["procedure_name"]),
        unit=Ref(code=row["unit_code"], name=row["unit_name"]),
        channel=row["channel"],
        current_step=step,
        current_step_name=definition.step(step).name if step else None,
        current_unit=Ref(code=row["current_unit_code"], name=row["current_unit_name"]),
        current_handler=row["current_handler"],
        received_at=row["received_at"],
        due_at=row["due_at"],
        legal_due_at=row["legal_due_at"],
        predicted_completion=_prediction(settings, clock, row, now),
        paused_at=row["paused_at"],
        completed_at=row["completed_at"],
        timeliness=row["timeliness"],
        rejection_reason=row["rejection_reason"],
        result_number=row["result_number"],
        return_method=row["return_method"],
        version=row["version"],
        timeline=[
            TimelineStep(
                seq=s["seq"],
                step=s["step"],
                name=s["name_vi"],
                unit=Ref(code=s["unit_code"], name=s["unit_name"]),
                handler=s["handler"],
                handler_name=s["handler_name"],
                entered_at=s["entered_at"],
                due_at=s["due_at"],
                completed_at=s["completed_at"],
                outcome=s["outcome"],
                note=s["note"],
            )
            for s in steps
        ],
        due_history=[
            DueChange(
                changed_at=c["changed_at"],
                kind=c["kind"],
                reason=c["reason"],
                previous_due_at=c["previous_due_at"],
                due_at=c["due_at"],
            )
            for c in row["sheet_due_changes"]
        ],
        supplement_requests=[
            SupplementRequestView(
                seq=r["seq"],
                step=r["step"],
                unit=Ref(code=r["unit_code"], name=r["unit_name"]),
                requested_at=r["requested_at"],
                requested_by_name=r["requested_by_name"],
                reason=r["reason"],
                components_requested=list(r["components_requested"]),
                supplemented_at=r["supplemented_at"],
                note=r["note"],
                document_count=len(r["document_ids"] or ()),
            )
            for r in row["sheet_supplement_requests"]
        ],
        extensions=[
            ExtensionView(
                seq=e["seq"],
                unit=Ref(code=e["unit_code"], name=e["unit_name"]),
                extended_at=e["extended_at"],
                reason=e["reason"],
                previous_due_at=e["previous_due_at"],
                new_due_at=e["new_due_at"],
            )
            for e in row["sheet_extensions"]
        ],
    )


# ---------------------------------------------------------------------------------------------- idempotency


async def idempotent(
    conn: asyncpg.Connection,
    caller: Principal,
    key: str | None,
    operation: str,
    body: BaseModel | None,
    run: Callable[[], Awaitable[BaseModel]],
) -> tuple[dict[str, Any], bool]:
    """Run a write once per ``Idempotency-Key`` of a caller: a retry with the same key and request gets the first
    answer again (``True`` = replayed); the same key with another request is a 422. Without a key, just run."""
    if key is None:
        return (await run()).model_dump(mode="json"), False
    body_json = body.model_dump_json() if body is not None else ""
    request_hash = hashlib.sha256(f"{operation}\n{body_json}".encode()).hexdigest()
    caller_id = f"{caller.kind}:{caller.subject}"
    await repository.lock_idempotency_key(conn, caller_id, key)
    stored = await repository.get_idempotent(conn, caller_id, key)
    if stored is not None:
        if stored["request_hash"] != request_hash:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                "Khóa Idempotency-Key đã được dùng cho yêu cầu khác",
                "This Idempotency-Key was used with a different request; use a new key.",
            )
        return json.loads(stored["response"]), True
    answer = (await run()).model_dump(mode="json")
    await repository.save_idempotent(conn, caller_id, key, operation, request_hash, 200, answer)
    return answer, False


# ---------------------------------------------------------------------------------------------- queues, lists

# The pages of the busiest reads (the work queue, a citizen's own dossiers) are built as dicts with the fields of
# their response models (schemas.WorkQueuePage, MyDossierPage), in the models' order, and the routes send them as JSON
# without a pass through pydantic (issue 7: building and validating some 60 models per page, then validating the page
# again as the response, was a tenth of processing's CPU on the queue path). The models still document the API, and
# the tests check each page against its model (tests/integration/test_processing_read_pages.py).


def _listed(r: asyncpg.Record) -> dict[str, Any]:
    """The fields a work item and a citizen's dossier share, the first of both models, in their order."""
    return {
        "code": r["code"],
        "status": r["status"],
        "status_label": domain.status_label(r["status"]),
        "procedure": {"code": r["procedure_code"], "name": r["procedure_name"]},
        "unit": {"code": r["unit_code"], "name": r["unit_name"]},
        "channel": r["channel"],
        "received_at": r["received_at"],
        "due_at": r["due_at"],
        "current_step": r["current_step"],
    }


async def work_queue(
    conn: asyncpg.Connection,
    settings: Settings,
    clock: Clock,
    officer: Principal,
    *,
    unit_code: str | None = None,
    role: str | None = None,
    status: str | None = None,
    procedure_code: str | None = None,
    step: str | None = None,
    overdue: bool = False,
    due_soon: bool = False,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The open dossiers whose current step the officer's unit holds and one of their roles may take (the whole
    unit for its head or a provincial operator: :func:`domain.queue_scope`), soonest due first, filtered. The
    cursor is bound to the scope and the filters: one issued for another list is a 400. A
    :class:`~processing.schemas.WorkQueuePage` as a dict, its ``follow_ups`` left to the route."""
    if overdue and due_soon:
        raise _invalid("due_soon", "Filter by overdue or by due soon, not both: a dossier is never both.")
    try:
        scope = domain.queue_scope(officer, unit_code, role)
    except domain.NotAllowed as exc:
        raise forbidden(str(exc)) from None
    now = now or datetime.now(UTC)
    due_soon_until = clock.due_soon_until(now, settings.due_soon_working_days)
    filters: dict[str, Any] = {"status": status, "procedure_code": procedure_code, "step": step}
    bound = filter_scope(
        unit=scope.unit_code,
        roles=sorted(scope.roles) if scope.roles is not None else None,
        overdue=overdue,
        due_soon=due_soon,
        **filters,
    )
    after = decode_keyset(cursor, UUID, scope=bound) if cursor else None
    query = repository.QueueQuery(
        unit_code=scope.unit_code,
        roles=scope.roles,
        **filters,
        overdue_at=now if overdue else None,
        due_soon=(now, due_soon_until) if due_soon else None,
    )
    rows = await repository.work_queue(conn, query, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    items = []
    for r in page:
        definition = await _definition_for(conn, r)
        flags = domain.queue_flags(r, now, due_soon_until)
        items.append(
            {  # a WorkItem
                **_listed(r),
                "current_step_name": definition.step(r["current_step"]).name if r["current_step"] else None,
                "current_step_roles": list(r["current_roles"]),
                "legal_due_at": r["legal_due_at"],
                "overdue": flags.overdue,
                "due_soon": flags.due_soon,
                "paused": flags.paused,
                "paused_at": r["paused_at"],
            }
        )
    return {
        "items": items,
        "next_cursor": encode_keyset(page[-1]["due_at"], page[-1]["id"], scope=bound) if more else None,
        "follow_ups": [],
    }


async def my_dossiers(
    conn: asyncpg.Connection, citizen: Principal, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A citizen's dossiers, newest first: a :class:`~processing.schemas.MyDossierPage` as a dict."""
    before = decode_keyset(cursor, UUID) if cursor else None
    rows = await repository.my_dossiers(conn, citizen.subject, limit=limit + 1, before=before)
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [
            {
                **_listed(r),
                "completed_at": r["completed_at"],
                "as_applicant": r["applicant"],
                "as_submitter": r["submitter"],
            }
            for r in page
        ],
        "next_cursor": encode_keyset(page[-1]["received_at"], page[-1]["id"]) if more else None,
    }
