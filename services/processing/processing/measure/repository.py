"""All SQL of the statistics, ratings and follow-ups (tables of migration 0006)."""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from .domain import ALL_PROCEDURES, COUNTER_COLUMNS, FLOW_COLUMNS, month_start

_COLS = ", ".join(COUNTER_COLUMNS)
_BUMP = (
    f"INSERT INTO measure_counts (grain, kind, procedure_code, bucket, unit_code, {_COLS}) "
    f"VALUES ($1, $2, $3, $4, $5, {', '.join(f'${n}' for n in range(6, 6 + len(COUNTER_COLUMNS)))}) "
    "ON CONFLICT (grain, kind, procedure_code, bucket, unit_code) DO UPDATE SET "
    + ", ".join(f"{c} = measure_counts.{c} + EXCLUDED.{c}" for c in COUNTER_COLUMNS)
)
_RATING_BUMP = (
    "INSERT INTO rating_counts (grain, kind, procedure_code, bucket, unit_code, ratings, score_sum, satisfied) "
    "VALUES ($1, $2, $3, $4, $5, 1, $6, $7) "
    "ON CONFLICT (grain, kind, procedure_code, bucket, unit_code) DO UPDATE SET "
    "ratings = rating_counts.ratings + 1, score_sum = rating_counts.score_sum + EXCLUDED.score_sum, "
    "satisfied = rating_counts.satisfied + EXCLUDED.satisfied"
)


def _keys(day: dt.date, units: Iterable[tuple[str, str]], procedure: str) -> list[tuple[str, str, str, dt.date, str]]:
    """Every row one change counts in: day and month, each (kind, unit), the procedure and all procedures."""
    return [
        (grain, kind, proc, bucket, unit)
        for grain, bucket in (("day", day), ("month", month_start(day)))
        for kind, unit in units
        for proc in (procedure, ALL_PROCEDURES)
    ]


async def bump(
    conn: asyncpg.Connection, day: dt.date, units: Iterable[tuple[str, str]], procedure: str, deltas: Mapping[str, Any]
) -> None:
    values = tuple(deltas.get(c, 0) for c in COUNTER_COLUMNS)
    await conn.executemany(_BUMP, [key + values for key in _keys(day, units, procedure)])


async def bump_rating(
    conn: asyncpg.Connection, day: dt.date, units: Iterable[tuple[str, str]], procedure: str, score: int, ok: bool
) -> None:
    await conn.executemany(_RATING_BUMP, [key + (score, int(ok)) for key in _keys(day, units, procedure)])


# --------------------------------------------------------------------------------------------- the projection

