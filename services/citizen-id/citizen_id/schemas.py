"""Request and response models of the citizen-id API."""

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .domain import DEFAULT_PREFILL_FIELDS, PrefillField, Sex, Via

PersonalIdField = Field(
    description="12-digit personal id number (số định danh cá nhân), `PPP G YY NNNNNN`",
    examples=["001090001234"],
)
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


TaxCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]


class _ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    personal_id: str | None = Field(
        None,
        description="12-digit personal id number (số định danh cá nhân) of the person the data is about; "
        "exactly one of `personal_id` and `tax_code`",
        examples=["001090001234"],
    )
    tax_code: TaxCode | None = Field(
        None,
        description="10-digit tax code (mã số thuế) when the applicant is an organisation",
        examples=["0101234567"],
    )
    fields: list[PrefillField] = Field(
        default_factory=lambda: list(DEFAULT_PREFILL_FIELDS),
        min_length=1,
        description="The person's data to disclose; only these are returned and logged. Ignored for an "
        "organisation, whose tax code, name and address are returned.",
    )

    @model_validator(mode="after")
    def _one_subject(self):
        if (self.personal_id is None) == (self.tax_code is None):
            raise ValueError("give exactly one of personal_id and tax_code")
        return self


class PrefillRequest(_ReadRequest):
    purpose: Label = Field(
        description="Why the data is read, shown to the citizen in their access log; "
        "by convention `<kind>:<reference>`, e.g. `dossier:<dossier id or code>`",
        examples=["dossier:000.00.01.H29-250701-0001"],
    )
    requested_by: Label | None = Field(
        None,
        deprecated=True,
        description="Ignored: the caller is named by the service token and the `X-On-Behalf-Of` token.",
    )


class PreviewRequest(_ReadRequest):
    procedure_code: Label = Field(
        description="The procedure the app is about to submit; logged as purpose `preview:<procedure_code>`",
        examples=["1.001193"],
    )


class PrefillPerson(BaseModel):
    """Only the requested fields are present; a requested field the registry lacks (email, phone) is null."""

    full_name: str | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    permanent_address: str | None = None
    email: str | None = None
    phone: str | None = None


class Organisation(BaseModel):
    tax_code: str = Field(examples=["0101234567"])
    name: str = Field(examples=["Công ty TNHH Một Cửa Số"])
    address: str


class PrefillResponse(BaseModel):
    verified: Literal[True] = Field(description="The person (organisation) exists and is alive (active)")
    on_behalf_via: Via = Field(description="The caller's entitlement to the data")
    personal_id: str | None = Field(None, description="Set for a person")
    subject: str | None = Field(None, description="The person's opaque subject id (what dossiers keep)")
    person: PrefillPerson | None = None
    tax_code: str | None = Field(None, description="Set for an organisation")
    organisation: Organisation | None = None
    role: Literal["legal_representative", "authorized"] | None = Field(
        None, description="Organisations: the end user's role for it"
    )


class Accessor(BaseModel):
    kind: Literal["citizen", "officer", "partner", "service", "system"] = Field(
        description="`system`: an access recorded before callers were named (only `id` = the requesting system)"
    )
    id: str = Field(description="Citizens: opaque subject id; officers: account name; systems: client id")
    unit: str | None = Field(None, description="Officers: their unit code")
    is_self: bool = Field(False, description="The citizen themself")


class AccessLogEntry(BaseModel):
    accessed_at: datetime
    who: Accessor
    via_service: str | None = Field(description="The system the read came through (client id)")
    on_behalf_via: Via | None = Field(description="The caller's entitlement")
    fields: list[str]
    purpose: str
    dossier: str | None = Field(description="The dossier id or code the data was read for")


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class Address(BaseModel):
    """Permanent address in the administrative units in force since 1 Jul 2025 (no district level)."""

    province_code: str = Field(examples=["01"])
    province_name: str = Field(examples=["Thành phố Hà Nội"])
    ward_code: str = Field(examples=["00070"])
    ward_name: str = Field(examples=["Phường Hoàn Kiếm"])
    street: str = Field(examples=["Số 12, đường Lê Lợi"])


class CitizenRecord(BaseModel):
    personal_id: str = PersonalIdField
    full_name: str = Field(examples=["Nguyễn Văn An"])
    family_name: str
    middle_name: str
    given_name: str
    date_of_birth: date
    sex: Sex
    permanent_address: str = Field(
        description="The full address line",
        examples=["Số 12, đường Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội"],
    )
    address: Address
    email: str | None
    phone: str | None
    status: Literal["active", "deceased"]
    subject: str = Field(description="Opaque subject id: the `sub` of the citizen's tokens")
    open_corrections: list["Correction"] = Field(
        default_factory=list, description="Corrections the citizen asked for that the registry has not handled yet"
    )


class Correction(BaseModel):
    correction_id: UUID
    field: str
    registry_value: str | None
    proposed_value: str | None
    dossier_code: str
    requested_at: datetime
    status: Literal["open", "accepted", "rejected"]


class MandatePerson(BaseModel):
    personal_id: str
    full_name: str
    relation: Literal["child", "ward", "authorization"]
    valid_from: date | None = Field(None, description="Authorizations: first day of validity")
    valid_to: date | None = Field(
        None, description="Authorizations: last day of validity; children: the day before they turn 18"
    )
    document_ref: str | None = Field(None, description="Authorizations: the document's reference")


class MandateOrganisation(BaseModel):
    tax_code: str
    name: str
    role: Literal["legal_representative", "authorized"]
    valid_from: date | None = None
    valid_to: date | None = None


class Mandates(BaseModel):
    people: list[MandatePerson] = Field(description="People the citizen may act for today")
    organisations: list[MandateOrganisation] = Field(description="Organisations the citizen may act for today")


CitizenRecord.model_rebuild()
