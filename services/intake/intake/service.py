"""Intake use cases: browse the catalogue, submit a dossier for someone, read it (by who may), flag registry data,
keep the citizen's document vault, measure the once-only promise."""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from motcua_common.auth import Principal, forbidden
from motcua_common.contracts import (
    Actor,
    ApplicantRef,
    BundleRef,
    DossierContact,
    DossierSubmitted,
    RegistryCorrectionRequested,
)
from motcua_common.contracts import UnitRef as EventUnitRef
from motcua_common.legal_clock import LegalClock
from motcua_common.outbox import enqueue, outbox_row
from motcua_common.pagination import decode_cursor, decode_keyset, encode_cursor, encode_keyset
from motcua_common.problems import FieldError, ProblemError
from motcua_common.procedures import ProcedureDefinition, TimeBudget

from . import repository
from .clients import TYPED_FIELDS, ApplicantQuery, CitizenRegistry, RegistryAnswer
from .domain import (
    EVENT_SOURCE,
    DossierParties,
    bundle_message,
    can_read_application,
    can_track,
    dossier_code,
    is_party,
    processing_days,
    receipt_message,
    sniff_content_type,
    submission_refusal,
)
from .schemas import (
    Applicant,
    ApplicantIn,
    BundleDossier,
    BundleReceipt,
    ComponentIn,
    ComponentOut,
    ComponentShare,
    Correction,
    CorrectionCreate,
    Document,
    DocumentPage,
    DossierApplication,
    DossierCreate,
    DossierPreview,
    DossierReceipt,
    DossierTracking,
    FieldShare,
    OnceOnlyScore,
    Origin,
    PreviewField,
    PreviewRequest,
    ProcedureComponent,
    ProcedureDetail,
    ProcedurePage,
    ProcedureRef,
    ProcedureSummary,
    PublicDossier,
    Submitter,
    TimelineStep,
    UnitRef,
)
from .settings import Settings
from .versions import InForce, in_force, performer_units, version_in_force

SOURCE = EVENT_SOURCE
SUBMITTED_LABEL = "Đã nộp, chờ tiếp nhận"
RECEIVE_STEP_NAME = "Tiếp nhận hồ sơ"


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "code": row["code"],
        "version": row["version"],
        "name": row["name"],
        "field": row["field"],
        "level": row["level"],
        "unit": _unit_of(row),
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
        components=[ProcedureComponent(**c) for c in row["components"]],
    )


async def list_procedures(
    conn: asyncpg.Connection,
    *,
    today: date,
    cursor: str | None,
    limit: int,
    level: str | None,
    online_level: str | None,
) -> ProcedurePage:
    """The catalogue as it stands today: each procedure at its version in force."""
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = await repository.list_procedures(
        conn, day=today, after=after, limit=limit + 1, level=level, online_level=online_level
    )
    items = [ProcedureSummary(**_summary(r)) for r in rows[:limit]]
    return ProcedurePage(items=items, next_cursor=encode_cursor(items[-1].code) if len(rows) > limit else None)


async def get_procedure(conn: asyncpg.Connection, code: str, today: date) -> ProcedureDetail:
    row = await repository.get_current_procedure(conn, code, today)
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


# --- Submission ----------------------------------------------------------------------------------------------


def _applicant_query(principal: Principal, applicant: ApplicantIn) -> ApplicantQuery:
    if applicant.kind == "organisation":
        return ApplicantQuery("organisation", tax_code=applicant.tax_code)
    if applicant.personal_id is not None:
        return ApplicantQuery("citizen", personal_id=applicant.personal_id)
    if principal.kind == "citizen":  # a citizen's own dossier
        return ApplicantQuery("citizen", personal_id=principal.personal_id)
    raise ProblemError(
        422,
        "applicant-required",
        "Cần cho biết người nộp hồ sơ (số định danh cá nhân hoặc mã số thuế)",
        "A dossier taken for someone else needs applicant.personal_id or applicant.tax_code.",
        [FieldError(field="applicant", message="personal_id or tax_code required")],
    )


def _authorize_submission(principal: Principal, body: DossierCreate | PreviewRequest) -> ApplicantQuery:
    """The clear refusals, decided here without asking the registry (so no registry access is ever logged for
    them); a mandate for someone else is the registry's decision."""
    refusal = submission_refusal(principal, body.channel)
    if refusal is not None:
        raise forbidden(refusal)
    return _applicant_query(principal, body.applicant)


