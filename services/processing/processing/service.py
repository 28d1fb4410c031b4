"""Use cases: open a case, officer actions, tracking and the work queue. They take the caller's
connection (one transaction) and never commit."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from motcua_common.contracts import (
    DossierAccepted,
    DossierApproved,
    DossierEvent,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierSubmitted,
)
from motcua_common.outbox import enqueue
from motcua_common.pagination import decode_keyset, encode_keyset
from motcua_common.problems import FieldError, ProblemError

from . import domain, repository
from .domain import Action, Status
from .schemas import DossierView, Ref, TimelineStep, WorkItem, WorkQueuePage
from .settings import Settings

log = logging.getLogger("processing.service")


@dataclass(frozen=True)
class Officer:
    id: str
    name: str | None = None


def dossier_not_found(code: str) -> ProblemError:
    return ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier has the code '{code}'.")


async def open_case(conn: asyncpg.Connection, data: DossierSubmitted) -> bool:
    """Open the case for a submitted dossier with its first step in the unit's queue.

    Returns False when the dossier is already open (announced again under another event id)."""
    inserted = await repository.insert_dossier(
        conn,
        {
            "id": data.dossier_id,
            "code": data.dossier_code,
            "procedure_code": data.procedure_code,
            "procedure_name": data.procedure_name,
            "procedure_version": data.procedure_version,
            "channel": data.channel,
            "applicant_personal_id": data.applicant.personal_id,
            "applicant_name": data.applicant.full_name,
            "unit_code": data.unit_code,
            "unit_name": data.unit_name,
            "status": str(Status.SUBMITTED),
            "received_at": data.received_at,
            "due_at": data.appointment_at,
            "current_step": domain.FIRST_STEP,
        },
    )
    if not inserted:
        log.info("dossier %s already open; announcement ignored", data.dossier_code)
        return False
    await repository.insert_step(
        conn,
        dossier_id=data.dossier_id,
        seq=1,
        step=domain.FIRST_STEP,
        name_vi=domain.STEP_NAMES[domain.FIRST_STEP],
        unit_code=data.unit_code,
        unit_name=data.unit_name,
        handler=None,
        handler_name=None,
        entered_at=data.received_at,
        due_at=data.appointment_at,
    )
    return True


async def act(
    conn: asyncpg.Connection,
    settings: Settings,
    code: str,
    action: Action,
    officer: Officer,
    *,
    note: str | None = None,
    reason: str | None = None,
    result_number: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
) -> DossierView:
    """Apply one officer action: complete the open step, open the next, update the dossier and
    enqueue the event, all in the caller's transaction under a row lock on the dossier."""
    now = now or datetime.now(UTC)
    row = await repository.lock_dossier(conn, code)
    if row is None:
        raise dossier_not_found(code)
    try:
        move = domain.transition(row["status"], action, reason=reason)
    except domain.InvalidTransition as exc:
        raise ProblemError(
            409, "invalid-transition", "Thao tác không hợp lệ với trạng thái hiện tại của hồ sơ", str(exc)
        ) from None
    except domain.ReasonRequired as exc:
        raise ProblemError(
            422,
            "validation-error",
            "Dữ liệu không hợp lệ",
            str(exc),
            [FieldError(field="reason", message=str(exc))],
        ) from None

    fields: dict = {"status": str(move.target)}
    step_note = note
    if action is Action.REJECT:
        step_note = reason = reason.strip()
        fields["rejection_reason"] = reason
    elif action is Action.ISSUE_RESULT:
        result_number = result_number or domain.default_result_number(code)
        fields.update(
            result_number=result_number,
            result_issued_at=now,
            timeliness=domain.timeliness(now, row["due_at"]),
        )
        step_note = note or f"Số kết quả: {result_number}"
    elif action is Action.RETURN_RESULT:
        fields["return_method"] = method
        step_note = domain.RETURN_METHOD_NOTES[method]

    current = await repository.open_step(conn, row["id"])
    if current is not None:
        await repository.complete_step(
            conn,
            current["id"],
            handler=officer.id,
            handler_name=officer.name,
            completed_at=now,
            outcome=move.outcome,
            note=step_note,
        )
    if move.next_step is not None:
        seq = await repository.last_seq(conn, row["id"]) + 1
        # The acting officer carries the dossier into the next step until someone acts on it.
        await repository.insert_step(
            conn,
            dossier_id=row["id"],
            seq=seq,
            step=move.next_step,
            name_vi=domain.STEP_NAMES[move.next_step],
            unit_code=row["unit_code"],
            unit_name=row["unit_name"],
            handler=officer.id,
            handler_name=officer.name,
            entered_at=now,
            due_at=row["due_at"],
        )
        fields.update(current_step=move.next_step, current_handler=officer.id)
    else:
        fields.update(current_step=None, current_handler=None, completed_at=now)
    if not await repository.update_dossier(conn, row["id"], row["version"], **fields):
        raise ProblemError(
            409,
            "concurrent-update",
            "Hồ sơ vừa được cập nhật bởi thao tác khác",
            "The dossier changed while this action was applied; reload and retry.",
        )

    common = {
        "dossier_id": row["id"],
        "dossier_code": code,
        "occurred_at": now,
        "unit_code": row["unit_code"],
        "unit_name": row["unit_name"],
        "handler": officer.id,
        "due_at": row["due_at"],
    }
    event: DossierEvent
    match action:
        case Action.ACCEPT:
            event = DossierAccepted(**common)
        case Action.APPROVE:
            event = DossierApproved(**common)
        case Action.REJECT:
            event = DossierRejected(**common, reason=reason)
        case Action.ISSUE_RESULT:
            event = DossierResultIssued(**common, result_number=result_number, timeliness=fields["timeliness"])
        case Action.RETURN_RESULT:
            event = DossierResultReturned(**common, return_method=method)
    await enqueue(
        conn,
        event,
        topic=settings.dossier_topic,
        key=str(row["id"]),
        source=settings.event_source,
        subject=code,
    )
    return await view(conn, code)


async def view(conn: asyncpg.Connection, code: str) -> DossierView:
    row = await repository.get_dossier(conn, code)
    if row is None:
        raise dossier_not_found(code)
    steps = await repository.list_steps(conn, row["id"])
    return DossierView(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        procedure=Ref(code=row["procedure_code"], name=row["procedure_name"]),
        unit=Ref(code=row["unit_code"], name=row["unit_name"]),
        current_step=row["current_step"],
        current_handler=row["current_handler"],
        received_at=row["received_at"],
        due_at=row["due_at"],
        completed_at=row["completed_at"],
        timeliness=row["timeliness"],
        rejection_reason=row["rejection_reason"],
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
    )


async def work_queue(
    conn: asyncpg.Connection, *, unit_code: str | None, status: str | None, limit: int, cursor: str | None
) -> WorkQueuePage:
    after = decode_keyset(cursor, UUID) if cursor else None
    rows = await repository.work_queue(conn, unit_code=unit_code, status=status, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    return WorkQueuePage(
        items=[
            WorkItem(
                code=r["code"],
                status=r["status"],
                status_label=domain.status_label(r["status"]),
                procedure_name=r["procedure_name"],
                applicant_name=r["applicant_name"],
                due_at=r["due_at"],
                current_step=r["current_step"],
            )
            for r in page
        ],
        next_cursor=encode_keyset(page[-1]["due_at"], page[-1]["id"]) if more else None,
    )
