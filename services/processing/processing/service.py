"""Use cases: open a case, officer actions, tracking and the work queue. They take the caller's
connection (one transaction) and never commit."""

import logging
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from motcua_common.auth import PROVINCIAL_OPERATOR, Principal, forbidden
from motcua_common.contracts import (
    ApplicantRef,
    DossierAccepted,
    DossierApproved,
    DossierEvent,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierState,
    DossierSubmitted,
)
from motcua_common.outbox import enqueue
from motcua_common.pagination import decode_keyset, encode_keyset
from motcua_common.problems import FieldError, ProblemError

from . import domain, repository
from .domain import Action, Status
from .schemas import (
    DossierView,
    MyDossier,
    MyDossierPage,
    PublicDossierView,
    Ref,
    TimelineStep,
    WorkItem,
    WorkQueuePage,
)
from .settings import Settings

log = logging.getLogger("processing.service")


def dossier_not_found(code: str) -> ProblemError:
    return ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier has the code '{code}'.")


async def open_case(conn: asyncpg.Connection, settings: Settings, data: DossierSubmitted) -> bool:
    """Open the case for a submitted dossier with its first step in the unit's queue, and publish its state.
    Its ``dossier.submitted`` is the dossier's event number 1 (``event_sequence`` starts there).

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
    # The citizens who will list it under GET /me/dossiers: the applicant and the submitter (often one person).
    parties: dict[str, dict[str, bool]] = {}
    if data.applicant.kind == "citizen" and data.applicant.subject:
        parties.setdefault(data.applicant.subject, {"applicant": False, "submitter": False})["applicant"] = True
    if data.submitted_by.kind == "citizen":
        parties.setdefault(data.submitted_by.subject, {"applicant": False, "submitter": False})["submitter"] = True
    for subject, roles in parties.items():
        await repository.insert_party(
            conn, subject=subject, dossier_id=data.dossier_id, received_at=data.received_at, **roles
        )
    await publish_state(conn, settings, await repository.get_dossier(conn, data.dossier_code), data.occurred_at)
    return True


def authorize_action(principal: Principal, dossier: asyncpg.Record, action: Action) -> None:
    """Only an officer of the dossier's own unit whose role allows ``action`` may take it.

    Someone who may not even see the dossier gets the same 404 as for an unknown code (its existence is
    not confirmed); someone who may see it but not act (the receiving unit, a provincial operator, an
    officer of the unit without the role) gets 403."""
    if principal.kind != "officer" or principal.unit_code != dossier["unit_code"]:
        if domain.may_read(principal, dossier):
            raise forbidden("Only officers of the dossier's own unit may act on it.")
        raise dossier_not_found(dossier["code"])
    if not domain.role_allows(principal.roles, action):
        needed = ", ".join(sorted(domain.ACTION_ROLES[action]))
        raise forbidden(f"The action '{action}' needs one of the roles: {needed}.")


async def act(
    conn: asyncpg.Connection,
    settings: Settings,
    code: str,
    action: Action,
    officer: Principal,
    *,
    note: str | None = None,
    reason: str | None = None,
    result_number: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
) -> DossierView:
    """Apply one officer action: complete the open step, open the next, update the dossier and
    enqueue the event (numbered ``event_sequence + 1``) and the dossier's new state, all in the caller's
    transaction under a row lock on the dossier.

    The action's time is taken once the row is locked, and never before the dossier's last action: an action that
    waited for the lock while another committed is later than that one, so event times never run backwards and
    no step is completed before it was entered (even with clocks of several replicas a little apart)."""
    row = await repository.lock_dossier(conn, code)
    if row is None:
        raise dossier_not_found(code)
    now = now or datetime.now(UTC)
    last_action = await repository.last_action_at(conn, row["id"])
    if last_action is not None and now < last_action:
        now = last_action
    authorize_action(officer, row, action)
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

    sequence = row["event_sequence"] + 1
    fields: dict = {"status": str(move.target), "event_sequence": sequence}
    step_note = note
    if action is Action.REJECT:
        assert reason is not None  # domain.transition refuses a rejection without a reason
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
        assert method is not None  # the route requires a return method
        fields["return_method"] = method
        step_note = domain.RETURN_METHOD_NOTES[method]

    current = await repository.open_step(conn, row["id"])
    if current is not None:
        await repository.complete_step(
            conn,
            current["id"],
            handler=officer.subject,
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
            handler=officer.subject,
            handler_name=officer.name,
            entered_at=now,
            due_at=row["due_at"],
        )
        fields.update(current_step=move.next_step, current_handler=officer.subject)
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
        "handler": officer.subject,
        "due_at": row["due_at"],
    }
    event: DossierEvent
    match action:
        case Action.ACCEPT:
            event = DossierAccepted(**common)
        case Action.APPROVE:
            event = DossierApproved(**common)
        case Action.REJECT:
            assert reason is not None
            event = DossierRejected(**common, reason=reason)
        case Action.ISSUE_RESULT:
            assert result_number is not None
            event = DossierResultIssued(**common, result_number=result_number, timeliness=fields["timeliness"])
        case Action.RETURN_RESULT:
            event = DossierResultReturned(**common, return_method=method)  # type: ignore[arg-type]  # checked by the route
    await enqueue(
        conn,
        event.in_sequence(sequence),
        topic=settings.dossier_topic,
        key=str(row["id"]),
        source=settings.event_source,
        subject=code,
    )
    updated = await repository.get_dossier(conn, code)
    await publish_state(conn, settings, updated, now)
    return await _full_view(conn, updated)


async def publish_state(conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, at: datetime) -> None:
    """Enqueue the dossier's current state on the compacted state topic (key = dossier id), numbered as the
    last dossier event it includes."""
    state = DossierState(
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
    )
    await enqueue(
        conn,
        state.in_sequence(row["event_sequence"]),
        topic=settings.dossier_state_topic,
        key=str(row["id"]),
        source=settings.event_source,
        subject=row["code"],
    )


async def view(conn: asyncpg.Connection, code: str, principal: Principal) -> DossierView:
    """The full tracking of a dossier, for those :func:`domain.may_read` admits; 404 for anyone else."""
    row = await repository.get_dossier(conn, code)
    if row is None or not domain.may_read(principal, row):
        raise dossier_not_found(code)
    return await _full_view(conn, row)


async def public_view(conn: asyncpg.Connection, code: str) -> PublicDossierView:
    row = await repository.get_dossier(conn, code)
    if row is None:
        raise dossier_not_found(code)
    step = row["current_step"]
    return PublicDossierView(
        code=row["code"],
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        current_step_name=domain.STEP_NAMES.get(step) if step else None,
        unit=Ref(code=row["unit_code"], name=row["unit_name"]),
        due_at=row["due_at"],
    )


async def _full_view(conn: asyncpg.Connection, row: asyncpg.Record) -> DossierView:
    steps = await repository.list_steps(conn, row["id"])
    return DossierView(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        status_label=domain.status_label(row["status"]),
        procedure=Ref(code=row["procedure_code"], name=row["procedure_name"]),
        unit=Ref(code=row["unit_code"], name=row["unit_name"]),
        channel=row["channel"],
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


def queue_unit(officer: Principal, unit_code: str | None) -> str | None:
    """The unit whose queue an officer may see: their own; a provincial operator may name any unit, or
    none for the whole province."""
    if officer.has_role(PROVINCIAL_OPERATOR):
        return unit_code
    if unit_code is not None and unit_code != officer.unit_code:
        raise forbidden("Officers see their own unit's work queue only.")
    return officer.unit_code


async def work_queue(
    conn: asyncpg.Connection,
    officer: Principal,
    *,
    unit_code: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> WorkQueuePage:
    unit_code = queue_unit(officer, unit_code)
    after = decode_keyset(cursor, UUID) if cursor else None
    rows = await repository.work_queue(conn, unit_code=unit_code, status=status, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    return WorkQueuePage(
        items=[
            WorkItem(
                code=r["code"],
                status=r["status"],
                status_label=domain.status_label(r["status"]),
                procedure=Ref(code=r["procedure_code"], name=r["procedure_name"]),
                unit=Ref(code=r["unit_code"], name=r["unit_name"]),
                channel=r["channel"],
                received_at=r["received_at"],
                due_at=r["due_at"],
                current_step=r["current_step"],
            )
            for r in page
        ],
        next_cursor=encode_keyset(page[-1]["due_at"], page[-1]["id"]) if more else None,
    )


async def my_dossiers(conn: asyncpg.Connection, citizen: Principal, *, limit: int, cursor: str | None) -> MyDossierPage:
    before = decode_keyset(cursor, UUID) if cursor else None
    rows = await repository.my_dossiers(conn, citizen.subject, limit=limit + 1, before=before)
    page, more = rows[:limit], len(rows) > limit
    return MyDossierPage(
        items=[
            MyDossier(
                code=r["code"],
                status=r["status"],
                status_label=domain.status_label(r["status"]),
                procedure=Ref(code=r["procedure_code"], name=r["procedure_name"]),
                unit=Ref(code=r["unit_code"], name=r["unit_name"]),
                channel=r["channel"],
                received_at=r["received_at"],
                due_at=r["due_at"],
                current_step=r["current_step"],
                completed_at=r["completed_at"],
                as_applicant=r["applicant"],
                as_submitter=r["submitter"],
            )
            for r in page
        ],
        next_cursor=encode_keyset(page[-1]["received_at"], page[-1]["id"]) if more else None,
    )