def _build_applicant(
    principal: Principal, query: ApplicantQuery, answer: RegistryAnswer, typed: ApplicantIn
) -> tuple[Applicant, dict[str, Origin]]:
    """The applicant's values and where each came from: the registry, or typed by the caller (which wins)."""
    values: dict[str, Any] = dict(answer.values)
    origins: dict[str, Origin] = {f: "registry" for f in values}
    for f in TYPED_FIELDS:
        value = getattr(typed, f)
        if value is not None:
            values[f], origins[f] = value, "typed"
    subject = None
    if query.kind == "citizen":
        own = principal.kind == "citizen" and query.personal_id == principal.personal_id
        subject = answer.subject or (principal.subject if own else None)
    applicant = Applicant(
        kind=query.kind, subject=subject, personal_id=query.personal_id, tax_code=query.tax_code, **values
    )
    return applicant, origins


def _procedure_missing(code: str, day: date) -> ProblemError:
    return ProblemError(
        422,
        "procedure-not-found",
        "Không tìm thấy thủ tục hành chính",
        f"No procedure with code {code!r} in force on {day.isoformat()} in the catalogue.",
        [FieldError(field="procedure_code", message="unknown procedure code")],
    )


CHANNEL_NAMES = {
    "online": "trực tuyến",
    "counter": "tại bộ phận một cửa",
    "service_centre": "tại Trung tâm Phục vụ hành chính công",
    "post": "qua dịch vụ bưu chính công ích",
}


def _channel_refused(definition: ProcedureDefinition, channel: str) -> ProblemError:
    allowed = ", ".join(CHANNEL_NAMES[c] for c in definition.channels)
    return ProblemError(
        422,
        "channel-not-allowed",
        f"Thủ tục này không tiếp nhận hồ sơ {CHANNEL_NAMES[channel]}; chỉ tiếp nhận: {allowed}",
        f"Procedure {definition.code} (version {definition.version}) accepts dossiers on the channels "
        f"{list(definition.channels)}, not {channel!r}.",
        [FieldError(field="channel", message=f"not one of {list(definition.channels)}")],
    )


async def _components(
    conn: asyncpg.Connection, principal: Principal, definition: ProcedureDefinition, components: list[ComponentIn]
) -> list[dict[str, Any]]:
    """The components to store: codes of the procedure, vault documents the submitter owns."""
    known = {c.code for c in definition.components}
    unknown = [c.code for c in components if c.code not in known]
    if unknown:
        raise ProblemError(
            422,
            "unknown-component",
            "Thành phần hồ sơ không thuộc thủ tục này",
            f"Components {unknown} are not part of procedure {definition.code}.",
            [FieldError(field="components", message=f"unknown code {c}") for c in unknown],
        )
    wanted = [c.document_id for c in components if c.document_id is not None]
    owned: dict[UUID, asyncpg.Record] = {}
    if wanted:
        if principal.kind == "citizen":  # only citizens have a vault
            owned = {r["id"]: r for r in await repository.get_owned_documents(conn, principal.subject, wanted)}
        missing = [str(d) for d in wanted if d not in owned]
        if missing:
            raise ProblemError(
                422,
                "document-not-found",
                "Không tìm thấy giấy tờ trong kho dữ liệu của bạn",
                "Components may reference only documents of the submitter's own vault.",
                [FieldError(field="components", message=f"unknown document {d}") for d in missing],
            )
    stored = []
    for c in components:
        if c.document_id is None:
            stored.append({"code": c.code, "file_name": c.file_name})
        else:
            doc = owned[c.document_id]
            stored.append(
                {
                    "code": c.code,
                    "file_name": doc["file_name"] or c.file_name,
                    "reused_from": str(doc["id"]),
                    "sha256": doc["sha256"],
                }
            )
    return stored


def _contact(
    principal: Principal,
    applicant: Applicant,
    answer: RegistryAnswer,
    origins: dict[str, Origin],
    *,
    notify: Sequence[str],
) -> dict[str, Any] | None:
    """Whom to notify, on the personal topic: the citizen who submitted; for a counter or post dossier, the
    applicant (for an organisation, the person the registry names, if any). None if nobody can be named."""
    typed = {f: getattr(applicant, f) for f, o in origins.items() if o == "typed"}
    recipient: str | None
    if principal.kind == "citizen":
        recipient = principal.subject
    elif applicant.kind == "citizen":
        recipient = applicant.subject
    else:
        recipient = answer.subject
    if recipient is None:
        return None
    if applicant.kind == "citizen" and recipient == applicant.subject:
        name, registry = applicant.full_name, {"email": applicant.email, "phone": applicant.phone}
    elif applicant.kind == "organisation" and principal.kind != "citizen":
        name, registry = applicant.name, {"email": applicant.email, "phone": applicant.phone}
    else:  # a citizen acting for someone else: the registry's contact details are the applicant's, not theirs
        name, registry = principal.name, {}
    return {
        "recipient_subject": recipient,
        "full_name": name or "",
        "email": typed.get("email") or registry.get("email"),
        "phone": typed.get("phone") or registry.get("phone"),
        "notify_channels": notify,
    }


