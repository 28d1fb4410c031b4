"""Request and response models of the statistics, ranking, index, ratings and follow-ups (docs/api.md)."""

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from .domain import Kind, Period, RankBy


class Received(BaseModel):
    online: int
    counter: int
    service_centre: int
    post: int
    total: int


class Resolved(BaseModel):
    early: int
    on_time: int
    late: int
    total: int


class Satisfaction(BaseModel):
    ratings: int
    average: float | None = Field(description="average overall rating 1..5; null without ratings")
    satisfied_share: float | None = Field(description="share of ratings of 4 or 5")


class Figures(BaseModel):
    """One unit's figures over a period (flows) and at its end (in_progress, overdue); docs/statistics.md."""

    unit_code: str
    unit_name: str
    kind: Kind
    period: Period | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    received: Received
    resolved: Resolved
    in_progress: int
    overdue: int
    on_time_rate: float | None
    avg_processing_days: float | None
    processing_days_basis: int = Field(description="resolved dossiers whose processing time is known")
    online_share: float | None
    paid_online: int
    results_electronic: int
    once_only_components: int
    components_total: int
    supplement_requests: int
    refusals: int
    satisfaction: Satisfaction


class StatisticsPage(BaseModel):
    period: Period
    start: dt.date
    end: dt.date
    items: list[Figures]
    next_cursor: str | None = None


class Ranked(Figures):
    rank: int | None = Field(description="1 = best; null when the unit has no basis for the figure")
    value: float | None
    basis: int = Field(description="the count behind the value")


class RankingPage(BaseModel):
    period: Period
    start: dt.date
    end: dt.date
    by: RankBy
    items: list[Ranked]


class UnitSeries(BaseModel):
    unit_code: str
    unit_name: str
    kind: Kind
    series: list[Figures]


class UnitRef(BaseModel):
    unit_code: str
    unit_name: str
    kind: Kind


class UnitList(BaseModel):
    items: list[UnitRef]


class IndexInputOut(BaseModel):
    key: str
    name: str
    measured: bool
    value: float | None
    points: float
    max: float
    source: str
    formula: str
    source_vi: str = Field("", description="where the figure comes from, in Vietnamese (what the dashboard shows)")
    formula_vi: str = Field("", description="how it is computed, in Vietnamese (what the dashboard shows)")


class IndexGroupOut(BaseModel):
    key: Literal["transparency", "progress", "digitisation", "online", "satisfaction"]
    name: str
    max: float
    points: float
    not_measured: float
    inputs: list[IndexInputOut]


class UnitIndex(BaseModel):
    """Decision 766/QĐ-TTg's index of a unit for a period (docs/index-766.md)."""

    unit_code: str
    unit_name: str
    period: Period
    start: dt.date
    end: dt.date
    points: float
    max: float
    not_measured: float = Field(description="points of the inputs the platform does not measure (not awarded)")
    groups: list[IndexGroupOut]


StepKey = str


class StepScore(BaseModel):
    step: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    score: int = Field(ge=1, le=5)


class RatingCreate(BaseModel):
    overall: int = Field(ge=1, le=5, description="1 (very dissatisfied) .. 5 (very satisfied)")
    steps: list[StepScore] = Field(default=[], max_length=20)
    comment: str | None = Field(None, max_length=2000)


class Rating(BaseModel):
    dossier_code: str
    unit_code: str
    overall: int
    steps: list[StepScore]
    comment: str | None
    created_at: dt.datetime
    follow_up_id: UUID | None = Field(None, description="the follow-up a low rating opened")


class FollowUpRating(BaseModel):
    overall: int
    comment: str | None


class FollowUp(BaseModel):
    id: UUID
    dossier_code: str
    unit_code: str
    rating: FollowUpRating
    due_at: dt.datetime
    status: Literal["open", "closed"]
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    note: str | None = None


class FollowUpPage(BaseModel):
    items: list[FollowUp]
    next_cursor: str | None = None


class CloseFollowUp(BaseModel):
    note: str = Field(min_length=1, max_length=2000)
