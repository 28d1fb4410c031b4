"""Intake use cases: browse the catalogue, submit a dossier, read its receipt."""

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from motcua_common.contracts import Applicant as EventApplicant
from motcua_common.contracts import DossierSubmitted
from motcua_common.outbox import enqueue
from motcua_common.pagination import decode_cursor, encode_cursor
from motcua_common.problems import FieldError, ProblemError

from . import repository
from .clients import CitizenRegistry
from .domain import LegalClock, dossier_code, receipt_message
from .schemas import (
    Applicant,
    Component,
    DossierCreate,
    DossierReceipt,
    DossierTracking,
    ProcedureDetail,
    ProcedurePage,
    ProcedureRef,
    ProcedureSummary,
    TimelineStep,
    UnitRef,
)

SOURCE = "/motcua/intake"
SUBMITTED_LABEL = "Đã nộp, chờ tiếp nhận"


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "code": row["code"],
        "version": row["version"],
        "name": row["name"],
        "field": row["field"],
        "level": row["level"],
        "unit": UnitRef(code=row["unit_code"], name=row["unit_name"]),
        "processing_days": row["processing_days"],
        "fee_vnd": row["fee_vnd"],
        "fee_online_vnd": row["fee_online_vnd"],
        "online_level": row["online_level"],
    }


def _detail(row: asyncpg.Record) -> ProcedureDetail:
    return ProcedureDetail(
        **_summary(row),
        fee_note=row["fee_note"],
        legal_basis=row["legal_basis"],
        effective_from=row["effective_from"],
        components=[Component(**c) for c in row["components"]],
    )


async def list_procedures(
    conn: asyncpg.Connection, *, cursor: str | None, limit: int, level: str | None, online_level: str | None
) -> ProcedurePage:
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = await repository.list_procedures(conn, after=after, limit=limit + 1, level=level, online_level=online_level)
    items = [ProcedureSummary(**_summary(r)) for r in rows[:limit]]
    return ProcedurePage(items=items, next_cursor=encode_cursor(items[-1].code) if len(rows) > limit else None)


async def get_procedure(conn: asyncpg.Connection, code: str) -> ProcedureDetail:
    row = await repository.get_current_procedure(conn, code)
    if row is None:
        raise _procedure_not_found(code)
    return _detail(row)


def _procedure_not_found(code: str) -> ProblemError:
    return ProblemError(
        404,
        "procedure-not-found",
        "Không tìm thấy thủ tục hành chính",
        f"No procedure with code {code!r} in the catalogue.",
    )


def request_hash(body: DossierCreate) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def submit(
    conn: asyncpg.Connection,
    registry: CitizenRegistry,
    clock: LegalClock,
    *,
    body: DossierCreate,
    idempotency_key: str,
    topic: str,
    request_id: str | None,
) -> tuple[DossierReceipt, bool]:
    """Store a dossier and its ``dossier.submitted`` event in the caller's transaction.

    Returns the receipt and whether it is a replay of an earlier request with the same key."""
    digest = request_hash(body)
    existing = await repository.find_by_idempotency_key(conn, idempotency_key)
    if existing is not None:
        return _replay(existing, digest, clock), True

    procedure = await repository.get_current_procedure(conn, body.procedure_code)
    if procedure is None:
        raise ProblemError(
            422,
            "procedure-not-found",
            "Không tìm thấy thủ tục hành chính",
            f"No procedure with code {body.procedure_code!r} in the catalogue.",
            [FieldError(field="procedure_code", message="unknown procedure code")],
        )
    known = {c["code"] for c in procedure["components"]}
    unknown = [c.code for c in body.components if c.code not in known]
    if unknown:
        raise ProblemError(
            422,
            "unknown-component",
            "Thành phần hồ sơ không thuộc thủ tục này",
            f"Components {unknown} are not part of procedure {procedure['code']}.",
            [FieldError(field="components", message=f"unknown code {c}") for c in unknown],
        )

    dossier_id = uuid.uuid4()
    person = await registry.prefill(body.applicant.personal_id, f"dossier:{dossier_id}", request_id)
    applicant = Applicant(
        personal_id=body.applicant.personal_id,
        full_name=person["full_name"],
        date_of_birth=person["date_of_birth"],
        sex=person["sex"],
        permanent_address=person["permanent_address"],
        email=body.applicant.email or person.get("email"),
        phone=body.applicant.phone or person.get("phone"),
    )

    submitted_at = datetime.now(UTC)
    days = procedure["processing_days"]
    received_at = clock.received_at(submitted_at, days)
    appointment_at = clock.appointment(received_at, days)
    local_day = submitted_at.astimezone(clock.tz).date()
    sequence = await repository.next_sequence(conn, procedure["unit_code"], local_day)
    code = dossier_code(procedure["unit_code"], local_day, sequence)
    snapshot = _detail(procedure).model_dump(mode="json")
    stored = await repository.insert_dossier(
        conn,
        {
            "id": dossier_id,
            "code": code,
            "procedure_code": procedure["code"],
            "procedure_version": procedure["version"],
            "procedure_snapshot": snapshot,
            "unit_code": procedure["unit_code"],
            "channel": body.channel,
            "applicant": applicant.model_dump(mode="json"),
            "form_data": body.form_data,
            "components": [c.model_dump() for c in body.components],
            "notify_channels": body.notify_channels,
            "submitted_at": submitted_at,
            "received_at": received_at,
            "appointment_at": appointment_at,
            "idempotency_key": idempotency_key,
            "request_hash": digest,
        },
    )
    if stored is None:  # a concurrent request with the same key won the race
        existing = await repository.find_by_idempotency_key(conn, idempotency_key)
        return _replay(existing, digest, clock), True

    event = DossierSubmitted(
        dossier_id=dossier_id,
        dossier_code=code,
        occurred_at=submitted_at,
        procedure_code=procedure["code"],
        procedure_name=procedure["name"],
        procedure_version=procedure["version"],
        processing_days=days,
        channel=body.channel,
        unit_code=procedure["unit_code"],
        unit_name=procedure["unit_name"],
        applicant=EventApplicant(**applicant.model_dump()),
        submitted_at=submitted_at,
        received_at=received_at,
        appointment_at=appointment_at,
        notify_channels=body.notify_channels,
    )
    await enqueue(conn, event, topic=topic, key=str(dossier_id), source=SOURCE, subject=code)
    return _receipt({**stored, "unit_name": procedure["unit_name"]}, clock), False


