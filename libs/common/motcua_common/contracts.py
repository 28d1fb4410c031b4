"""The dossier event contracts: every event a service publishes on ``motcua.dossier.events``.

These models are the single source of the committed JSON Schemas and the AsyncAPI catalogue
(``make contracts``). A breaking change is a new ``.v2`` type published beside the old one.
"""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from .events import EventData

DossierStatus = Literal["submitted", "processing", "approved", "rejected", "result_issued", "completed"]
Channel = Literal["online", "counter", "service_centre", "post"]


class Applicant(BaseModel):
    personal_id: str = Field(description="12-digit personal id number (số định danh cá nhân)")
    full_name: str
    date_of_birth: date
    sex: Literal["male", "female"]
    permanent_address: str
    email: str | None = None
    phone: str | None = None


class DossierEvent(EventData):
    dossier_id: UUID
    dossier_code: str = Field(description="e.g. 000.00.01.H29-261121-0001")
    occurred_at: datetime
    status: DossierStatus


class DossierSubmitted(DossierEvent):
    """Intake received a complete dossier and gave the applicant a receipt (form 01)."""

    event_type: Literal["vn.motcua.dossier.submitted.v1"] = "vn.motcua.dossier.submitted.v1"
    status: Literal["submitted"] = "submitted"
    procedure_code: str
    procedure_name: str
    procedure_version: int
    processing_days: int = Field(description="statutory time in working days (0 = same day)")
    channel: Channel
    unit_code: str = Field(description="the competent unit that processes the dossier")
    unit_name: str
    applicant: Applicant
    submitted_at: datetime
    received_at: datetime = Field(description="when the legal clock starts (15:00 rule applied)")
    appointment_at: datetime = Field(description="the date the result is due (appointment)")
    notify_channels: list[Literal["email", "sms", "app"]] = ["app"]


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