_COUNTER_TYPES = {"processing_days_sum": "float8"}  # the others are integers
_COUNTER_ARRAYS = ", ".join(f"${13 + i}::{_COUNTER_TYPES.get(c, 'int4')}[]" for i, c in enumerate(COUNTER_COLUMNS))
# Submitted dossiers counted in one statement (issue 7: a statement per event was the projection's cost; a chunk's
# dossiers come in one call): the dossiers, their units' names and their counter rows, all from the dossiers'
# RETURNING, so a dossier already counted (ON CONFLICT DO NOTHING) changes nothing. The counter rows are summed per
# row first (one row cannot be updated twice by one statement); the units are named as one dossier after the other
# would name them: a new code gets the kind of its first use (a dossier's unit before its centre), a unit its last
# dossier's name, a code used only as a centre its code (and an existing name is kept).
_COUNT_SUBMITTED = f"""
WITH i AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        WITH ORDINALITY AS i(dossier_id, unit_code, unit_name, centre_code, procedure_code, channel, n)
), d AS (
    INSERT INTO measure_dossiers (dossier_id, unit_code, centre_code, procedure_code, channel)
    SELECT dossier_id, unit_code, centre_code, procedure_code, channel FROM i ORDER BY n
    ON CONFLICT DO NOTHING RETURNING dossier_id
), f AS (
    SELECT i.* FROM i JOIN d USING (dossier_id)
), uses AS (
    SELECT DISTINCT ON (code) code, kind FROM (
        SELECT unit_code AS code, 'unit' AS kind, n, 0 AS o FROM f
        UNION ALL SELECT centre_code, 'centre', n, 1 FROM f WHERE centre_code IS NOT NULL
    ) u ORDER BY code, n, o
), names AS (
    SELECT DISTINCT ON (unit_code) unit_code AS code, unit_name AS name FROM f ORDER BY unit_code, n DESC
), unit_named AS (
    INSERT INTO measure_units (code, name, kind) SELECT code, names.name, uses.kind FROM uses JOIN names USING (code)
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name WHERE measure_units.name IS DISTINCT FROM EXCLUDED.name
), centre_named AS (
    INSERT INTO measure_units (code, name, kind)
    SELECT code, code, 'centre' FROM uses WHERE code NOT IN (SELECT code FROM names)
    ON CONFLICT (code) DO NOTHING
), k AS (
    SELECT * FROM unnest($7::int8[], $8::text[], $9::text[], $10::text[], $11::date[], $12::text[])
        AS k(n, grain, kind, procedure_code, bucket, unit_code)
), v AS (
    SELECT * FROM unnest({_COUNTER_ARRAYS}) WITH ORDINALITY AS v({_COLS}, n)
), counted AS (
    INSERT INTO measure_counts (grain, kind, procedure_code, bucket, unit_code, {_COLS})
    SELECT k.grain, k.kind, k.procedure_code, k.bucket, k.unit_code, {", ".join(f"sum(v.{c})" for c in COUNTER_COLUMNS)}
    FROM f JOIN v USING (n) JOIN k USING (n)
    GROUP BY k.grain, k.kind, k.procedure_code, k.bucket, k.unit_code
    ORDER BY k.grain, k.kind, k.procedure_code, k.bucket, k.unit_code  -- rows locked in one order
    ON CONFLICT (grain, kind, procedure_code, bucket, unit_code) DO UPDATE SET
        {", ".join(f"{c} = measure_counts.{c} + EXCLUDED.{c}" for c in COUNTER_COLUMNS)}
)
SELECT count(*) FROM d
"""


@dataclass(frozen=True, slots=True)
class Submission:
    """A submitted dossier to count: its unit (and centre, or None), procedure and channel, the day it counts in
    and what it adds to its counter rows."""

    dossier_id: UUID
    unit_code: str
    unit_name: str
    centre_code: str | None
    procedure_code: str
    channel: str
    day: dt.date
    deltas: Mapping[str, Any]

    def units(self) -> list[tuple[str, str]]:
        return [("unit", self.unit_code)] + ([("centre", self.centre_code)] if self.centre_code is not None else [])


async def count_submitted(conn: asyncpg.Connection, submissions: Sequence[Submission]) -> int:
    """Count each submitted dossier once, in one statement: remember it (unit, centre, procedure, channel), name its
    unit (and its centre, named by its code until a name is known) and bump its ``deltas`` in its counter rows of
    its ``day``. A dossier already counted, or twice in ``submissions`` (its first counts), changes nothing.
    Returns how many dossiers were counted."""
    by_dossier: dict[UUID, Submission] = {}
    for s in submissions:
        by_dossier.setdefault(s.dossier_id, s)
    first = list(by_dossier.values())
    keys = [(n, *key) for n, s in enumerate(first, 1) for key in _keys(s.day, s.units(), s.procedure_code)]
    return await conn.fetchval(
        _COUNT_SUBMITTED,
        [s.dossier_id for s in first],
        [s.unit_code for s in first],
        [s.unit_name for s in first],
        [s.centre_code for s in first],
        [s.procedure_code for s in first],
        [s.channel for s in first],
        *([k[i] for k in keys] for i in range(6)),
        *([s.deltas.get(c, 0) for s in first] for c in COUNTER_COLUMNS),
    )


