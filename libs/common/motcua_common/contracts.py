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

DossierStatus = Literal["submitted", "processing", "approved", "rejected", "result_issued", "completed"]
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

    model_config = ConfigDict(json_schema_extra=added_later("fee_vnd", "bundle", "performer_units"))


class _OfficerAction(DossierEvent):
    unit_code: str
    unit_name: str
    handler: str = Field(description="the officer who acted")
    due_at: datetime


class DossierAccepted(_OfficerAction):
    """An officer checked the dossier and accepted it for processing."""

    event_type: Literal["vn.motcua.dossier.accepted.v1"] = "vn.motcua.dossier.accepted.v1"
    status: Literal["processing"] = "processing"


class DossierApproved(_OfficerAction):
    """The signing authority approved the dossier."""

    event_type: Literal["vn.motcua.dossier.approved.v1"] = "vn.motcua.dossier.approved.v1"
    status: Literal["approved"] = "approved"


class DossierRejected(_OfficerAction):
    """The dossier was refused (at reception, form 03, or after appraisal), with the reason."""

    event_type: Literal["vn.motcua.dossier.rejected.v1"] = "vn.motcua.dossier.rejected.v1"
    status: Literal["rejected"] = "rejected"
    reason: str


class DossierResultIssued(_OfficerAction):
    """The result document was issued and is ready to be returned."""

    event_type: Literal["vn.motcua.dossier.result_issued.v1"] = "vn.motcua.dossier.result_issued.v1"
    status: Literal["result_issued"] = "result_issued"
    result_number: str
    timeliness: Literal["early", "on_time", "late"]


class DossierResultReturned(_OfficerAction):
    """The result reached the applicant; the dossier is complete."""

    event_type: Literal["vn.motcua.dossier.result_returned.v1"] = "vn.motcua.dossier.result_returned.v1"
    status: Literal["completed"] = "completed"
    return_method: Literal["online", "counter", "post"]


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
    )
}


class DossierState(EventData):
    """A dossier's current state, published by processing on every change to the compacted topic
    ``motcua.dossier.state`` (key = dossier id): a system that joins late reads that topic from the beginning and
    has the latest state of every dossier, then follows ``motcua.dossier.events`` for the changes. No personal
    data: the applicant is an opaque subject id or a tax code, as in ``dossier.submitted.v2``."""

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