@dataclass
class _Dossier:
    """One dossier a submission will store: a procedure version in force, when it is due, what it costs."""

    procedure: InForce
    budget: TimeBudget  # the legal time it runs on (a bundle member's capped by the bundle's)
    appointment_at: datetime
    fee_vnd: int
    units: dict[str, EventUnitRef]  # inter-agency performers' units
    id: UUID = field(default_factory=uuid.uuid4)
    code: str = ""

    @property
    def definition(self) -> ProcedureDefinition:
        return self.procedure.definition

    @property
    def unit_code(self) -> str:
        return str(self.procedure.row["unit_code"])


@dataclass
class _Submission:
    """What a submission stores: one dossier, or one per member of a bundle (``bundle`` is then the bundle)."""

    received_at: datetime
    due_at: datetime
    dossiers: list[_Dossier]
    bundle: InForce | None = None
    bundle_id: UUID | None = None


async def _version_on_receipt(
    conn: asyncpg.Connection,
    clock: LegalClock,
    code: str,
    submitted_at: datetime,
    in_force_then: InForce | None = None,
    known: Mapping[date, InForce | None] | None = None,
) -> tuple[InForce, datetime]:
    """The version a dossier submitted at ``submitted_at`` is received under: the one in force on its receipt date
    (the next working day when it arrives after the cut-off or on a day off), and the legal receipt time. A version
    that comes into force on that later day wins; if the procedure ends before it, the version in force at
    submission stays (``in_force_then`` when the caller has it already; ``known``: the versions of ``code`` in force
    on other days the caller has read already, None for none, so that the receipt date costs no statement)."""
    day = submitted_at.astimezone(clock.tz).date()
    procedure = in_force_then or await in_force(conn, code, day)
    if procedure is None:
        raise _procedure_missing(code, day)
    received = clock.received_at(submitted_at, procedure.definition.budget)
    if received.date() != day:
        if known is not None and received.date() in known:
            later = known[received.date()]
        else:
            later = await in_force(conn, code, received.date())
        if later is not None and later.definition.version != procedure.definition.version:
            procedure = later
            received = max(received, clock.received_at(submitted_at, later.definition.budget))
    return procedure, received


async def _dossier(
    conn: asyncpg.Connection, clock: LegalClock, procedure: InForce, channel: str, received: datetime
) -> _Dossier:
    definition = procedure.definition
    return _Dossier(
        procedure=procedure,
        budget=definition.budget,
        appointment_at=clock.due_at(received, definition.budget),
        fee_vnd=definition.fee_for(channel),
        units={
            level: EventUnitRef(code=u.code, name=u.name)
            for level, u in (await performer_units(conn, definition, procedure.row)).items()
        },
    )


async def _plan(
    conn: asyncpg.Connection,
    clock: LegalClock,
    body: DossierCreate,
    submitted_at: datetime,
    in_force_then: InForce | None = None,
    known: Mapping[date, InForce | None] | None = None,
) -> _Submission:
    """Resolve what to store: the procedure's version in force on the receipt date, the channel it accepts, and
    for a bundle each member's version in force, every member due by the bundle's due date at the latest."""
    procedure, received = await _version_on_receipt(
        conn, clock, body.procedure_code, submitted_at, in_force_then, known
    )
    definition = procedure.definition
    if body.channel not in definition.channels:
        raise _channel_refused(definition, body.channel)
    if definition.bundle is None:
        single = await _dossier(conn, clock, procedure, body.channel, received)
        return _Submission(received, single.appointment_at, [single])
    due = clock.due_at(received, definition.bundle.budget)
    members = []
    for code in definition.bundle.members:
        member = await in_force(conn, code, received.date())
        if member is None or member.definition.bundle is not None:
            raise ProblemError(
                422,
                "bundle-member-unavailable",
                "Một thủ tục thành phần của nhóm liên thông hiện không tiếp nhận hồ sơ",
                f"Member {code!r} of bundle {definition.code} has no version in force on {received.date()}.",
                [FieldError(field="procedure_code", message=f"member {code} not in force")],
            )
        # one receipt time for the group (the bundle's), but each member's own cut-off decides when its clock
        # starts (a same-day member submitted after 15:00 is due the next working day), capped by the bundle's time
        own_start = clock.received_at(submitted_at, member.definition.budget)
        planned = await _dossier(conn, clock, member, body.channel, own_start)
        if planned.appointment_at > due:
            planned.appointment_at, planned.budget = due, definition.bundle.budget
        members.append(planned)
    return _Submission(received, due, members, bundle=procedure, bundle_id=uuid.uuid4())


