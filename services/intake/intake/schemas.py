from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

PersonalId = Annotated[
    str, Field(pattern=r"^\d{12}$", description="12-digit personal id number", examples=["001090001234"])
]
ProcedureCode = Annotated[str, Field(min_length=1, max_length=32, examples=["1.001193"])]
Channel = Literal["online", "counter", "service_centre", "post"]
Level = Literal["province", "commune", "commune_police", "delegated"]


class UnitRef(BaseModel):
    code: str
    name: str


class Component(BaseModel):
    code: str
    name: str
    required: bool


class ProcedureSummary(BaseModel):
    code: str
    version: int
    name: str
    field: str
    level: Level
    unit: UnitRef
    processing_days: int = Field(description="statutory time in working days; 0 = same day")
    fee_vnd: int
    fee_online_vnd: int | None
    online_level: Literal["full", "partial"]


class ProcedureDetail(ProcedureSummary):
    fee_note: str | None
    components: list[Component]
    legal_basis: str | None
    effective_from: date


class ProcedurePage(BaseModel):
    items: list[ProcedureSummary]
    next_cursor: str | None


class ApplicantIn(BaseModel):
    personal_id: PersonalId
    email: str | None = Field(
        None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="contact email; defaults to the one in the population database",
    )
    phone: str | None = Field(None, pattern=r"^0\d{9}$", description="contact phone, 10 digits")


class ComponentIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    file_name: str | None = Field(None, max_length=255)


class DossierCreate(BaseModel):
    procedure_code: ProcedureCode
    applicant: ApplicantIn
    channel: Channel = "online"
    components: list[ComponentIn] = Field(default_factory=list, max_length=50)
    form_data: dict[str, Any] = Field(default_factory=dict, description="procedure-specific form fields")
    notify_channels: list[Literal["email", "sms", "app"]] = Field(
        default_factory=lambda: ["app", "email"], max_length=3
    )


class Applicant(BaseModel):
    personal_id: str
    full_name: str
    date_of_birth: date
    sex: Literal["male", "female"]
    permanent_address: str
    email: str | None
    phone: str | None


class ProcedureRef(BaseModel):
    code: str
    name: str
    version: int | None = None


class DossierReceipt(BaseModel):
    """The electronic receipt and appointment (form 01)."""

    id: UUID
    code: str
    status: Literal["submitted"]
    status_label: str
    procedure: ProcedureRef
    unit: UnitRef
    channel: Channel
    applicant: Applicant
    submitted_at: datetime
    received_at: datetime = Field(description="when the legal clock starts (15:00 rule applied)")
    appointment_at: datetime = Field(description="when the result is due")
    processing_days: int
    fee_vnd: int
    message: str


class TimelineStep(BaseModel):
    seq: int
    step: str
    name: str
    unit: UnitRef
    handler: str | None
    entered_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    outcome: str | None
    note: str | None


class DossierTracking(BaseModel):
    """Where a dossier is: the same shape processing serves once it has opened the case."""

    id: UUID
    code: str
    status: str
    status_label: str
    procedure: ProcedureRef
    unit: UnitRef
    current_step: str | None
    current_handler: str | None
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    timeliness: Literal["early", "on_time", "late"] | None
    rejection_reason: str | None
    timeline: list[TimelineStep]
