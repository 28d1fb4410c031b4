"""Use cases of the statistics (public: figures, ranking, series, index, units), the ratings and the follow-ups.
Take a connection, call the repository, raise ProblemError; never commit."""

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from motcua_common.auth import PROVINCIAL_OPERATOR, UNIT_HEAD, Principal, forbidden
from motcua_common.legal_clock import VN_TZ
from motcua_common.pagination import (
    decode_cursor,
    decode_keyset,
    encode_cursor,
    encode_keyset,
    filter_scope,
    invalid_cursor,
)
from motcua_common.problems import FieldError, ProblemError

from .. import domain as dossier_domain
from .. import repository as dossiers
from ..deadlines import Clock
from . import domain, repository
from .domain import ALL_PROCEDURES, Kind, Period, RankBy

FOLLOW_UP_WORKING_DAYS = 3  # the unit head answers a low rating within three working days
MAX_SERIES = 400  # periods in one series


def today() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


def _unit_not_found(code: str) -> ProblemError:
    return ProblemError(404, "unit-not-found", "Không tìm thấy đơn vị", f"No statistics for a unit {code!r}.")


async def figures_of(
    conn: asyncpg.Connection,
    kind: str,
    start: dt.date,
    end: dt.date,
    names: list[asyncpg.Record],
    procedure: str | None,
) -> list[dict[str, Any]]:
    codes = [r["code"] for r in names]
    args: dict[str, Any] = {
        "kind": kind,
        "start": start,
        "end": end,
        "procedure": procedure or ALL_PROCEDURES,
        "unit_codes": codes if len(codes) < 50 else None,
    }
    counts = await repository.counts(conn, **args)
    ratings = await repository.rating_counts(conn, **args)
    return [
        domain.figures(r["code"], r["name"], r["kind"], counts.get(r["code"], {}), ratings.get(r["code"]))
        for r in names
    ]


