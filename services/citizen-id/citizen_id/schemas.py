"""Request and response models of the citizen-id API."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .domain import DEFAULT_PREFILL_FIELDS, PrefillField, Sex

PersonalIdField = Field(
    description="12-digit personal id number (số định danh cá nhân), `PPP G YY NNNNNN`",
    examples=["001090001234"],
)
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PrefillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    personal_id: str = PersonalIdField
    purpose: Label = Field(
        description="Why the data is read, shown to the citizen in their access log; "
        "by convention `<kind>:<reference>`, e.g. `dossier:<dossier id or code>`",
        examples=["dossier:000.00.01.H29-250701-0001"],
    )
    requested_by: Label = Field(description="The system or officer reading the data", examples=["intake"])
    fields: list[PrefillField] = Field(
        default_factory=lambda: list(DEFAULT_PREFILL_FIELDS),
        min_length=1,
        description="The data to disclose; only these are returned and logged",
    )


class PrefillPerson(BaseModel):
    """Only the requested fields are present; a requested field the registry lacks (email, phone) is null."""

    full_name: str | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    permanent_address: str | None = None
    email: str | None = None
    phone: str | None = None


class PrefillResponse(BaseModel):
    personal_id: str
    verified: Literal[True] = Field(description="The person exists in the registry and is alive")
    person: PrefillPerson


class AccessLogEntry(BaseModel):
    purpose: str
    requested_by: str
    fields: list[str]
    accessed_at: datetime


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
