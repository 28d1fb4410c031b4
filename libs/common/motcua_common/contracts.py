"""The event contracts: every event a service publishes on ``motcua.dossier.events``, on the restricted
``motcua.personal.events``, each dossier's current state on the compacted ``motcua.dossier.state``, and the
procedure versions of the catalogue on ``motcua.catalogue.events``.

These models are the single source of the committed JSON Schemas and the AsyncAPI catalogue
(``make contracts``). A breaking change is a new ``.v2`` type published beside the old one.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .events import EventData
from .procedures import ProcedureDefinition

DossierStatus = Literal[
    "submitted",
    "processing",
    "approved",
    "rejected",
    "result_issued",
    "completed",
    "supplement_requested",
    "refused",
]
OpenStatus = Literal["submitted", "processing", "supplement_requested", "approved", "result_issued"]
NotifyChannel = Literal["email", "sms", "app"]
Channel = Literal["online", "counter", "service_centre", "post"]


class ApplicantRef(BaseModel):
    """Who the dossier is for, without personal data: a citizen by their opaque subject id (the ``sub`` of
    their tokens, never the personal id number), or an organisation by its tax code."""

    kind: Literal["citizen", "organisation"]
    subject: str | None = Field(None, description="citizens: opaque subject id (token `sub`)")
    tax_code: str | None = Field(None, description="organisations: tax code (mã số thuế)")


class Actor(BaseModel):
    """Who performed an action: a citizen (opaque subject), an officer (account id) or a partner (client id)."""

    kind: Literal["citizen", "officer", "partner"]
    subject: str


def added_later(*names: str) -> Callable[[dict[str, Any]], None]:
    """A model's ``json_schema_extra`` for fields added to a published contract: they are in every new event (or
    answer), but not in those published before, so the schema does not list them as required (adding a required
    field would break readers of older events; ``make contracts`` refuses it)."""

    def drop(schema: dict[str, Any]) -> None:
        schema["required"] = [n for n in schema.get("required", []) if n not in names]

    return drop


class BundleRef(BaseModel):
    """The bundle a dossier belongs to (Project 06 groups, Decision 296/QĐ-VPCP): one submission created a linked
    dossier per member procedure."""

    code: str = Field(description="the bundle procedure's code")
    version: int = Field(description="the bundle procedure's version")
    id: UUID = Field(description="the bundle submission's id, shared by its dossiers")
    dossier_ids: list[UUID] = Field(description="every dossier of the bundle, in the order of its members")


class UnitRef(BaseModel):
    code: str
    name: str


class DossierEvent(EventData):
    dossier_id: UUID
    dossier_code: str = Field(description="e.g. 000.26.01.H29-261121-0001-K7QX")
    occurred_at: datetime
    status: DossierStatus


class DossierSubmitted(DossierEvent):
    """Intake received a complete dossier and gave the applicant a receipt (form 01). Carries no personal
    data: the applicant's contact details travel on the restricted personal topic (``DossierContact``)."""

    event_type: Literal["vn.motcua.dossier.submitted.v2"] = "vn.motcua.dossier.submitted.v2"
    status: Literal["submitted"] = "submitted"
    procedure_code: str
    procedure_name: str
    procedure_version: int
    processing_days: int = Field(description="statutory time in working days (0 = same day)")
    channel: Channel
    receiving_unit_code: str | None = Field(
        None, description="where the dossier was received (a service centre or counter); null when online"
    )
    unit_code: str = Field(description="the competent unit that processes the dossier")
    unit_name: str
    applicant: ApplicantRef
    submitted_by: Actor
    submitted_at: datetime
    received_at: datetime = Field(description="when the legal clock starts (15:00 rule applied)")
    appointment_at: datetime = Field(description="the date the result is due (appointment)")
    # Added with procedure definitions (issue 6): absent in events published before.
    fee_vnd: int | None = Field(None, description="the fee charged for the channel (online discount applied)")
    bundle: BundleRef | None = Field(None, description="the bundle this dossier was submitted in, if any")
    performer_units: dict[str, UnitRef] | None = Field(
        None,
        description="for the steps of the definition performed by another level's unit (inter-agency steps, e.g. "
        "`commune_police`): the unit intake chose for this dossier, by performer",
    )

    # Added with the statistics (issue 9): the once-only share of what the applicant handed in.
    components_total: int | None = Field(None, ge=0, description="how many components the dossier was submitted with")
    components_reused: int | None = Field(
        None, ge=0, description="of them, how many were attached from the applicant's vault (not handed in again)"
    )

    model_config = ConfigDict(
        json_schema_extra=added_later("fee_vnd", "bundle", "performer_units", "components_total", "components_reused")
    )


