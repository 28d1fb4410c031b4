"""Request and response models of the processing API."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from motcua_common.procedures import ActionKind, StepKey

from .domain import MAX_REASON_LENGTH, Status, Timeliness
from .measure.schemas import FollowUp

ReturnMethod = Literal["online", "counter", "post"]


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


class ActionBody(_Request):
    """One action on the dossier's current step, as the procedure's definition offers it."""

    action: ActionKind = Field(description="the kind of action (GET …/actions lists those the caller may take now)")
    target: StepKey | None = Field(None, description="the step it leads to, when given it must match the definition")
    reason: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        description="why (Vietnamese, shown to the applicant): required for refuse, reject and request_supplement",
    )
    note: str | None = Field(None, max_length=2000, description="officer's note recorded on the completed step")
    transfer_unit_code: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-]*$",
        description="transfer (liên thông): the code of the agency that performs the next step",
    )
    return_method: ReturnMethod | None = Field(None, description="return_result: how the result reaches the applicant")
    result_number: str | None = Field(
        None, min_length=1, max_length=100, description="issue_result: number of the result document (KQ-<code>)"
    )
    components_requested: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        [], max_length=50, description="request_supplement: what is missing or must be fixed (form 02)"
    )


class SupplementBody(_Request):
    note: str | None = Field(None, max_length=2000, description="what was added or fixed")
    document_ids: list[UUID] = Field(
        [], max_length=50, description="documents of the applicant's vault (intake) added to the dossier"
    )

    @model_validator(mode="after")
    def _something(self) -> "SupplementBody":
        if not self.document_ids and not self.note:
            raise ValueError("give at least one document id or a note")
        return self


class ExtensionBody(_Request):
    reason: str = Field(
        min_length=1, max_length=MAX_REASON_LENGTH, description="why the dossier is late (form 04, Vietnamese)"
    )
    new_due_at: AwareDatetime = Field(description="the new appointment: later than the current one, a working day")


class Ref(BaseModel):
    code: str
    name: str


class AllowedAction(BaseModel):
    action: str = Field(description="an action kind, or `supplement` / `extend` (their own endpoints)")
    target: str | None = Field(description="the step it leads to")
    target_name: str | None = None
    needs: list[str] = Field(description="request fields this action requires")


class AllowedActions(BaseModel):
    code: str
    status: Status
    current_step: str | None
    current_step_name: str | None
    actions: list[AllowedAction]


class DueChange(BaseModel):
    """One change of the due date, with its reason (shown to the citizen)."""

    changed_at: datetime
    kind: Literal["received", "paused", "resumed", "restarted", "extended"]
    reason: str
    previous_due_at: datetime | None
    due_at: datetime | None


class SupplementRequestView(BaseModel):
    """A supplement request (form 02) and the applicant's answer."""

    seq: int
    step: str
    unit: Ref
    requested_at: datetime
    requested_by_name: str | None
    reason: str
    components_requested: list[str]
    supplemented_at: datetime | None
    note: str | None
    document_count: int


class ExtensionView(BaseModel):
    """An extension: apology and new appointment (form 04)."""

    seq: int
    unit: Ref
    extended_at: datetime
    reason: str
    previous_due_at: datetime
    new_due_at: datetime


class TimelineStep(BaseModel):
    seq: int
    step: str = Field(
        description="the step's key in the procedure's definition (e.g. receive, appraise), or applicant-supplement"
    )
    name: str = Field(description="Vietnamese name of the step")
    unit: Ref
    handler: str | None = Field(description="Officer id holding or having completed the step; null = unit queue")
    handler_name: str | None = None
    entered_at: datetime
    due_at: datetime
    completed_at: datetime | None
    outcome: str | None = Field(
        description="accepted | forwarded | transferred | approved | issued | returned | rejected | refused | "
        "supplement_requested | supplemented"
    )
    note: str | None


class PredictedCompletion(BaseModel):
    """When the dossier is likely to have its result, from how long past dossiers of the same procedure and
    competent unit took (shown beside the legal due date, which it does not change)."""

    at: datetime = Field(description="the predicted instant: the office time past dossiers took, counted from receipt")
    percentile: int = Field(description="the share (%) of the past dossiers that took at most that office time")
    typical_working_days: float = Field(description="that office time, in working days")
    median_working_days: float = Field(description="the median office time of the past dossiers, in working days")
    sample_size: int = Field(description="how many past dossiers (the most recent ones) the prediction rests on")
    beyond_typical: bool = Field(description="the dossier has already taken longer than that office time")
    label: str = Field(description="what the citizen reads (Vietnamese)")


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
    rejection_reason: str | None = Field(description="why it was rejected or refused")
    timeline: list[TimelineStep]
    version: int = Field(0, description="the dossier's version: send it as `If-Match` to act only on this state")
    current_step_name: str | None = None
    current_unit: Ref | None = Field(None, description="the unit holding the current step")
    legal_due_at: datetime | None = Field(
        None,
        description="the legal due date (moved by supplement pauses, not by extensions): timeliness is judged on it",
    )
    predicted_completion: PredictedCompletion | None = Field(
        None,
        description="the likely date of the result, from past dossiers of the same procedure and unit; null once the "
        "result is issued, or while fewer than 5 past dossiers (PROCESSING_PREDICTION_MIN_SAMPLES) are known",
    )
    paused_at: datetime | None = Field(None, description="while the applicant supplements: since when")
    due_history: list[DueChange] = Field([], description="every change of the due date with its reason")
    supplement_requests: list[SupplementRequestView] = []
    extensions: list[ExtensionView] = []
    result_number: str | None = None
    return_method: ReturnMethod | None = None


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
    current_step_name: str | None = Field(None, description="Vietnamese name of the current step")
    current_step_roles: list[str] = Field([], description="the officer roles the procedure gives the current step")
    legal_due_at: datetime | None = Field(None, description="the legal due date timeliness is judged on")
    overdue: bool = Field(False, description="past its due date (never while paused)")
    due_soon: bool = Field(False, description="within the due-soon window before its due date, not yet overdue")
    paused: bool = Field(False, description="waiting for the applicant's supplement: the legal clock is suspended")
    paused_at: datetime | None = Field(None, description="while paused: since when")


class WorkQueuePage(BaseModel):
    items: list[WorkItem]
    next_cursor: str | None = Field(
        description="pass as `cursor`, with the same filters, for the next page; null on the last"
    )
    follow_ups: list[FollowUp] = Field(
        [],
        description="the open follow-ups of low ratings (issue 9) beside the dossiers, soonest due first, at most "
        "`limit`, on the first page only: a unit head's unit's, a provincial operator's of the unit named by "
        "`unit_code` (every unit's without it); empty for other officers. Paged and closed at `/api/v1/follow-ups`.",
    )


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