def _submitted_event(
    s: _Submission,
    d: _Dossier,
    body: DossierCreate,
    principal: Principal,
    applicant: Applicant,
    submitted_at: datetime,
    receiving_unit: str | None,
    components: list[dict[str, Any]],
) -> DossierSubmitted:
    bundle = None
    if s.bundle is not None and s.bundle_id is not None:
        b = s.bundle.definition
        bundle = BundleRef(code=b.code, version=b.version, id=s.bundle_id, dossier_ids=[m.id for m in s.dossiers])
    event = DossierSubmitted(
        dossier_id=d.id,
        dossier_code=d.code,
        occurred_at=submitted_at,
        procedure_code=d.definition.code,
        procedure_name=d.definition.name,
        procedure_version=d.definition.version,
        processing_days=processing_days(d.budget),
        channel=body.channel,
        receiving_unit_code=receiving_unit,
        unit_code=d.unit_code,
        unit_name=d.procedure.row["unit_name"],
        applicant=ApplicantRef(kind=applicant.kind, subject=applicant.subject, tax_code=applicant.tax_code),
        submitted_by=Actor(kind=principal.kind, subject=principal.subject),  # type: ignore[arg-type]  # services are refused by submission_refusal
        submitted_at=submitted_at,
        received_at=s.received_at,
        appointment_at=d.appointment_at,
        fee_vnd=d.fee_vnd,
        bundle=bundle,
        performer_units=d.units or None,
        components_total=len(components),
        components_reused=sum(1 for c in components if c.get("reused_from")),
    )
    return event.in_sequence(1)  # the dossier's first event; processing numbers the next ones (docs/events.md)