class _OfficerAction(DossierEvent):
    unit_code: str
    unit_name: str
    handler: str = Field(description="the officer who acted")
    due_at: datetime


class _StepAction(_OfficerAction):
    """An officer action of the generic engine (issue 6), with the step it completed and where the dossier went."""

    due_at: datetime = Field(description="the dossier's current due date (appointment) after the action")
    step: str | None = Field(None, description="the workflow step the action completed")
    next_step: str | None = Field(None, description="the step the dossier is now at; null when final or waiting")
    next_step_name: str | None = Field(None, description="its Vietnamese name")
    next_unit_code: str | None = Field(None, description="the unit that performs the next step")
    next_unit_name: str | None = None


class DossierAccepted(_OfficerAction):
    """An officer checked the dossier and accepted it for processing."""

    event_type: Literal["vn.motcua.dossier.accepted.v1"] = "vn.motcua.dossier.accepted.v1"
    status: Literal["processing"] = "processing"


class DossierApproved(_OfficerAction):
    """The signing authority approved the dossier."""

    event_type: Literal["vn.motcua.dossier.approved.v1"] = "vn.motcua.dossier.approved.v1"
    status: Literal["approved"] = "approved"


class DossierRejected(_OfficerAction):
    """The dossier was refused after appraisal, with the reason. (A refusal to receive, form 03, is
    ``dossier.refused`` since issue 6; before, this type stood for both.)"""

    event_type: Literal["vn.motcua.dossier.rejected.v1"] = "vn.motcua.dossier.rejected.v1"
    status: Literal["rejected"] = "rejected"
    reason: str


class DossierResultIssued(_OfficerAction):
    """The result document was issued and is ready to be returned."""

    event_type: Literal["vn.motcua.dossier.result_issued.v1"] = "vn.motcua.dossier.result_issued.v1"
    status: Literal["result_issued"] = "result_issued"
    model_config = ConfigDict(json_schema_extra=added_later("processing_working_days"))
    result_number: str
    timeliness: Literal["early", "on_time", "late"]
    processing_working_days: float | None = Field(
        None,
        ge=0,
        description="office time from receipt to the result in working days, supplement waits left out (issue 9)",
    )


class DossierResultReturned(_OfficerAction):
    """The result reached the applicant; the dossier is complete. Returned by post (Decision 45/2016/QĐ-TTg), both
    the applicant and the post office are to be told: ``notify_post`` says so."""

    model_config = ConfigDict(json_schema_extra=added_later("notify_post"))
    event_type: Literal["vn.motcua.dossier.result_returned.v1"] = "vn.motcua.dossier.result_returned.v1"
    status: Literal["completed"] = "completed"
    return_method: Literal["online", "counter", "post"]
    notify_post: bool = Field(False, description="true when the result goes by post: tell the post office too")


class DossierRefused(_StepAction):
    """The receiving officer refused to receive the dossier, with the reason (form 03)."""

    event_type: Literal["vn.motcua.dossier.refused.v1"] = "vn.motcua.dossier.refused.v1"
    status: Literal["refused"] = "refused"
    reason: str


class DossierSupplementRequested(_StepAction):
    """The applicant is asked to add or fix documents (form 02); the legal clock pauses (or will restart)."""

    event_type: Literal["vn.motcua.dossier.supplement_requested.v1"] = "vn.motcua.dossier.supplement_requested.v1"
    status: Literal["supplement_requested"] = "supplement_requested"
    reason: str = Field(description="why, as the applicant reads it")
    components_requested: list[str] = Field(default=[], description="what is missing (component codes or names)")
    request_number: int = Field(ge=1, description="1 for the first request on this dossier")
    clock_rule: Literal["pause", "restart"]


class DossierSupplemented(DossierEvent):
    """The applicant (or a receiving officer on their behalf) supplemented the dossier; the clock runs again and
    the dossier is back at the step that asked."""

    event_type: Literal["vn.motcua.dossier.supplemented.v1"] = "vn.motcua.dossier.supplemented.v1"
    status: OpenStatus
    by: Actor
    request_number: int = Field(ge=1)
    document_count: int = Field(ge=0, description="how many documents were added (ids stay in processing)")
    step: str = Field(description="the step the dossier is back at")
    unit_code: str
    unit_name: str
    due_at: datetime = Field(description="the due date after the pause (or restart)")


class DossierStepForwarded(_StepAction):
    """A step was completed and the dossier went on to the next one (possibly in another unit of the case)."""

    event_type: Literal["vn.motcua.dossier.step_forwarded.v1"] = "vn.motcua.dossier.step_forwarded.v1"
    status: OpenStatus