async def statistics(
    conn: asyncpg.Connection,
    *,
    period: Period,
    day: dt.date | None,
    kind: Kind,
    unit: str | None,
    procedure: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    start, end = domain.period_bounds(period, day or today())
    units = [u for u in await repository.units(conn, kind) if unit is None or u["code"] == unit]
    if cursor is not None:
        scope = filter_scope(period=period, start=start, kind=kind, unit=unit, procedure=procedure)
        after, issued_for = decode_cursor(cursor, 2)
        if issued_for != scope or not isinstance(after, str):
            raise invalid_cursor("The cursor was issued for other filters; start again without it.")
        units = [u for u in units if u["code"] > after]
    page = units[:limit]
    items = _of_period(await figures_of(conn, kind, start, end, page, procedure), period, start, end)
    next_cursor = None
    if len(units) > limit:
        scope = filter_scope(period=period, start=start, kind=kind, unit=unit, procedure=procedure)
        next_cursor = encode_cursor(page[-1]["code"], scope)
    return {"period": period, "start": start, "end": end, "items": items, "next_cursor": next_cursor}


async def ranking(
    conn: asyncpg.Connection, *, period: Period, day: dt.date | None, kind: Kind, by: RankBy, procedure: str | None
) -> dict[str, Any]:
    start, end = domain.period_bounds(period, day or today())
    items = await figures_of(conn, kind, start, end, await repository.units(conn, kind), procedure)
    items = _of_period(items, period, start, end)
    return {"period": period, "start": start, "end": end, "by": by, "items": domain.ranking(items, by)}


def _of_period(items: list[dict[str, Any]], period: Period, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every figure object says which period it counts (measure-api: ``period``, ``start``, ``end``)."""
    for item in items:
        item.update(period=period, start=start, end=end)
    return items


async def _unit(conn: asyncpg.Connection, code: str) -> asyncpg.Record:
    row = await repository.unit(conn, code)
    if row is None:
        raise _unit_not_found(code)
    return row


async def series(
    conn: asyncpg.Connection, code: str, *, period: Period, first: dt.date | None, last: dt.date | None
) -> dict[str, Any]:
    unit = await _unit(conn, code)
    last = last or today()
    first = first or domain.period_bounds("year", last)[0]
    if first > last:
        raise ProblemError(
            422,
            "invalid-range",
            "Khoảng thời gian không hợp lệ",
            "`from` must not be after `to`.",
            [FieldError(field="from", message="after `to`")],
        )
    periods = domain.periods_between(period, first, last)
    if len(periods) > MAX_SERIES:
        raise ProblemError(
            422,
            "range-too-long",
            "Khoảng thời gian quá dài",
            f"At most {MAX_SERIES} periods in one series; choose a longer period or a shorter range.",
            [FieldError(field="from", message="too many periods")],
        )
    # One read of the unit's rows over the whole range (day rows for days, month rows otherwise), summed per period
    # here; the stocks run on from what they were before the first period.
    prior, rows, rating_rows = await repository.unit_rows(
        conn,
        kind=unit["kind"],
        unit_code=unit["code"],
        grain="day" if period == "day" else "month",
        start=periods[0][0],
        end=periods[-1][1],
    )
    flows: dict[dt.date, dict[str, float]] = {start: {} for start, _ in periods}
    stocks = {c: prior[c] or 0 for c in domain.STOCK_COLUMNS}
    by_start: dict[dt.date, dict[str, float]] = {}
    next_row = 0
    for start, end in periods:
        while next_row < len(rows) and rows[next_row]["bucket"] <= end:
            row = rows[next_row]
            next_row += 1
            for c in domain.FLOW_COLUMNS:
                flows[start][c] = flows[start].get(c, 0) + row[c]
            for c in domain.STOCK_COLUMNS:
                stocks[c] += row[c]
        by_start[start] = {**flows[start], **stocks}
    ratings: dict[dt.date, dict[str, int]] = {}
    for r in rating_rows:
        key = domain.period_bounds(period, r["bucket"])[0]
        into = ratings.setdefault(key, {"ratings": 0, "score_sum": 0, "satisfied": 0})
        for c in into:
            into[c] += r[c]
    out = [
        {
            **domain.figures(unit["code"], unit["name"], unit["kind"], by_start[start], ratings.get(start)),
            "period": period,
            "start": start,
            "end": end,
        }
        for start, end in periods
    ]
    return {"unit_code": unit["code"], "unit_name": unit["name"], "kind": unit["kind"], "series": out}


async def index(conn: asyncpg.Connection, code: str, *, period: Period, day: dt.date | None) -> dict[str, Any]:
    unit = await _unit(conn, code)
    start, end = domain.period_bounds(period, day or today())
    [fig] = await figures_of(conn, unit["kind"], start, end, [unit], None)
    return {
        "unit_code": unit["code"],
        "unit_name": unit["name"],
        "period": period,
        "start": start,
        "end": end,
        **domain.index_766(fig),
    }


async def units(conn: asyncpg.Connection) -> dict[str, Any]:
    return {
        "items": [
            {"unit_code": r["code"], "unit_name": r["name"], "kind": r["kind"]} for r in await repository.units(conn)
        ]
    }


# ---------------------------------------------------------------------------------------------- ratings


def _rating_view(row: asyncpg.Record, follow_up_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "dossier_code": row["dossier_code"],
        "unit_code": row["unit_code"],
        "overall": row["overall"],
        "steps": row["steps"] if isinstance(row["steps"], list) else json.loads(row["steps"]),
        "comment": row["comment"],
        "created_at": row["created_at"],
        "follow_up_id": follow_up_id,
    }


async def rate(
    conn: asyncpg.Connection, clock: Clock, ref: str, principal: Principal, body: dict[str, Any]
) -> dict[str, Any]:
    """The applicant (or the citizen who filed for them) rates a dossier whose result was returned, once. The rating
    counts in the competent unit's (and receiving centre's) satisfaction on the day it is given; a rating of 2 or
    less opens a follow-up for the unit's head, due in three working days."""
    row = await dossiers.get_dossier(conn, ref)
    if row is None or not dossier_domain.may_read(principal, row):
        raise ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier {ref!r}.")
    if principal.kind != "citizen" or not dossier_domain.is_party(principal.subject, row):
        raise forbidden("Only the applicant, or the citizen who filed the dossier for them, may rate it.")
    if row["status"] != "completed":
        raise ProblemError(
            409,
            "not-yet-returned",
            "Hồ sơ chưa trả kết quả",
            "A dossier can be rated once its result was returned.",
        )
    now = dt.datetime.now(dt.UTC)
    centre = row["receiving_unit_code"]
    if row["channel"] not in ("counter", "service_centre") or centre == row["unit_code"]:
        centre = None
    stored = await repository.insert_rating(
        conn,
        dossier_id=row["id"],
        dossier_code=row["code"],
        unit_code=row["unit_code"],
        centre_code=centre,
        procedure_code=row["procedure_code"],
        rated_by=principal.subject,
        overall=body["overall"],
        steps=json.dumps(body["steps"]),
        comment=body.get("comment"),
        created_at=now,
    )
    if stored is None:
        raise ProblemError(409, "already-rated", "Hồ sơ đã được đánh giá", "This dossier has already been rated.")
    units = [("unit", row["unit_code"])] + ([("centre", centre)] if centre else [])
    # Listed even before the projection has seen the dossier's events (names from the projection win).
    await repository.name_unit(conn, row["unit_code"], row["unit_name"], "unit", rename=False)
    if centre:
        await repository.name_unit(conn, centre, centre, "centre", rename=False)
    await repository.bump_rating(
        conn,
        now.astimezone(VN_TZ).date(),
        units,
        row["procedure_code"],
        body["overall"],
        body["overall"] >= domain.SATISFIED_FROM,
    )
    follow_up_id = None
    if body["overall"] <= domain.LOW_RATING:
        follow_up_id = uuid.uuid4()
        seconds = FOLLOW_UP_WORKING_DAYS * clock.legal.office_hours.seconds_per_day
        await repository.insert_follow_up(
            conn,
            id=follow_up_id,
            dossier_id=row["id"],
            dossier_code=row["code"],
            unit_code=row["unit_code"],
            due_at=clock.legal.add_working_seconds(now, seconds),
        )
    return _rating_view(stored, follow_up_id)


async def rating(conn: asyncpg.Connection, ref: str, principal: Principal) -> dict[str, Any]:
    """A dossier's rating, for whoever may read the dossier (its parties, the officers of its units, an operator)."""
    row = await dossiers.get_dossier(conn, ref)
    if row is None or not dossier_domain.may_read(principal, row):
        raise ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier {ref!r}.")
    stored = await repository.get_rating(conn, row["id"])
    if stored is None:
        raise ProblemError(404, "rating-not-found", "Hồ sơ chưa được đánh giá", "This dossier has not been rated.")
    return _rating_view(stored)


# ---------------------------------------------------------------------------------------------- follow-ups


def _follow_up_scope(principal: Principal) -> str | None:
    """The unit whose follow-ups the caller may see (None: every unit); 403 for anyone but a unit head or an
    operator."""
    if principal.has_role(PROVINCIAL_OPERATOR):
        return None
    if principal.has_role(UNIT_HEAD) and principal.unit_code:
        return principal.unit_code
    raise forbidden("Follow-ups are for unit heads (their unit's) and provincial operators.")


def _follow_up_view(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "dossier_code": r["dossier_code"],
        "unit_code": r["unit_code"],
        "rating": {"overall": r["overall"], "comment": r["comment"]},
        "due_at": r["due_at"],
        "status": r["status"],
        "created_at": r["created_at"],
        "closed_at": r["closed_at"],
        "note": r["note"],
    }


async def follow_ups(
    conn: asyncpg.Connection, principal: Principal, *, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    unit = _follow_up_scope(principal)
    scope = filter_scope(unit=unit, status=status)
    after = decode_keyset(cursor, uuid.UUID, scope) if cursor else None
    rows = await repository.follow_ups(conn, unit_code=unit, status=status, after=after, limit=limit + 1)
    page = rows[:limit]
    next_cursor = encode_keyset(page[-1]["due_at"], page[-1]["id"], scope) if len(rows) > limit else None
    return {"items": [_follow_up_view(r) for r in page], "next_cursor": next_cursor}


async def open_follow_ups_for_queue(
    conn: asyncpg.Connection, principal: Principal, *, unit_code: str | None, limit: int
) -> list[dict[str, Any]]:
    """The open follow-ups a work queue shows beside its dossiers: a unit head's unit's, a provincial operator's of
    the unit the queue names (every unit's when it names none); none for other officers (their queue is theirs)."""
    if principal.has_role(PROVINCIAL_OPERATOR):
        unit = unit_code
    elif principal.has_role(UNIT_HEAD) and principal.unit_code:
        unit = principal.unit_code
    else:
        return []
    rows = await repository.follow_ups(conn, unit_code=unit, status="open", after=None, limit=limit)
    return [_follow_up_view(r) for r in rows]


async def close_follow_up(
    conn: asyncpg.Connection, principal: Principal, follow_up_id: uuid.UUID, note: str
) -> dict[str, Any]:
    unit = _follow_up_scope(principal)
    row = await repository.get_follow_up(conn, follow_up_id)
    if row is None or (unit is not None and row["unit_code"] != unit):
        raise ProblemError(404, "follow-up-not-found", "Không tìm thấy việc cần xử lý", "No such follow-up.")
    if row["status"] == "closed":
        raise ProblemError(409, "follow-up-closed", "Việc này đã được đóng", "The follow-up is already closed.")
    await repository.close_follow_up(conn, follow_up_id, by=principal.subject, note=note)
    return _follow_up_view(await repository.get_follow_up(conn, follow_up_id))