async def submit(
    pool: asyncpg.Pool,
    registry: CitizenRegistry,
    clock: LegalClock,
    settings: Settings,
    *,
    principal: Principal,
    body: DossierCreate,
    idempotency_key: str,
    request_id: str | None,
    submitted_at: datetime | None = None,
) -> tuple[DossierReceipt, bool]:
    """Submit a dossier (or, for a bundle procedure, one linked dossier per member): refuse the clear cases, ask the
    registry (no connection held meanwhile), then store the dossiers and their events in one transaction. Returns
    the receipt and whether it replays an earlier request of the same submitter with the same key. ``submitted_at``:
    when it arrived (now, unless a test says otherwise)."""
    query = _authorize_submission(principal, body)
    digest = request_hash(body)
    submitted_at = submitted_at or datetime.now(UTC)
    local_day = submitted_at.astimezone(clock.tz).date()
    later_day = clock.later_receipt_day(submitted_at)
    async with pool.acquire() as conn:
        # One round trip: the key's earlier use, the version in force, that version's unit's next number, and
        # (after the cut-off, on a day off) the version in force on the next working day, the receipt date then.
        start = await repository.start_submission(
            conn, principal.kind, principal.subject, idempotency_key, body.procedure_code, local_day, later_day
        )
        if start["existing"]:
            existing = await repository.find_by_idempotency_key(
                conn, principal.kind, principal.subject, idempotency_key
            )
            return await _replay(conn, existing, digest, clock), True
        if start["code"] is None:
            raise _procedure_missing(body.procedure_code, local_day)
        known: dict[date, InForce | None] = {}
        if later_day is not None:
            later = repository.later_version(start)
            known[later_day] = None if later is None else await version_in_force(conn, later)
        plan = await _plan(conn, clock, body, submitted_at, await version_in_force(conn, start), known)
        submitted = plan.bundle or plan.dossiers[0].procedure
        components = await _components(conn, principal, submitted.definition, body.components)
        taken = start["sequence"]  # the number start_submission took for the unit in force (None for a bundle)
        for d in plan.dossiers:
            if taken is not None and d.unit_code == start["unit_code"]:
                sequence, taken = taken, None
            else:  # a bundle's member, or a later version of another unit: the number left is a gap
                sequence = await repository.next_sequence(conn, d.unit_code, local_day)
            d.code = dossier_code(d.unit_code, local_day, sequence)

    first = plan.dossiers[0]
    answer = await registry.prefill(principal, query, f"dossier:{first.code}", request_id)
    applicant, origins = _build_applicant(principal, query, answer, body.applicant)
    contact = _contact(principal, applicant, answer, origins, notify=body.notify_channels)

    receiving_unit = principal.unit_code if principal.kind == "officer" else None
    applicant_json = applicant.model_dump(mode="json")
    stored_rows = []
    async with pool.acquire() as conn, _bundle_transaction(conn, len(plan.dossiers)):
        for d in plan.dossiers:
            row: dict[str, Any] = {
                "id": d.id,
                "code": d.code,
                "procedure_code": d.definition.code,
                "procedure_version": d.definition.version,
                "procedure_snapshot": d.procedure.snapshot,
                "unit_code": d.unit_code,
                "channel": body.channel,
                "applicant": applicant_json,
                "form_data": body.form_data,
                "components": components,
                "notify_channels": body.notify_channels,
                "submitted_at": submitted_at,
                "received_at": plan.received_at,
                "appointment_at": d.appointment_at,
                # the key is the first dossier's: a bundle's other dossiers are found through it
                "idempotency_key": idempotency_key if d is first else None,
                "request_hash": digest,
                "submitter_kind": principal.kind,
                "submitter_subject": principal.subject,
                "on_behalf_via": answer.on_behalf_via,
                "receiving_unit_code": receiving_unit,
                "field_origins": origins,
                "fee_vnd": d.fee_vnd,
                "budget": d.budget.model_dump(mode="json", exclude_none=True),
                "bundle_id": plan.bundle_id,
                "bundle_code": plan.bundle.definition.code if plan.bundle else None,
                "bundle_version": plan.bundle.definition.version if plan.bundle else None,
            }
            key = str(d.id)
            event = _submitted_event(plan, d, body, principal, applicant, submitted_at, receiving_unit, components)
            events = [outbox_row(event, topic=settings.dossier_topic, key=key, source=SOURCE, subject=d.code)]
            if contact is not None:
                contact_event = DossierContact(
                    dossier_id=d.id,
                    dossier_code=d.code,
                    occurred_at=submitted_at,
                    procedure_name=d.definition.name,
                    **contact,
                )
                events.append(
                    outbox_row(contact_event, topic=settings.personal_topic, key=key, source=SOURCE, subject=d.code)
                )
            # the dossier and its events in one statement (the dossier's own transaction, or the bundle's)
            if not await repository.insert_dossier(conn, row, events):
                # a concurrent request of the same submitter with the same key won the race
                existing = await repository.find_by_idempotency_key(
                    conn, principal.kind, principal.subject, idempotency_key
                )
                return await _replay(conn, existing, digest, clock), True
            # the stored row as the receipt reads it (all of it was just written; times in UTC, as read back)
            times = {k: row[k].astimezone(UTC) for k in ("submitted_at", "received_at", "appointment_at")}
            unit_name = d.procedure.row["unit_name"]
            stored_rows.append({**row, **times, "applicant_kind": applicant.kind, "unit_name": unit_name})
    bundle = _bundle_receipt(stored_rows, plan.bundle.definition, plan.due_at) if plan.bundle else None
    return _receipt(stored_rows[0], clock, bundle), False


def _bundle_transaction(conn: asyncpg.Connection, dossiers: int) -> AbstractAsyncContextManager[Any]:
    """A transaction around a bundle's dossiers (all or none); a single dossier's one statement is its own."""
    return conn.transaction() if dossiers > 1 else nullcontext()


async def preview(
    pool: asyncpg.Pool,
    registry: CitizenRegistry,
    clock: LegalClock,
    *,
    principal: Principal,
    body: PreviewRequest,
    request_id: str | None,
) -> DossierPreview:
    """What a submission would prefill, field by field with its origin; nothing is stored."""
    query = _authorize_submission(principal, body)
    today = datetime.now(clock.tz).date()
    async with pool.acquire() as conn:
        procedure = await repository.get_current_procedure(conn, body.procedure_code, today)
    if procedure is None:
        raise _procedure_missing(body.procedure_code, today)
    answer = await registry.preview(principal, query, procedure["code"], request_id)
    applicant, origins = _build_applicant(principal, query, answer, body.applicant)
    return DossierPreview(
        procedure=ProcedureRef(code=procedure["code"], name=procedure["name"], version=procedure["version"]),
        applicant=applicant,
        on_behalf_via=answer.on_behalf_via,
        fields=[PreviewField(field=f, value=getattr(applicant, f), origin=o) for f, o in origins.items()],
    )