class DossierTransferred(_StepAction):
    """Liên thông: the dossier was handed to another agency for one of the procedure's steps."""

    event_type: Literal["vn.motcua.dossier.transferred.v1"] = "vn.motcua.dossier.transferred.v1"
    status: OpenStatus


class DossierExtended(DossierEvent):
    """The unit holding the dossier apologised and set a new appointment (form 04). The law wants the applicant
    told by e-mail or SMS: ``notify_channels`` lists the channels to use."""

    event_type: Literal["vn.motcua.dossier.extended.v1"] = "vn.motcua.dossier.extended.v1"
    status: OpenStatus
    unit_code: str
    unit_name: str
    handler: str = Field(description="the officer who extended")
    reason: str
    previous_due_at: datetime
    due_at: datetime = Field(description="the new appointment")
    notify_channels: list[NotifyChannel] = Field(default=["email", "sms"])


class _Deadline(DossierEvent):
    status: OpenStatus
    step: str | None = None
    step_name: str | None = None
    unit_code: str = Field(description="the unit holding the dossier")
    unit_name: str
    due_at: datetime


class DossierOverdue(_Deadline):
    """The dossier passed its due date unresolved (announced once per due date)."""

    event_type: Literal["vn.motcua.dossier.overdue.v1"] = "vn.motcua.dossier.overdue.v1"


class DossierDueSoon(_Deadline):
    """The dossier is due within the due-soon window (default one working day; announced once per due date)."""

    event_type: Literal["vn.motcua.dossier.due_soon.v1"] = "vn.motcua.dossier.due_soon.v1"


class PersonalEvent(EventData):
    """Base of events on the restricted personal topic (``motcua.personal.events``): they carry personal
    data, so only the services that need it may read that topic (broker ACLs)."""

    dossier_id: UUID
    dossier_code: str
    occurred_at: datetime


class DossierContact(PersonalEvent):
    """How to reach the person to notify about a dossier (published by intake with ``dossier.submitted``)."""

    event_type: Literal["vn.motcua.dossier.contact.v1"] = "vn.motcua.dossier.contact.v1"
    recipient_subject: str = Field(description="opaque subject id of the person notified (token `sub`)")
    full_name: str
    email: str | None = None
    phone: str | None = None
    notify_channels: list[Literal["email", "sms", "app"]] = ["app"]
    procedure_name: str


class RegistryCorrectionRequested(PersonalEvent):
    """The citizen flagged a field prefilled from the population registry as wrong; the registry reviews it."""

    event_type: Literal["vn.motcua.registry.correction_requested.v1"] = "vn.motcua.registry.correction_requested.v1"
    correction_id: UUID
    personal_id: str = Field(description="whose record (12-digit personal id)")
    field: str = Field(description="the registry field, e.g. permanent_address")
    registry_value: str | None = Field(None, description="the value the registry holds")
    proposed_value: str | None = Field(None, description="what the citizen says is right")
    note: str | None = None


PERSONAL_EVENTS: dict[str, type[PersonalEvent]] = {
    m.type_name(): m for m in (DossierContact, RegistryCorrectionRequested)
}

DOSSIER_EVENTS: dict[str, type[DossierEvent]] = {
    m.type_name(): m
    for m in (
        DossierSubmitted,
        DossierAccepted,
        DossierApproved,
        DossierRejected,
        DossierResultIssued,
        DossierResultReturned,
        DossierRefused,
        DossierSupplementRequested,
        DossierSupplemented,
        DossierStepForwarded,
        DossierTransferred,
        DossierExtended,
        DossierOverdue,
        DossierDueSoon,
    )
}


class DossierState(EventData):
    """A dossier's current state, published by processing on every change to the compacted topic
    ``motcua.dossier.state`` (key = dossier id): a system that joins late reads that topic from the beginning and
    has the latest state of every dossier, then follows ``motcua.dossier.events`` for the changes. No personal
    data: the applicant is an opaque subject id or a tax code, as in ``dossier.submitted.v2``."""

    model_config = ConfigDict(json_schema_extra=added_later("current_unit_code", "legal_due_at"))
    event_type: Literal["vn.motcua.dossier.state.v1"] = "vn.motcua.dossier.state.v1"
    dossier_id: UUID
    dossier_code: str = Field(description="e.g. 000.26.01.H29-261121-0001-K7QX")
    sequence: int = Field(
        ge=1,
        description="the `sequence` of the last dossier event this state includes (1 = submitted); a state with a "
        "lower number than one already seen is stale and must be ignored",
    )
    occurred_at: datetime = Field(description="when the change this state includes happened")
    status: DossierStatus
    status_label: str = Field(description="the status as shown to citizens (Vietnamese)")
    current_step: str | None = Field(None, description="the open workflow step; null once the dossier is final")
    procedure_code: str
    procedure_name: str
    procedure_version: int
    channel: Channel
    receiving_unit_code: str | None = Field(None, description="where the dossier was received; null when online")
    unit_code: str = Field(description="the competent unit that processes the dossier")
    unit_name: str
    applicant: ApplicantRef
    received_at: datetime = Field(description="when the legal clock started")
    due_at: datetime = Field(description="the date the result is due (appointment)")
    completed_at: datetime | None = Field(None, description="when the dossier became final (completed or rejected)")
    timeliness: Literal["early", "on_time", "late"] | None = Field(None, description="once the result is issued")
    current_unit_code: str | None = Field(None, description="the unit holding the current step")
    legal_due_at: datetime | None = Field(
        None, description="the legal due date (moved by supplement pauses, not by extensions)"
    )


