"""HTTP endpoints of the statistics (public, no login, no personal data), the ratings and the follow-ups."""

import datetime as dt
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from motcua_common.auth import CurrentCitizen, CurrentOfficer, CurrentPrincipal
from motcua_common.db import Conn, ReadConn
from motcua_common.pagination import Cursor, Limit
from motcua_common.problems import PROBLEM_JSON, PROBLEM_RESPONSES, Problem
from motcua_common.procedures import PROCEDURE_CODE_PATTERN

from ..routes import AUTH_RESPONSES, CurrentClock, DossierCode
from . import service
from .domain import Kind, Period, RankBy
from .schemas import (
    CloseFollowUp,
    FollowUp,
    FollowUpPage,
    RankingPage,
    Rating,
    RatingCreate,
    StatisticsPage,
    UnitIndex,
    UnitList,
    UnitSeries,
)

router = APIRouter(prefix="/api/v1")
PUBLIC = (
    "Public: no login. Counts only, never a person: no names, subjects or dossier codes. Periods are Asia/Ho_Chi_Minh "
    "days; `date` is any day inside the period (default today). docs/statistics.md says what each figure means."
)
UnitCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="e.g. X0001.H29")]
PeriodQ = Annotated[Period, Query(description="day | month | quarter | year")]
DateQ = Annotated[dt.date | None, Query(description="any day inside the period (default: today)")]
KindQ = Annotated[Kind, Query(description="unit: competent units; centre: the service centres that received")]
ProcedureQ = Annotated[str | None, Query(pattern=PROCEDURE_CODE_PATTERN, max_length=40, description="e.g. 1.001193")]
UnitQ = Annotated[str | None, Query(min_length=1, max_length=64, description="only this unit")]


@router.get(
    "/public/statistics",
    response_model=StatisticsPage,
    tags=["Statistics"],
    summary="Figures per unit or service centre for a period",
    operation_id="processing_public_statistics",
    responses=PROBLEM_RESPONSES,
    description=PUBLIC + " Ordered by unit code; cursor pagination bound to the filters.",
)
async def statistics(
    conn: ReadConn,
    period: PeriodQ = "month",
    date: DateQ = None,
    kind: KindQ = "unit",
    unit: UnitQ = None,
    procedure: ProcedureQ = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict:
    return await service.statistics(
        conn, period=period, day=date, kind=kind, unit=unit, procedure=procedure, limit=limit, cursor=cursor
    )


@router.get(
    "/public/ranking",
    response_model=RankingPage,
    tags=["Statistics"],
    summary="Units or service centres ranked by one figure, with the count behind it",
    operation_id="processing_public_ranking",
    responses=PROBLEM_RESPONSES,
    description=PUBLIC
    + " Best first: the highest on-time rate, satisfaction or online share, the shortest processing time; ties by "
    "the larger basis. Units with no basis in the period come last with `rank` null.",
)
async def ranking(
    conn: ReadConn,
    period: PeriodQ = "month",
    date: DateQ = None,
    kind: KindQ = "unit",
    by: Annotated[RankBy, Query(description="the figure ranked by")] = "on_time_rate",
    procedure: ProcedureQ = None,
) -> dict:
    return await service.ranking(conn, period=period, day=date, kind=kind, by=by, procedure=procedure)


@router.get(
    "/public/units",
    response_model=UnitList,
    tags=["Statistics"],
    summary="The units and service centres with statistics",
    operation_id="processing_public_units",
    responses=PROBLEM_RESPONSES,
    description=PUBLIC,
)
async def units(conn: ReadConn) -> dict:
    return await service.units(conn)


@router.get(
    "/public/units/{unit_code}/statistics",
    response_model=UnitSeries,
    tags=["Statistics"],
    summary="One unit's figures, one per period (the charts)",
    operation_id="processing_public_unit_series",
    responses=PROBLEM_RESPONSES,
    description=PUBLIC + " From the period containing `from` (default: 1 January of `to`'s year) to the one "
    "containing `to` (default: today), oldest first; at most 400 periods. 404 for a unit without statistics.",
)
async def unit_series(
    unit_code: UnitCode,
    conn: ReadConn,
    period: PeriodQ = "month",
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> dict:
    return await service.series(conn, unit_code, period=period, first=from_, last=to)


@router.get(
    "/public/units/{unit_code}/index",
    response_model=UnitIndex,
    tags=["Statistics"],
    summary="Decision 766/QĐ-TTg index of a unit for a period",
    operation_id="processing_public_unit_index",
    responses=PROBLEM_RESPONSES,
    description=PUBLIC + " Five groups, 100 points; the inputs the platform does not measure are listed with "
    "`measured: false` and their points are not awarded (`not_measured`). docs/index-766.md.",
)
async def unit_index(unit_code: UnitCode, conn: ReadConn, period: PeriodQ = "quarter", date: DateQ = None) -> dict:
    return await service.index(conn, unit_code, period=period, day=date)


@router.post(
    "/dossiers/{code}/ratings",
    response_model=Rating,
    status_code=201,
    tags=["Ratings"],
    summary="Rate a dossier's service after its result was returned",
    operation_id="processing_rate_dossier",
    responses={**AUTH_RESPONSES, 409: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not yet"}},
    description=(
        "The applicant, or the citizen who filed the dossier for them, once the result was returned (409 "
        "`not-yet-returned` before; 409 `already-rated` the second time). Overall 1..5, optionally per step and a "
        "comment. 404 for a dossier the caller may not read; 403 for others who may read it (officers, operators). "
        "A rating of 2 or less opens a follow-up for the head of the competent unit, due in 3 working days."
    ),
)
async def rate(code: DossierCode, body: RatingCreate, citizen: CurrentCitizen, conn: Conn, clock: CurrentClock) -> dict:
    return await service.rate(conn, clock, code, citizen, body.model_dump())


@router.get(
    "/dossiers/{code}/ratings",
    response_model=Rating,
    tags=["Ratings"],
    summary="A dossier's rating",
    operation_id="processing_dossier_rating",
    responses=AUTH_RESPONSES,
    description="Whoever may read the dossier: its applicant and submitter, the officers of its units, a provincial "
    "operator. 404 otherwise, and when it has not been rated.",
)
async def rating(code: DossierCode, caller: CurrentPrincipal, conn: ReadConn) -> dict:
    return await service.rating(conn, code, caller)


@router.get(
    "/follow-ups",
    response_model=FollowUpPage,
    tags=["Ratings"],
    summary="Follow-ups of low ratings, soonest due first",
    operation_id="processing_follow_ups",
    responses=AUTH_RESPONSES,
    description="A unit head: their unit's; a provincial operator: every unit's; 403 for other officers. Cursor "
    "pagination bound to the filters.",
)
async def follow_ups(
    officer: CurrentOfficer,
    conn: ReadConn,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict:
    return await service.follow_ups(conn, officer, status=status, limit=limit, cursor=cursor)


@router.post(
    "/follow-ups/{follow_up_id}/close",
    response_model=FollowUp,
    tags=["Ratings"],
    summary="Close a follow-up with what was done",
    operation_id="processing_close_follow_up",
    responses=AUTH_RESPONSES,
    description="The head of the follow-up's unit, or a provincial operator; 404 for another unit's, 409 when "
    "already closed.",
)
async def close_follow_up(follow_up_id: UUID, body: CloseFollowUp, officer: CurrentOfficer, conn: Conn) -> dict:
    return await service.close_follow_up(conn, officer, follow_up_id, body.note)