async def get_dossier(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM measure_dossiers WHERE dossier_id = $1 FOR UPDATE", dossier_id)


async def mark_dossier(conn: asyncpg.Connection, dossier_id: UUID, *, closed: bool, overdue: bool) -> None:
    await conn.execute(
        "UPDATE measure_dossiers SET closed = $2, overdue = $3 WHERE dossier_id = $1", dossier_id, closed, overdue
    )


async def name_unit(conn: asyncpg.Connection, code: str, name: str, kind: str, *, rename: bool) -> None:
    """Remember a unit (a centre's name is its code until one is known: ``rename`` only when the name is real)."""
    await conn.execute(
        "INSERT INTO measure_units (code, name, kind) VALUES ($1, $2, $3) ON CONFLICT (code) DO "
        + (
            "UPDATE SET name = EXCLUDED.name WHERE measure_units.name IS DISTINCT FROM EXCLUDED.name"
            if rename
            else "NOTHING"
        ),
        code,
        name,
        kind,
    )


# --------------------------------------------------------------------------------------------- the queries

_SUMS = ", ".join(f"sum({c}) AS {c}" for c in COUNTER_COLUMNS)
# Each part of the counts query yields every counter: its own, zeros for the others (so the outer sums need no
# filter); the flows are taken as rows, the stocks already summed per unit.
_FLOW_ROW = f"unit_code, {', '.join(c if c in FLOW_COLUMNS else f'0 AS {c}' for c in COUNTER_COLUMNS)}"
_STOCK_SUM = f"unit_code, {', '.join('0' if c in FLOW_COLUMNS else f'sum({c})' for c in COUNTER_COLUMNS)}"
_ROW = f"unit_code, bucket, {', '.join(COUNTER_COLUMNS)}"
_UNITS = "AND ($4::text[] IS NULL OR unit_code = ANY($4))"


def whole_months(start: dt.date, end: dt.date) -> bool:
    return start == month_start(start) and (end + dt.timedelta(days=1)).day == 1


async def units(conn: asyncpg.Connection, kind: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, name, kind FROM measure_units WHERE $1::text IS NULL OR kind = $1 ORDER BY kind DESC, code", kind
    )


async def unit(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT code, name, kind FROM measure_units WHERE code = $1", code)


async def counts(
    conn: asyncpg.Connection,
    *,
    kind: str,
    start: dt.date,
    end: dt.date,
    procedure: str,
    unit_codes: list[str] | None,
) -> dict[str, asyncpg.Record]:
    """Per unit of ``kind``: the flows of [start, end] and the stocks at the end of ``end``.

    The flows come from month rows when the period is whole months, from day rows otherwise; the stocks are the
    running sum of their deltas: the month rows before ``end``'s month plus the day rows of that month up to ``end``.
    Three range scans of the primary key (grain, kind, procedure, bucket), so the work grows with units × months,
    never with dossiers."""
    grain = "month" if whole_months(start, end) else "day"
    return {
        r["unit_code"]: r
        for r in await conn.fetch(
            f"""
            SELECT unit_code, {_SUMS}
            FROM (
                SELECT {_FLOW_ROW} FROM measure_counts
                WHERE grain = $5 AND kind = $1 AND procedure_code = $2 AND bucket BETWEEN $6 AND $3 {_UNITS}
                UNION ALL
                SELECT {_STOCK_SUM} FROM measure_counts
                WHERE grain = 'month' AND kind = $1 AND procedure_code = $2 AND bucket < $7 {_UNITS}
                GROUP BY unit_code
                UNION ALL
                SELECT {_STOCK_SUM} FROM measure_counts
                WHERE grain = 'day' AND kind = $1 AND procedure_code = $2 AND bucket BETWEEN $7 AND $3 {_UNITS}
                GROUP BY unit_code
            ) c
            GROUP BY unit_code
            """,
            kind,
            procedure,
            end,
            unit_codes,
            grain,
            start,
            month_start(end),
        )
    }


async def rating_counts(
    conn: asyncpg.Connection,
    *,
    kind: str,
    start: dt.date,
    end: dt.date,
    procedure: str,
    unit_codes: list[str] | None,
) -> dict[str, asyncpg.Record]:
    return {
        r["unit_code"]: r
        for r in await conn.fetch(
            """SELECT unit_code, sum(ratings) AS ratings, sum(score_sum) AS score_sum, sum(satisfied) AS satisfied
               FROM rating_counts
               WHERE grain = $1 AND kind = $2 AND procedure_code = $3 AND bucket BETWEEN $4 AND $5
                 AND ($6::text[] IS NULL OR unit_code = ANY($6))
               GROUP BY unit_code""",
            "month" if whole_months(start, end) else "day",
            kind,
            procedure,
            start,
            end,
            unit_codes,
        )
    }


async def unit_rows(
    conn: asyncpg.Connection, *, kind: str, unit_code: str, grain: str, start: dt.date, end: dt.date
) -> tuple[asyncpg.Record, list[asyncpg.Record], list[asyncpg.Record]]:
    """One unit's series (all procedures): the stocks before ``start`` (a month boundary for month grain), then its
    rows of ``grain`` in [start, end], with its rating rows."""
    prior = await conn.fetchrow(
        """SELECT sum(in_progress_delta) AS in_progress_delta, sum(overdue_delta) AS overdue_delta
           FROM measure_counts
           WHERE kind = $1 AND unit_code = $2 AND procedure_code = '*'
             AND ((grain = 'month' AND bucket < $3) OR (grain = 'day' AND bucket >= $3 AND bucket < $4))""",
        kind,
        unit_code,
        month_start(start),
        start,
    )
    rows = await conn.fetch(
        f"""SELECT {_ROW} FROM measure_counts
            WHERE grain = $1 AND kind = $2 AND unit_code = $3 AND procedure_code = '*' AND bucket BETWEEN $4 AND $5
            ORDER BY bucket""",
        grain,
        kind,
        unit_code,
        start,
        end,
    )
    ratings = await conn.fetch(
        """SELECT bucket, ratings, score_sum, satisfied FROM rating_counts
           WHERE grain = $1 AND kind = $2 AND unit_code = $3 AND procedure_code = '*' AND bucket BETWEEN $4 AND $5""",
        grain,
        kind,
        unit_code,
        start,
        end,
    )
    return prior, rows, ratings


# --------------------------------------------------------------------------------------------- ratings


async def insert_rating(conn: asyncpg.Connection, **values: Any) -> asyncpg.Record | None:
    cols = list(values)
    return await conn.fetchrow(
        f"INSERT INTO ratings ({', '.join(cols)}) VALUES ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})"
        " ON CONFLICT (dossier_id) DO NOTHING RETURNING *",
        *values.values(),
    )


async def get_rating(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM ratings WHERE dossier_id = $1", dossier_id)


async def insert_follow_up(
    conn: asyncpg.Connection, *, id: UUID, dossier_id: UUID, dossier_code: str, unit_code: str, due_at: dt.datetime
) -> None:
    await conn.execute(
        "INSERT INTO follow_ups (id, dossier_id, dossier_code, unit_code, due_at) VALUES ($1, $2, $3, $4, $5)",
        id,
        dossier_id,
        dossier_code,
        unit_code,
        due_at,
    )


_FOLLOW_UP = """SELECT f.*, r.overall, r.comment FROM follow_ups f JOIN ratings r USING (dossier_id)"""


async def follow_ups(
    conn: asyncpg.Connection,
    *,
    unit_code: str | None,
    status: str | None,
    after: tuple[dt.datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        _FOLLOW_UP
        + """
        WHERE ($1::text IS NULL OR f.unit_code = $1) AND ($2::text IS NULL OR f.status = $2)
          AND ($3::timestamptz IS NULL OR (f.due_at, f.id) > ($3, $4))
        ORDER BY f.due_at, f.id LIMIT $5""",
        unit_code,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def get_follow_up(conn: asyncpg.Connection, follow_up_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_FOLLOW_UP + " WHERE f.id = $1 FOR UPDATE OF f", follow_up_id)


async def close_follow_up(conn: asyncpg.Connection, follow_up_id: UUID, *, by: str, note: str) -> None:
    await conn.execute(
        "UPDATE follow_ups SET status = 'closed', closed_at = now(), closed_by = $2, note = $3 WHERE id = $1",
        follow_up_id,
        by,
        note,
    )


async def claim_report(conn: asyncpg.Connection, period: str, start: dt.date, kind: str, unit_code: str) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO portal_reports (period, start, kind, unit_code) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING true",
            period,
            start,
            kind,
            unit_code,
        )
    )