async def _replay(conn: asyncpg.Connection, row: asyncpg.Record, digest: str, clock: LegalClock) -> DossierReceipt:
    if row["request_hash"] != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Khóa Idempotency-Key đã được dùng cho yêu cầu khác",
            "This Idempotency-Key was used with a different request body; use a new key.",
        )
    bundle = None
    if row["bundle_id"] is not None:
        version = await repository.get_procedure_version(conn, row["bundle_code"], row["bundle_version"])
        assert version is not None  # a dossier's procedure versions are never deleted
        definition = ProcedureDefinition.model_validate(version["definition"])
        members = await repository.bundle_dossiers(conn, row["bundle_id"])
        bundle = _bundle_receipt(members, definition, clock.due_at(row["received_at"], definition.budget))
    return _receipt(row, clock, bundle)


def _applicant(row: Mapping[str, Any]) -> Applicant:
    return Applicant(**{"kind": row["applicant_kind"], **row["applicant"]})


def _submitter(row: Mapping[str, Any]) -> Submitter | None:
    if row["submitter_kind"] is None:
        return None  # dossiers stored before submitters were recorded
    return Submitter(kind=row["submitter_kind"], subject=row["submitter_subject"])


def _component_out(c: dict[str, Any]) -> ComponentOut:
    return ComponentOut(
        code=c["code"], file_name=c.get("file_name"), reused_from=c.get("reused_from"), sha256=c.get("sha256")
    )


def _procedure_of(row: Mapping[str, Any]) -> ProcedureRef:
    """The procedure and version a stored dossier was received under."""
    return ProcedureRef(
        code=row["procedure_code"], name=row["procedure_snapshot"]["name"], version=row["procedure_version"]
    )


def _unit_of(row: Mapping[str, Any]) -> UnitRef:
    return UnitRef(code=row["unit_code"], name=row["unit_name"])


def _bundle_receipt(rows: Sequence[Mapping[str, Any]], bundle: ProcedureDefinition, due_at: datetime) -> BundleReceipt:
    """The linked dossiers of a bundle submission, in the order of the bundle's members."""
    members = bundle.bundle.members if bundle.bundle is not None else ()
    rows = sorted(rows, key=lambda r: members.index(r["procedure_code"]) if r["procedure_code"] in members else 0)
    return BundleReceipt(
        id=rows[0]["bundle_id"],
        procedure=ProcedureRef(code=bundle.code, name=bundle.name, version=bundle.version),
        due_at=due_at,
        fee_vnd=sum(r["fee_vnd"] for r in rows),
        dossiers=[
            BundleDossier(
                id=r["id"],
                code=r["code"],
                procedure=_procedure_of(r),
                unit=_unit_of(r),
                appointment_at=r["appointment_at"],
                fee_vnd=r["fee_vnd"],
            )
            for r in rows
        ],
    )


def _receipt(row: Mapping[str, Any], clock: LegalClock, bundle: BundleReceipt | None = None) -> DossierReceipt:
    snapshot = row["procedure_snapshot"]
    submitter = _submitter(row)
    assert submitter is not None  # a receipt is for a dossier submitted since submitters are recorded
    budget = TimeBudget.model_validate(row["budget"])
    message = receipt_message(row["code"], snapshot["name"], row["appointment_at"], clock.tz)
    if bundle is not None:
        message = bundle_message(bundle.procedure.name, [d.code for d in bundle.dossiers], bundle.due_at, clock.tz)
    return DossierReceipt(
        id=row["id"],
        code=row["code"],
        status="submitted",
        status_label=SUBMITTED_LABEL,
        procedure=_procedure_of(row),
        unit=_unit_of(row),
        channel=row["channel"],
        receiving_unit_code=row["receiving_unit_code"],
        submitted_by=submitter,
        on_behalf_via=row["on_behalf_via"],
        applicant=_applicant(row),
        field_origins=row["field_origins"],
        components=[_component_out(c) for c in row["components"]],
        submitted_at=row["submitted_at"],
        received_at=row["received_at"],
        appointment_at=row["appointment_at"],
        processing_days=processing_days(budget),
        fee_vnd=row["fee_vnd"],
        message=message,
        budget=budget,
        bundle=bundle,
    )


