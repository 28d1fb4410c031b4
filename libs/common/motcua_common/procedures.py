"""A procedure version as data: what intake offers and what processing runs (issue 6).

Intake owns the catalogue: it stores each published :class:`ProcedureDefinition` and announces it as
``procedure.version_published`` (the event's data is the definition's JSON). Processing keeps its own copy of every
version and runs a dossier on the version it was received under. Nothing about a procedure's workflow is written in
code: a step says who takes it, how long it may take and which actions lead where; the *kinds* of action below are
the only vocabulary the engine knows.

Pure data and validation, no I/O.
"""

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PROCEDURE_CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,39}$"
STEP_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
ProcedureCodeStr = Annotated[str, Field(pattern=PROCEDURE_CODE_PATTERN, examples=["1.001193"])]
StepKey = Annotated[str, Field(pattern=STEP_KEY_PATTERN, examples=["appraise"])]

UnitLevel = Literal["province", "commune", "commune_police", "delegated"]
Channel = Literal["online", "counter", "service_centre", "post"]
ResultDelivery = Literal["online", "counter", "post"]

# The kinds of action the engine knows. A step lists the ones it allows, each with the step it leads to (or none
# for the kinds that end the dossier or stay on the step).
ActionKind = Literal[
    "receive",  # receiving officer takes the dossier in (form 01 receipt); the legal clock starts
    "refuse",  # refuse to receive, with a reason (form 03); ends the dossier
    "request_supplement",  # ask the applicant to add or fix documents (form 02); the clock pauses or restarts
    "forward",  # complete this step and hand the dossier to the next one (possibly in another unit)
    "transfer",  # liên thông: hand the dossier to a step of another agency
    "approve",  # the signing authority approves
    "reject",  # refuse after appraisal, with a reason; ends the dossier
    "issue_result",  # the result document is issued
    "return_result",  # the result reaches the applicant (online, counter or post); ends the dossier
]
ACTION_KINDS: tuple[str, ...] = ActionKind.__args__  # type: ignore[attr-defined]
# Actions that need no target step: they end the dossier or keep it on the current step.
TARGETLESS_ACTIONS = frozenset({"refuse", "request_supplement", "reject", "return_result"})
# Who performs a step: the unit that received the dossier, the competent unit, or a unit of another level
# (inter-agency steps name the level of the agency, e.g. commune_police; the dossier records which one).
Performer = Literal["receiving_unit", "competent_unit"] | UnitLevel


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fee(_Frozen):
    amount_vnd: int = Field(ge=0, description="fee at the counter or by post")
    online_amount_vnd: int | None = Field(
        default=None, ge=0, description="fee when submitted online, if discounted (null: same as amount_vnd)"
    )
    note: str | None = Field(default=None, description="the fee rule as published, in Vietnamese")


class Component(_Frozen):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-]{0,19}$")
    name: str
    required: bool = True


class TimeBudget(_Frozen):
    """A legal time: whole working days, or working hours for procedures counted in hours (e.g. C/O).
    ``working_days == 0`` is a same-day procedure: the 15:00 rule applies to it."""

    working_days: int | None = Field(default=None, ge=0, le=365)
    working_hours: int | None = Field(default=None, ge=1, le=2000)

    @model_validator(mode="after")
    def _exactly_one(self) -> "TimeBudget":
        if (self.working_days is None) == (self.working_hours is None):
            raise ValueError("give exactly one of working_days and working_hours")
        return self

    @property
    def same_day(self) -> bool:
        return self.working_days == 0


class SupplementRule(_Frozen):
    clock: Literal["pause", "restart"] = Field(
        default="pause", description="while the applicant supplements, the clock pauses (default) or restarts after"
    )
    max_requests: int = Field(default=1, ge=0, le=10, description="how many supplement requests are allowed")


class StepDefinition(_Frozen):
    key: StepKey
    name: str = Field(description="the step's name as the citizen reads it, in Vietnamese")
    performer: Performer
    roles: tuple[str, ...] = Field(min_length=1, description="officer roles that may act on this step")
    budget: TimeBudget = Field(description="the step's share of the legal time")
    actions: dict[ActionKind, StepKey | None] = Field(
        min_length=1, description="allowed action kinds and the step each leads to (null: none)"
    )


class LinkedProcedures(_Frozen):
    """A bundle (Project 06, Decision 296/QĐ-VPCP): one submission creates a linked dossier per member."""

    members: tuple[ProcedureCodeStr, ...] = Field(min_length=2)
    budget: TimeBudget = Field(description="the bundle's overall legal time")


class ProcedureDefinition(_Frozen):
    code: ProcedureCodeStr
    version: int = Field(ge=1)
    name: str
    field: str = Field(description="lĩnh vực")
    level: UnitLevel = Field(description="the level of the competent unit")
    legal_basis: str = Field(description="the documents the procedure rests on")
    sources: tuple[str, ...] = Field(default=(), description="where the times, fees and steps were taken from")
    effective_from: date
    effective_to: date | None = None
    online_level: Literal["full", "partial"]
    channels: tuple[Channel, ...] = Field(min_length=1)
    result_delivery: tuple[ResultDelivery, ...] = Field(min_length=1)
    fee: Fee
    components: tuple[Component, ...] = ()
    budget: TimeBudget = Field(description="the overall legal time, from receipt to the result")
    supplement: SupplementRule = SupplementRule()
    steps: tuple[StepDefinition, ...] = Field(min_length=1, description="in order; the first one receives")
    bundle: LinkedProcedures | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ProcedureDefinition":
        keys = [s.key for s in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError("step keys must be unique")
        for step in self.steps:
            for kind, target in step.actions.items():
                if kind in TARGETLESS_ACTIONS:
                    if target is not None:
                        raise ValueError(f"step {step.key}: '{kind}' leads nowhere (give null)")
                elif target not in keys:
                    raise ValueError(f"step {step.key}: '{kind}' leads to unknown step {target!r}")
        if "receive" not in self.steps[0].actions:
            raise ValueError("the first step must allow 'receive'")
        if not any("return_result" in s.actions for s in self.steps):
            raise ValueError("some step must return the result")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    def step(self, key: str) -> StepDefinition:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def fee_for(self, channel: str) -> int:
        if channel == "online" and self.fee.online_amount_vnd is not None:
            return self.fee.online_amount_vnd
        return self.fee.amount_vnd

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def budget_mismatch(self) -> str | None:
        """Why the steps' budgets do not add up to the overall legal time (every step is counted once, all in the
        overall budget's unit), or None when they do. Checked where definitions are published (a catalogue's
        rule, not a validator: a definition under construction may be partial)."""
        unit = "working_days" if self.budget.working_days is not None else "working_hours"
        mixed = [s.key for s in self.steps if getattr(s.budget, unit) is None]
        if mixed:
            return f"steps {mixed} are not counted in {unit} like the procedure's budget"
        total, overall = sum(getattr(s.budget, unit) for s in self.steps), getattr(self.budget, unit)
        if total != overall:
            return f"the steps' budgets add up to {total} {unit}, the procedure's budget is {overall}"
        return None