def _replay(row: asyncpg.Record, digest: str, clock: LegalClock) -> DossierReceipt:
    if row["request_hash"] != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Khóa Idempotency-Key đã được dùng cho yêu cầu khác",
            "This Idempotency-Key was used with a different request body; use a new key.",
        )
    return _receipt(row, clock)


def _receipt(row: Mapping[str, Any], clock: LegalClock) -> DossierReceipt:
    snapshot = row["procedure_snapshot"]
    return DossierReceipt(
        id=row["id"],
        code=row["code"],
        status="submitted",
        status_label=SUBMITTED_LABEL,
        procedure=ProcedureRef(code=row["procedure_code"], name=snapshot["name"], version=row["procedure_version"]),
        unit=UnitRef(code=row["unit_code"], name=row["unit_name"]),
        channel=row["channel"],
        applicant=Applicant(**row["applicant"]),
        submitted_at=row["submitted_at"],
        received_at=row["received_at"],
        appointment_at=row["appointment_at"],
        processing_days=snapshot["processing_days"],
        fee_vnd=snapshot["fee_online_vnd"]
        if row["channel"] == "online" and snapshot["fee_online_vnd"] is not None
        else snapshot["fee_vnd"],
        message=receipt_message(row["code"], snapshot["name"], row["appointment_at"], clock.tz),
    )


async def get_tracking(conn: asyncpg.Connection, code: str) -> DossierTracking:
    """The dossier as intake knows it: received, waiting for the unit to accept it. Processing serves the
    full timeline once it has opened the case; the gateway asks it first."""
    row = await repository.get_dossier(conn, code)
    if row is None:
        raise ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier with code {code!r}.")
    unit = UnitRef(code=row["unit_code"], name=row["unit_name"])
    return DossierTracking(
        id=row["id"],
        code=row["code"],
        status="submitted",
        status_label=SUBMITTED_LABEL,
        procedure=ProcedureRef(
            code=row["procedure_code"],
            name=row["procedure_snapshot"]["name"],
            version=row["procedure_version"],
        ),
        unit=unit,
        current_step="receive",
        current_handler=None,
        received_at=row["received_at"],
        due_at=row["appointment_at"],
        completed_at=None,
        timeliness=None,
        rejection_reason=None,
        timeline=[
            TimelineStep(
                seq=1,
                step="receive",
                name="Tiếp nhận hồ sơ",
                unit=unit,
                handler=None,
                entered_at=row["received_at"],
                due_at=row["appointment_at"],
                completed_at=None,
                outcome=None,
                note=None,
            )
        ],
    )