# --- Reading a dossier ----------------------------------------------------------------------------------------


def _parties(row: Mapping[str, Any]) -> DossierParties:
    return DossierParties(
        unit_code=row["unit_code"],
        receiving_unit_code=row["receiving_unit_code"],
        applicant_subject=row["applicant_subject"],
        submitter_kind=row["submitter_kind"],
        submitter_subject=row["submitter_subject"],
    )


def _dossier_not_found(code: str) -> ProblemError:
    # The same answer for a code that does not exist and for one the caller may not see: a 403 would confirm
    # that the code exists, which turns guessing codes into a way to enumerate dossiers.
    return ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier with code {code!r}.")


async def _readable(conn: asyncpg.Connection, code: str, allowed: Callable[[Any], bool]) -> asyncpg.Record:
    row = await repository.get_dossier(conn, code)
    if row is None or not allowed(_parties(row)):
        raise _dossier_not_found(code)
    return row


async def get_tracking(conn: asyncpg.Connection, principal: Principal, code: str) -> DossierTracking:
    """The dossier as intake knows it: received, waiting for the unit to accept it. Processing serves the
    full timeline once it has opened the case; the gateway asks it first."""
    row = await _readable(conn, code, lambda d: can_track(principal, d))
    unit = _unit_of(row)
    return DossierTracking(
        id=row["id"],
        code=row["code"],
        status="submitted",
        status_label=SUBMITTED_LABEL,
        procedure=_procedure_of(row),
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
                name=RECEIVE_STEP_NAME,
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


async def get_public(conn: asyncpg.Connection, code: str) -> PublicDossier:
    row = await repository.get_dossier(conn, code)
    if row is None:
        raise _dossier_not_found(code)
    return PublicDossier(
        code=row["code"],
        status="submitted",
        status_label=SUBMITTED_LABEL,
        current_step_name=RECEIVE_STEP_NAME,
        unit=_unit_of(row),
        due_at=row["appointment_at"],
    )


def _correction(row: Mapping[str, Any]) -> Correction:
    return Correction(
        id=row["id"],
        field=row["field"],
        registry_value=row["registry_value"],
        proposed_value=row["proposed_value"],
        note=row["note"],
        requested_at=row["requested_at"],
    )


async def get_application(conn: asyncpg.Connection, principal: Principal, code: str) -> DossierApplication:
    row = await _readable(conn, code, lambda d: can_read_application(principal, d))
    corrections = await repository.list_corrections(conn, row["id"])
    return DossierApplication(
        id=row["id"],
        code=row["code"],
        procedure=_procedure_of(row),
        unit=_unit_of(row),
        channel=row["channel"],
        receiving_unit_code=row["receiving_unit_code"],
        submitted_by=_submitter(row),
        on_behalf_via=row["on_behalf_via"],
        applicant=_applicant(row),
        field_origins=row["field_origins"],
        components=[_component_out(c) for c in row["components"]],
        form_data=row["form_data"],
        notify_channels=list(row["notify_channels"]),
        corrections=[_correction(c) for c in corrections],
        submitted_at=row["submitted_at"],
    )


async def request_correction(
    conn: asyncpg.Connection, principal: Principal, code: str, body: CorrectionCreate, *, topic: str
) -> Correction:
    """The applicant or the citizen who submitted flags a registry-prefilled field as wrong: stored on the dossier
    and sent to the registry (personal topic) in the caller's transaction."""
    row = await _readable(conn, code, lambda d: can_read_application(principal, d))
    if not is_party(principal, _parties(row)):
        raise forbidden("Only the applicant or the citizen who submitted may flag registry data.")
    origin = row["field_origins"].get(body.field)
    if origin is None:
        raise ProblemError(
            422,
            "unknown-field",
            "Trường thông tin không có trong hồ sơ",
            f"The dossier has no applicant field {body.field!r}.",
            [FieldError(field="field", message="unknown field")],
        )
    if origin != "registry":
        raise ProblemError(
            422,
            "field-not-from-registry",
            "Trường thông tin này do bạn tự nhập, không lấy từ Cơ sở dữ liệu quốc gia",
            f"{body.field!r} was typed by the caller, not prefilled from the registry.",
            [FieldError(field="field", message="typed, not from the registry")],
        )
    if row["applicant_kind"] != "citizen" or not row["applicant_personal_id"]:
        raise ProblemError(
            422,
            "correction-not-supported",
            "Chưa hỗ trợ đề nghị điều chỉnh thông tin doanh nghiệp",
            "Corrections are sent to the population registry; organisation records are out of scope.",
        )
    value = row["applicant"].get(body.field)
    stored = await repository.insert_correction(
        conn,
        {
            "id": uuid.uuid4(),
            "dossier_id": row["id"],
            "field": body.field,
            "registry_value": None if value is None else str(value),
            "proposed_value": body.proposed_value,
            "note": body.note,
            "requested_by": principal.subject,
        },
    )
    event = RegistryCorrectionRequested(
        dossier_id=row["id"],
        dossier_code=row["code"],
        occurred_at=stored["requested_at"],
        correction_id=stored["id"],
        personal_id=row["applicant_personal_id"].strip(),
        field=body.field,
        registry_value=stored["registry_value"],
        proposed_value=body.proposed_value,
        note=body.note,
    )
    await enqueue(conn, event, topic=topic, key=str(row["id"]), source=SOURCE, subject=row["code"])
    return _correction(stored)


# --- The document vault ---------------------------------------------------------------------------------------


def _document(row: Mapping[str, Any]) -> Document:
    return Document(
        id=row["id"],
        kind=row["kind"],
        doc_type=row["doc_type"],
        file_name=row["file_name"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        has_content=row["has_content"],
        dossier_code=row["dossier_code"],
        result_number=row["result_number"],
        created_at=row["created_at"],
    )


def too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        "document-too-large",
        "Tệp tải lên vượt quá dung lượng cho phép",
        f"A document may be at most {limit} bytes.",
    )


async def upload_document(
    conn: asyncpg.Connection, principal: Principal, *, content: bytes, file_name: str | None, doc_type: str
) -> tuple[Document, bool]:
    """Store an upload in the citizen's vault; the same content again returns the stored document (False)."""
    content_type = sniff_content_type(content[:16])
    if content_type is None:
        raise ProblemError(
            415,
            "unsupported-document-type",
            "Chỉ chấp nhận tệp PDF, JPEG hoặc PNG",
            "The file's content is not a PDF, JPEG or PNG (checked from its bytes, not its declared type).",
        )
    digest = hashlib.sha256(content).hexdigest()
    row = await repository.insert_upload(
        conn,
        {
            "id": uuid.uuid4(),
            "owner_subject": principal.subject,
            "doc_type": doc_type,
            "file_name": file_name,
            "content_type": content_type,
            "size_bytes": len(content),
            "sha256": digest,
            "content": content,
        },
    )
    if row is not None:
        return _document(row), True
    existing = await repository.find_upload_by_hash(conn, principal.subject, digest)
    assert existing is not None  # the insert conflicted on this owner's hash, so that upload exists
    return _document(existing), False


async def list_documents(
    conn: asyncpg.Connection, principal: Principal, *, cursor: str | None, limit: int
) -> DocumentPage:
    before = decode_keyset(cursor, UUID) if cursor else None
    rows = await repository.list_documents(conn, principal.subject, before=before, limit=limit + 1)
    items = [_document(r) for r in rows[:limit]]
    more = len(rows) > limit
    return DocumentPage(items=items, next_cursor=encode_keyset(items[-1].created_at, items[-1].id) if more else None)


async def document_content(conn: asyncpg.Connection, principal: Principal, doc_id: UUID) -> asyncpg.Record:
    row = await repository.get_document_content(conn, principal.subject, doc_id)
    if row is None:
        raise ProblemError(
            404, "document-not-found", "Không tìm thấy giấy tờ", "No document with a file under this id in your vault."
        )
    return row


# --- Once-only score ------------------------------------------------------------------------------------------


async def once_only(conn: asyncpg.Connection, code: str) -> OnceOnlyScore:
    if await repository.latest_version(conn, code) is None:
        raise _procedure_not_found(code)
    c = await repository.once_only_counts(conn, code)
    fields_total, components_total = c["fields_total"], c["components_total"]
    return OnceOnlyScore(
        procedure_code=code,
        dossiers=c["dossiers"],
        fields=FieldShare(
            from_registry=c["fields_registry"],
            typed=fields_total - c["fields_registry"],
            total=fields_total,
            share=round(c["fields_registry"] / fields_total, 4) if fields_total else None,
        ),
        components=ComponentShare(
            reused=c["components_reused"],
            new=components_total - c["components_reused"],
            total=components_total,
            share=round(c["components_reused"] / components_total, 4) if components_total else None,
        ),
    )
