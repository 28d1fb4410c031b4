from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from motcua_common.procedures import ProcedureCodeStr, ProcedureDefinition, TimeBudget

PersonalId = Annotated[
    str, Field(pattern=r"^\d{12}$", description="12-digit personal id number", examples=["001090001234"])
]
ProcedureCode = Annotated[str, Field(min_length=1, max_length=32, examples=["1.001193"])]
Channel = Literal["online", "counter", "service_centre", "post"]
Level = Literal["province", "commune", "commune_police", "delegated"]


class UnitRef(BaseModel):
    code: str
    name: str


class ProcedureComponent(BaseModel):
    """A document the procedure requires (thành phần hồ sơ)."""

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
    components: list[ProcedureComponent]
    legal_basis: str | None
    effective_from: date


class ProcedurePage(BaseModel):
    items: list[ProcedureSummary]
    next_cursor: str | None


class ProcedureDraft(ProcedureDefinition):
    """A procedure version to publish: the definition without ``version`` (intake assigns the last version + 1).
    ``code`` may be left out (the path names it) or must equal the path's."""

    code: ProcedureCodeStr | None = None  # type: ignore[assignment]  # optional here: the path names the procedure
    version: None = Field(None, description="assigned by intake (the last version + 1): leave it out")  # type: ignore[assignment]


class ProcedureVersion(BaseModel):
    """One version of a procedure as the catalogue holds it: the definition as published, the unit that processes
    it, and the window in which it is the version dossiers are received under."""

    code: str
    version: int
    name: str
    unit: UnitRef = Field(description="the competent unit of this version's dossiers")
    effective_from: date
    effective_to: date | None = Field(
        description="the last day in force: the definition's own end, or the day before a later version comes into "
        "force (before effective_from: superseded before it came into force)"
    )
    in_force: bool = Field(description="whether dossiers received today are received under this version")
    published_at: datetime
    source: Literal["shipped", "operator"] = Field(
        description="shipped with the code (services/intake/intake/catalogue/) or published by an operator"
    )
    definition: ProcedureDefinition


class ProcedureVersionPage(BaseModel):
    items: list[ProcedureVersion] = Field(description="Oldest version first")
    next_cursor: str | None


TaxCode = Annotated[
    str, Field(pattern=r"^\d{10}(-\d{3})?$", description="tax code (mã số thuế)", examples=["0101234567"])
]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(pattern=r"^0\d{9}$", description="10 digits")]
Origin = Literal["registry", "typed"]
NotifyChannel = Literal["email", "sms", "app"]
DEFAULT_CHANNELS: list[NotifyChannel] = ["app", "email"]


class ApplicantIn(BaseModel):
    """Who the dossier is for. A citizen's own dossier needs nothing here (``personal_id`` defaults to the
    caller's); another person (a household minor, someone who authorized the caller) by personal id; an
    organisation by tax code. ``email``/``phone`` are contact details the caller types (they override the
    registry's)."""

    kind: Literal["citizen", "organisation"] = "citizen"
    personal_id: PersonalId | None = None
    tax_code: TaxCode | None = None
    email: Email | None = Field(None, description="contact email; defaults to the one in the registry")
    phone: Phone | None = Field(None, description="contact phone; defaults to the one in the registry")

    @model_validator(mode="after")
    def _one_identifier(self) -> "ApplicantIn":
        if self.kind == "citizen" and self.tax_code is not None:
            raise ValueError("a citizen applicant has a personal_id, not a tax_code")
        if self.kind == "organisation" and (self.tax_code is None or self.personal_id is not None):
            raise ValueError("an organisation applicant needs tax_code (and no personal_id)")
        return self


class ComponentIn(BaseModel):
    """A document of the dossier: a new file (``file_name``) or one from the caller's vault (``document_id``)."""

    code: str = Field(min_length=1, max_length=32)
    file_name: str | None = Field(None, max_length=255)
    document_id: UUID | None = Field(None, description="a document of the submitter's vault, attached by reference")


class DossierCreate(BaseModel):
    procedure_code: ProcedureCode
    applicant: ApplicantIn = Field(default_factory=ApplicantIn)
    channel: Channel = "online"
    components: list[ComponentIn] = Field(default_factory=list, max_length=50)
    form_data: dict[str, Any] = Field(default_factory=dict, description="procedure-specific form fields")
    notify_channels: list[NotifyChannel] = Field(default_factory=lambda: list(DEFAULT_CHANNELS), max_length=3)


class PreviewRequest(BaseModel):
    procedure_code: ProcedureCode
    applicant: ApplicantIn = Field(default_factory=ApplicantIn)
    channel: Channel = "online"


