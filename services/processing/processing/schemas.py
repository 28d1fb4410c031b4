"""Request and response models of the processing API."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .domain import MAX_REASON_LENGTH, Status, Timeliness

OpenStatus = Literal["submitted", "processing", "approved", "result_issued"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoteRequest(_Request):
    note: str | None = Field(None, max_length=2000, description="Officer's note recorded on the completed step")


class RejectRequest(_Request):
    reason: str = Field(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        description="Why the dossier is refused; shown to the applicant (form 03)",
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class IssueResultRequest(_Request):
    result_number: str | None = Field(
        None, min_length=1, max_length=100, description="Number of the result document; KQ-<code> if absent"
    )


class ReturnResultRequest(_Request):
    method: Literal["online", "counter", "post"] = Field(description="How the result reached the applicant")


class Ref(BaseModel):
    code: str
    name: str


class TimelineStep(BaseModel):
    seq: int
    step: str = Field(description="receive | appraise | issue | return")
    name: str = Field(description="Vietnamese name of the step")
    unit: Ref
    handler: str | None = Field(description="Officer id holding or having completed the step; null = unit queue")
    handler_name: str | None = None
    entered_at: datetime
    due_at: datetime
    completed_at: datetime | None
    outcome: str | None = Field(description="accepted | approved | issued | returned | rejected")
    note: str | None


class DossierView(BaseModel):
    id: UUID
    code: str
    status: Status
    status_label: str
    procedure: Ref
    unit: Ref
    channel: str = Field(description="online | counter | service_centre | post")
    current_step: str | None
    current_handler: str | None = Field(description="Account id of the officer holding the open step")
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None = Field(description="When the dossier reached a final status")
    timeliness: Timeliness | None = Field(description="Set when the result is issued")
    rejection_reason: str | None
    timeline: list[TimelineStep]


class WorkItem(BaseModel):
    """One open dossier in a unit's queue. Carries no personal data (no applicant name or id)."""

    code: str
    status: Status
    status_label: str
    procedure: Ref
    unit: Ref
    channel: str = Field(description="online | counter | service_centre | post")
    received_at: datetime
    due_at: datetime
    current_step: str | None


class WorkQueuePage(BaseModel):
    items: list[WorkItem]
    next_cursor: str | None


class PublicDossierView(BaseModel):
    """What anyone holding a dossier code may see (public lookup): no name, no id, no address."""

    code: str
    status: Status
    status_label: str
    current_step_name: str | None = Field(description="Vietnamese name of the open step; null when final")
    unit: Ref
    due_at: datetime


class MyDossier(BaseModel):
    """One of the calling citizen's dossiers (as applicant, as submitter, or both)."""

    code: str
    status: Status
    status_label: str
    procedure: Ref
    unit: Ref
    channel: str
    received_at: datetime
    due_at: datetime
    current_step: str | None
    completed_at: datetime | None
    as_applicant: bool = Field(description="the caller is the person the dossier is for")
    as_submitter: bool = Field(description="the caller filed the dossier (for themself or for someone else)")


class MyDossierPage(BaseModel):
    items: list[MyDossier]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")