STATE_EVENTS: dict[str, type[DossierState]] = {DossierState.type_name(): DossierState}


class ProcedureVersionPublished(ProcedureDefinition, EventData):
    """Intake published a version of a procedure (an operator through the API, or a definition shipped with the
    code, announced once when first loaded). The data is the whole definition
    (``motcua_common.procedures.ProcedureDefinition``) plus when it was published; the Kafka key is the procedure
    code and the CloudEvents ``sequence`` is the version, so a consumer sees a code's versions in order and can
    tell a missing one. Processing keeps every version: a dossier runs on the version it was received under."""

    model_config = ConfigDict(frozen=False, extra="ignore", json_schema_serialization_defaults_required=True)
    event_type: Literal["vn.motcua.procedure.version_published.v1"] = "vn.motcua.procedure.version_published.v1"
    published_at: datetime = Field(description="when intake published (or first loaded) this version")

    def definition(self) -> ProcedureDefinition:
        return ProcedureDefinition.model_validate(self.model_dump(exclude={"event_type", "published_at"}))


CATALOGUE_EVENTS: dict[str, type[ProcedureVersionPublished]] = {
    ProcedureVersionPublished.type_name(): ProcedureVersionPublished
}


class PortalEvent(EventData):
    """Base of the events processing reports to the national public-service portal on ``motcua.portal.events``
    (issue 9). No personal data: dossier codes, statuses, units, counts."""


class PortalDossierStatus(PortalEvent):
    """A dossier's status changed (or its appointment moved): one event per dossier event of
    ``motcua.dossier.events`` except the overdue and due-soon announcements, in the dossier's order (key = dossier id;
    ``sequence`` = the dossier event's ``sequence``, so the portal can tell a gap). Published by processing's
    ``processing-portal`` consumer group through its outbox."""

    event_type: Literal["vn.motcua.portal.dossier_status.v1"] = "vn.motcua.portal.dossier_status.v1"
    dossier_id: UUID
    dossier_code: str
    occurred_at: datetime
    change: str = Field(description="the dossier event's type, e.g. vn.motcua.dossier.accepted.v1")
    status: DossierStatus
    status_label: str = Field(description="the status as the portal shows it to citizens (Vietnamese)")
    unit_code: str = Field(description="the unit holding the dossier after the change")
    procedure_code: str | None = Field(None, description="on the first event (submitted) only")
    channel: Channel | None = Field(None, description="on the first event (submitted) only")
    received_at: datetime | None = Field(None, description="on the first event (submitted) only")
    due_at: datetime | None = Field(None, description="the appointment after the change, when the change sets it")
    timeliness: Literal["early", "on_time", "late"] | None = Field(None, description="once the result is issued")


class PortalStatistics(PortalEvent):
    """A unit's figures for a completed period (month), as a province reports them to the national portal: the
    counters of ``GET /api/v1/public/statistics`` (docs/statistics.md). Once per unit and period (key = unit code)."""

    event_type: Literal["vn.motcua.portal.statistics.v1"] = "vn.motcua.portal.statistics.v1"
    occurred_at: datetime = Field(description="when the report was made")
    period: Literal["day", "month", "quarter", "year"]
    start: str = Field(description="first day of the period (ISO date)")
    end: str = Field(description="last day of the period (ISO date)")
    unit_code: str
    unit_name: str
    kind: Literal["unit", "centre"]
    received: dict[str, int] = Field(description="by channel (online, counter, service_centre, post) and total")
    resolved: dict[str, int] = Field(description="early, on_time, late, total")
    in_progress: int
    overdue: int
    on_time_rate: float | None
    avg_processing_days: float | None
    online_share: float | None
    paid_online: int
    results_electronic: int
    once_only_components: int
    components_total: int
    supplement_requests: int
    refusals: int
    ratings: int
    satisfaction_average: float | None


PORTAL_EVENTS: dict[str, type[PortalEvent]] = {m.type_name(): m for m in (PortalDossierStatus, PortalStatistics)}