class Applicant(BaseModel):
    """The applicant as submitted: identifiers plus the values prefilled or typed (see ``field_origins``)."""

    kind: Literal["citizen", "organisation"]
    subject: str | None = Field(None, description="citizens: opaque subject id")
    personal_id: str | None = None
    tax_code: str | None = None
    full_name: str | None = None
    date_of_birth: date | None = None
    sex: Literal["male", "female"] | None = None
    permanent_address: str | None = None
    name: str | None = Field(None, description="organisations: registered name")
    address: str | None = Field(None, description="organisations: head office address")
    email: str | None = None
    phone: str | None = None


class Submitter(BaseModel):
    kind: Literal["citizen", "officer", "partner"]
    subject: str


class ComponentOut(BaseModel):
    code: str
    file_name: str | None = None
    reused_from: UUID | None = Field(None, description="the vault document attached by reference")
    sha256: str | None = None


class ProcedureRef(BaseModel):
    code: str
    name: str
    version: int | None = None


class BundleDossier(BaseModel):
    id: UUID
    code: str
    procedure: ProcedureRef
    unit: UnitRef
    appointment_at: datetime
    fee_vnd: int


class BundleReceipt(BaseModel):
    """A bundle submission (Project 06 groups): one linked dossier per member procedure, all due within the
    bundle's legal time. The receipt above is the first member's."""

    id: UUID
    procedure: ProcedureRef = Field(description="the bundle procedure")
    due_at: datetime = Field(description="the bundle's due date: every member is due by then")
    fee_vnd: int = Field(description="the members' fees together")
    dossiers: list[BundleDossier]


class DossierReceipt(BaseModel):
    """The electronic receipt and appointment (form 01), for the one who submitted."""

    id: UUID
    code: str
    status: Literal["submitted"]
    status_label: str
    procedure: ProcedureRef
    unit: UnitRef
    channel: Channel
    receiving_unit_code: str | None
    submitted_by: Submitter
    on_behalf_via: str | None = Field(None, description="the mandate the registry recognised (self, household...)")
    applicant: Applicant
    field_origins: dict[str, Origin]
    components: list[ComponentOut]
    submitted_at: datetime
    received_at: datetime = Field(description="when the legal clock starts (15:00 rule applied)")
    appointment_at: datetime = Field(description="when the result is due")
    processing_days: int = Field(description="the legal time in whole working days (an hour budget rounded up)")
    fee_vnd: int = Field(description="the fee for this dossier's channel (the online discount applied)")
    message: str
    budget: TimeBudget | None = Field(None, description="the legal time as the procedure states it (days or hours)")
    bundle: BundleReceipt | None = Field(None, description="the linked dossiers, when a bundle was submitted")


class PreviewField(BaseModel):
    field: str
    value: Any
    origin: Origin


class DossierPreview(BaseModel):
    """What a submission would prefill; nothing is stored."""

    procedure: ProcedureRef
    applicant: Applicant
    on_behalf_via: str | None
    fields: list[PreviewField]


class Correction(BaseModel):
    id: UUID
    field: str
    registry_value: str | None
    proposed_value: str | None
    note: str | None
    requested_at: datetime


class CorrectionCreate(BaseModel):
    field: str = Field(min_length=1, max_length=64, examples=["permanent_address"])
    proposed_value: str | None = Field(None, max_length=500)
    note: str | None = Field(None, max_length=1000)


class DossierApplication(BaseModel):
    """The application as submitted, for its parties and the unit's officers."""

    id: UUID
    code: str
    procedure: ProcedureRef
    unit: UnitRef
    channel: Channel
    receiving_unit_code: str | None
    submitted_by: Submitter | None
    on_behalf_via: str | None
    applicant: Applicant
    field_origins: dict[str, Origin]
    components: list[ComponentOut]
    form_data: dict[str, Any]
    notify_channels: list[str]
    corrections: list[Correction]
    submitted_at: datetime


class PublicDossier(BaseModel):
    """The public lookup by code: no names, ids or addresses."""

    code: str
    status: str
    status_label: str
    current_step_name: str | None = Field(description="Vietnamese name of the open step; null when final")
    unit: UnitRef
    due_at: datetime


class Document(BaseModel):
    id: UUID
    kind: Literal["upload", "result"]
    doc_type: str
    file_name: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    has_content: bool
    dossier_code: str | None = Field(None, description="results: the dossier that produced it")
    result_number: str | None = None
    created_at: datetime


class DocumentPage(BaseModel):
    items: list[Document] = Field(description="Newest first")
    next_cursor: str | None


class Share(BaseModel):
    share: float | None = Field(description="0..1; null when there is nothing to count")


class FieldShare(Share):
    from_registry: int
    typed: int
    total: int


class ComponentShare(Share):
    reused: int
    new: int
    total: int


class OnceOnlyScore(BaseModel):
    """How much of what applicants handed in the state already had (Decision 766: reuse of data)."""

    procedure_code: str
    dossiers: int
    fields: FieldShare
    components: ComponentShare


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
