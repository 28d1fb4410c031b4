"""All SQL of the processing service."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from motcua_common.outbox import OutboxRow, insert_rows_sql, row_arrays
from motcua_common.principal import OFFICER_ROLES

from .domain import OPEN_STATUSES, RUNNING_STATUSES

# Inlined (not a parameter) so the planner matches the partial indexes' predicate.
_OPEN_SQL = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
_RUNNING_SQL = ", ".join(f"'{s}'" for s in RUNNING_STATUSES)


# One statement opens a case (issue 7: the consumer's round trips per event were its cost): the units it names, the
# dossier, its first step and its parties. The step and the parties are inserted from the dossier's RETURNING, so
# a dossier already open (ON CONFLICT DO NOTHING) inserts neither; their foreign keys are checked at the end of the
# statement, when the dossier row exists.
_OPEN = (
    """
WITH units_named AS (
    INSERT INTO units (code, name) SELECT * FROM unnest($27::text[], $28::text[])
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name WHERE units.name <> EXCLUDED.name
), d AS (
    INSERT INTO dossiers (id, code, procedure_code, procedure_name, procedure_version, channel,
                          applicant_kind, applicant_subject, applicant_tax_code, submitter_kind,
                          submitter_subject, receiving_unit_code, unit_code, unit_name, status,
                          received_at, due_at, current_step, current_handler, current_unit_code,
                          current_unit_name, legal_due_at, involved_units, bundle, fee_vnd, due_soon_at,
                          agency_units, current_roles)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NULL, $19, $20,
            $17, $21, $22, $23, $24, $25, $26)
    ON CONFLICT DO NOTHING RETURNING *
), first_step AS (
    INSERT INTO steps (dossier_id, seq, step, name_vi, unit_code, unit_name, handler, handler_name, entered_at, due_at)
    SELECT d.id, 1, $29, $30, $31, $32, NULL, NULL, $33, $34 FROM d
), parties AS (
    INSERT INTO dossier_parties (subject, dossier_id, received_at, applicant, submitter)
    SELECT p.subject, d.id, d.received_at, p.applicant, p.submitter
    FROM d, unnest($35::text[], $36::bool[], $37::bool[]) AS p(subject, applicant, submitter)
    ON CONFLICT (subject, dossier_id) DO UPDATE
        SET applicant = dossier_parties.applicant OR EXCLUDED.applicant,
            submitter = dossier_parties.submitter OR EXCLUDED.submitter
), events AS (
    """
    + insert_rows_sql(38, when="EXISTS (SELECT 1 FROM d)")
    + """
)
SELECT * FROM d
"""
)


async def open_dossier(
    conn: asyncpg.Connection,
    d: dict,
    *,
    units: dict[str, str],
    first_step: dict,
    parties: dict[str, dict[str, bool]],
    events: Sequence[OutboxRow] = (),
) -> asyncpg.Record | None:
    """Open a case in one statement: name ``units`` (code -> name), insert the dossier ``d``, its step 1
    (``first_step``: step, name_vi, unit_code, unit_name, entered_at, due_at), its ``parties`` (citizen subject
    -> applicant/submitter, for GET /me/dossiers) and its ``events`` (outbox rows). Returns the new row (as
    ``get_dossier`` reads it), or None if the dossier is already open (the same dossier announced again): then
    nothing is written but the units."""
    return await conn.fetchrow(
        _OPEN,
        d["id"],
        d["code"],
        d["procedure_code"],
        d["procedure_name"],
        d["procedure_version"],
        d["channel"],
        d["applicant_kind"],
        d["applicant_subject"],
        d["applicant_tax_code"],
        d["submitter_kind"],
        d["submitter_subject"],
        d["receiving_unit_code"],
        d["unit_code"],
        d["unit_name"],
        d["status"],
        d["received_at"],
        d["due_at"],
        d["current_step"],
        d["current_unit_code"],
        d["current_unit_name"],
        sorted({d["unit_code"], d["current_unit_code"]}),
        d.get("bundle"),
        d.get("fee_vnd"),
        d.get("due_soon_at"),
        d.get("agency_units") or {},
        list(d.get("current_roles") or ()),
        list(units),
        list(units.values()),
        first_step["step"],
        first_step["name_vi"],
        first_step["unit_code"],
        first_step["unit_name"],
        first_step["entered_at"],
        first_step["due_at"],
        list(parties),
        [roles["applicant"] for roles in parties.values()],
        [roles["submitter"] for roles in parties.values()],
        *row_arrays(events),
    )


async def my_dossiers(
    conn: asyncpg.Connection, subject: str, *, limit: int, before: tuple[datetime, UUID] | None
) -> list[asyncpg.Record]:
    """A citizen's dossiers, newest first (received_at DESC, id DESC), after the keyset ``before``.

    Backed by ``dossier_parties_by_subject_newest``: one index range scan, then the dossiers by key."""
    args: list[Any]  # query parameters of mixed types
    where, args = ["p.subject = $1"], [subject]
    if before is not None:
        args += [before[0], before[1]]
        where.append("(p.received_at, p.dossier_id) < ($2, $3)")
    args.append(limit)
    return await conn.fetch(
        f"""SELECT d.id, d.code, d.status, d.procedure_code, d.procedure_name, d.unit_code, d.unit_name,
                   d.channel, d.received_at, d.due_at, d.current_step, d.completed_at, p.applicant, p.submitter
            FROM dossier_parties p JOIN dossiers d ON d.id = p.dossier_id
            WHERE {" AND ".join(where)}
            ORDER BY p.received_at DESC, p.dossier_id DESC LIMIT ${len(args)}""",
        *args,
    )


async def insert_step(
    conn: asyncpg.Connection,
    *,
    dossier_id: UUID,
    seq: int,
    step: str,
    name_vi: str,
    unit_code: str,
    unit_name: str,
    handler: str | None,
    handler_name: str | None,
    entered_at: datetime,
    due_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO steps (dossier_id, seq, step, name_vi, unit_code, unit_name, handler, handler_name,
                              entered_at, due_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        dossier_id,
        seq,
        step,
        name_vi,
        unit_code,
        unit_name,
        handler,
        handler_name,
        entered_at,
        due_at,
    )


def _by_ref(ref: str) -> tuple[str, Any]:
    """A dossier is named by its code, or by its id (a UUID)."""
    try:
        return "id = $1", UUID(ref)
    except ValueError:
        return "code = $1", ref


async def lock_dossier(conn: asyncpg.Connection, ref: str) -> asyncpg.Record | None:
    """The dossier row, locked until the transaction ends so concurrent actions serialise."""
    where, arg = _by_ref(ref)
    return await conn.fetchrow(f"SELECT * FROM dossiers WHERE {where} FOR UPDATE", arg)


async def open_step(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM steps WHERE dossier_id = $1 AND completed_at IS NULL ORDER BY seq DESC LIMIT 1",
        dossier_id,
    )


async def last_seq(conn: asyncpg.Connection, dossier_id: UUID) -> int:
    return await conn.fetchval("SELECT coalesce(max(seq), 0) FROM steps WHERE dossier_id = $1", dossier_id)


async def last_action_at(conn: asyncpg.Connection, dossier_id: UUID) -> datetime | None:
    """When the dossier's last action happened (the last completed step), None before the first action."""
    return await conn.fetchval("SELECT max(completed_at) FROM steps WHERE dossier_id = $1", dossier_id)


async def complete_step(
    conn: asyncpg.Connection,
    step_id: int,
    *,
    handler: str,
    handler_name: str | None,
    completed_at: datetime,
    outcome: str,
    note: str | None,
    action: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE steps SET handler = $2, handler_name = $3, completed_at = $4, outcome = $5,
                            note = coalesce($6, note), action = $7
           WHERE id = $1""",
        step_id,
        handler,
        handler_name,
        completed_at,
        outcome,
        note,
        action,
    )


async def update_dossier(conn: asyncpg.Connection, dossier_id: UUID, expected_version: int, **fields: Any) -> bool:
    """Apply ``fields`` if the row is still at ``expected_version``; bumps the version."""
    names = list(fields)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
    result = await conn.execute(
        f"UPDATE dossiers SET {sets}, version = version + 1, updated_at = now() WHERE id = $1 AND version = $2",
        dossier_id,
        expected_version,
        *fields.values(),
    )
    return result.endswith(" 1")


async def get_dossier(conn: asyncpg.Connection, ref: str) -> asyncpg.Record | None:
    where, arg = _by_ref(ref)
    return await conn.fetchrow(f"SELECT * FROM dossiers WHERE {where}", arg)


# The process control sheet in one statement: the dossier row and, as arrays of rows (asyncpg decodes a composite into
# a Record with the table's column names), its steps, due-date changes, supplement requests and extensions, and the
# completion summary of its procedure and competent unit. Issue 7: the tracking GET sent these as six statements,
# each a round trip with its client and server CPU.
_SHEET = """
SELECT d.*,
       ARRAY(SELECT s FROM steps s WHERE s.dossier_id = d.id ORDER BY s.seq) AS sheet_steps,
       ARRAY(SELECT c FROM due_changes c WHERE c.dossier_id = d.id ORDER BY c.changed_at, c.id) AS sheet_due_changes,
       ARRAY(SELECT r FROM supplement_requests r WHERE r.dossier_id = d.id ORDER BY r.seq)
           AS sheet_supplement_requests,
       ARRAY(SELECT e FROM extensions e WHERE e.dossier_id = d.id ORDER BY e.seq) AS sheet_extensions,
       (SELECT cs FROM completion_stats cs WHERE cs.procedure_code = d.procedure_code AND cs.unit_code = d.unit_code)
           AS sheet_completion_stats
FROM dossiers d WHERE d.{where}
"""


async def get_sheet(conn: asyncpg.Connection, ref: str) -> asyncpg.Record | None:
    """The dossier row (every column of :func:`get_dossier`) with the ``sheet_*`` columns of :data:`_SHEET`."""
    where, arg = _by_ref(ref)
    return await conn.fetchrow(_SHEET.format(where=where), arg)


async def list_steps(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM steps WHERE dossier_id = $1 ORDER BY seq", dossier_id)


# Roles with a partial index of their own (0005_work_queue.sql: current_roles @> '{<role>}'); the queue of another
# role is read through the unit's index with the role as a filter.
ROLE_INDEXED = ("receiving_officer", "specialist", "approver")
_QUEUE_COLUMNS = (
    "d.id, d.code, d.status, d.procedure_code, d.procedure_name, d.procedure_version,"
    " d.current_unit_code AS unit_code, d.current_unit_name AS unit_name, d.channel, d.received_at, d.due_at,"
    " d.due_soon_at, d.legal_due_at, d.paused_at, d.current_step, d.current_roles"
)


def _has_role(role: str) -> str:
    """The current step names ``role``: a literal (as the partial indexes' predicates), so only a known role."""
    if role not in OFFICER_ROLES:
        raise ValueError(f"unknown role {role!r}")
    return f"current_roles @> '{{{role}}}'::text[]"


@dataclass(frozen=True)
class QueueQuery:
    """Which open dossiers a queue lists: held by ``unit_code`` (None: any unit), whose current step names one of
    ``roles`` (None: any step; empty: nothing), with the filters given. ``overdue_at``: only those past their due
    date at that instant; ``due_soon`` = (now, until): only those due from ``now`` to ``until``, the due dates that
    are due soon at ``now`` (:meth:`Clock.due_soon_until`); both leave out the dossiers waiting for a supplement
    (their clock is suspended)."""

    unit_code: str | None
    roles: frozenset[str] | None
    status: str | None = None
    procedure_code: str | None = None
    step: str | None = None
    overdue_at: datetime | None = None
    due_soon: tuple[datetime, datetime] | None = None


async def work_queue(
    conn: asyncpg.Connection, query: QueueQuery, *, limit: int, after: tuple[datetime, UUID] | None
) -> list[asyncpg.Record]:
    """A page of a queue, by due date then id (keyset pagination: ``after`` is the last row seen)."""
    if query.roles is not None and not query.roles:
        return []
    sql, args = work_queue_query(query, limit=limit, after=after)
    return await conn.fetch(sql, *args)


def work_queue_query(query: QueueQuery, *, limit: int, after: tuple[datetime, UUID] | None) -> tuple[str, list[Any]]:
    """The queue's SQL and parameters (the plan tests and the benchmark EXPLAIN exactly this).

    Each condition is one the queue's partial indexes (0004, 0005) answer as a range in (due_at, id) order: the
    status list and the role containment are written as literals so the planner can prove the indexes' predicates.
    An officer with several roles gets one ordered, limited scan per role, merged (a step naming two of their roles
    is one row)."""
    args: list[Any] = []  # query parameters of mixed types

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [f"status IN ({_OPEN_SQL})"]
    if query.unit_code is not None:
        where.append(f"current_unit_code = {arg(query.unit_code)}")
    filters = (("status", query.status), ("procedure_code", query.procedure_code), ("current_step", query.step))
    for column, value in filters:
        if value is not None:
            where.append(f"{column} = {arg(value)}")
    if query.overdue_at is not None:
        where += [f"due_at < {arg(query.overdue_at)}", "status <> 'supplement_requested'"]
    if query.due_soon is not None:
        # A range of due dates (not "due_soon_at <= now": the planner, counting the closed dossiers' NULLs in that
        # column, would expect about one row and read the whole range in a bitmap scan instead of one page in order).
        where += [f"due_at >= {arg(query.due_soon[0])}", f"due_at <= {arg(query.due_soon[1])}"]
        where.append("status <> 'supplement_requested'")
    if after is not None:
        where.append(f"(due_at, id) > ({arg(after[0])}, {arg(after[1])})")
    lim = arg(limit)
    roles = query.roles
    if roles is None or len(roles) <= 1:
        where += [_has_role(role) for role in roles or ()]
        return (
            f"SELECT {_QUEUE_COLUMNS} FROM dossiers d WHERE {' AND '.join(where)} ORDER BY due_at, id LIMIT {lim}",
            args,
        )
    branches = [
        f"(SELECT id, due_at FROM dossiers WHERE {' AND '.join([*where, _has_role(role)])}"
        f" ORDER BY due_at, id LIMIT {lim})"
        for role in sorted(roles)
    ]
    return (
        f"SELECT {_QUEUE_COLUMNS} FROM ({' UNION '.join(branches)}) q JOIN dossiers d ON d.id = q.id"
        f" ORDER BY q.due_at, q.id LIMIT {lim}",
        args,
    )


# ------------------------------------------------------------------------------------------- completion times


async def record_completion(
    conn: asyncpg.Connection,
    *,
    dossier_id: UUID,
    procedure_code: str,
    unit_code: str,
    completed_at: datetime,
    working_seconds: float,
    window: int,
) -> None:
    """Keep how long a dossier took, and recompute its procedure and unit's summary over the ``window`` most recent
    samples. The summary row is locked first, so concurrent completions of the same procedure and unit recompute one
    after the other, each seeing the samples committed before it (READ COMMITTED: a statement's snapshot is taken
    after the lock was granted)."""
    await conn.execute(
        "INSERT INTO completion_stats (procedure_code, unit_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        procedure_code,
        unit_code,
    )
    await conn.execute(
        "SELECT 1 FROM completion_stats WHERE procedure_code = $1 AND unit_code = $2 FOR UPDATE",
        procedure_code,
        unit_code,
    )
    await conn.execute(
        """INSERT INTO completion_samples (dossier_id, procedure_code, unit_code, completed_at, working_seconds)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dossier_id) DO NOTHING""",
        dossier_id,
        procedure_code,
        unit_code,
        completed_at,
        working_seconds,
    )
    await conn.execute(
        """UPDATE completion_stats s
           SET sample_size = r.n, median_seconds = r.median, p80_seconds = r.p80, updated_at = now()
           FROM (SELECT count(*) AS n,
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY working_seconds) AS median,
                        percentile_cont(0.8) WITHIN GROUP (ORDER BY working_seconds) AS p80
                 FROM (SELECT working_seconds FROM completion_samples
                       WHERE procedure_code = $1 AND unit_code = $2
                       ORDER BY completed_at DESC, dossier_id DESC LIMIT $3) recent) r
           WHERE s.procedure_code = $1 AND s.unit_code = $2""",
        procedure_code,
        unit_code,
        window,
    )


async def completion_stats(conn: asyncpg.Connection, procedure_code: str, unit_code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT sample_size, median_seconds, p80_seconds FROM completion_stats"
        " WHERE procedure_code = $1 AND unit_code = $2",
        procedure_code,
        unit_code,
    )


# ------------------------------------------------------------------------------------------- procedure versions


async def lock_procedure_version(conn: asyncpg.Connection, code: str, version: int) -> None:
    """Serialise a version's arrival with the submissions that wait for it (transaction-scoped advisory lock), so
    that a submission never waits for a version that committed meanwhile."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 6))", f"{code}@{version}")


async def insert_procedure_version(
    conn: asyncpg.Connection, code: str, version: int, definition: dict, published_at: datetime
) -> bool:
    """Store a version once; False when it is already stored (the first announcement wins: versions never change)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO procedure_versions (code, version, definition, published_at)
               VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING RETURNING true""",
            code,
            version,
            definition,
            published_at,
        )
    )


async def get_procedure_version(conn: asyncpg.Connection, code: str, version: int) -> str | None:
    """The stored definition's JSON text, or None."""
    return await conn.fetchval(
        "SELECT definition::text FROM procedure_versions WHERE code = $1 AND version = $2", code, version
    )


async def insert_pending(
    conn: asyncpg.Connection, dossier_id: UUID, code: str, version: int, event_id: str, data: dict
) -> None:
    await conn.execute(
        """INSERT INTO pending_submissions (dossier_id, procedure_code, procedure_version, event_id, data)
           VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING""",
        dossier_id,
        code,
        version,
        event_id,
        data,
    )


async def take_pending(conn: asyncpg.Connection, code: str, version: int) -> list[asyncpg.Record]:
    """Remove and return the submissions that waited for this version, oldest first."""
    return await conn.fetch(
        """DELETE FROM pending_submissions WHERE procedure_code = $1 AND procedure_version = $2
           RETURNING dossier_id, event_id, data::text AS data, stored_at""",
        code,
        version,
    )


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pending_submissions")


async def unit_name(conn: asyncpg.Connection, code: str) -> str | None:
    return await conn.fetchval("SELECT name FROM units WHERE code = $1", code)


# ------------------------------------------------------------------------------------------- lifecycle records


async def insert_due_change(
    conn: asyncpg.Connection,
    dossier_id: UUID,
    *,
    at: datetime,
    kind: str,
    reason: str,
    previous_due_at: datetime | None,
    due_at: datetime | None,
) -> None:
    await conn.execute(
        """INSERT INTO due_changes (dossier_id, changed_at, kind, reason, previous_due_at, due_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        dossier_id,
        at,
        kind,
        reason,
        previous_due_at,
        due_at,
    )


async def due_changes(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM due_changes WHERE dossier_id = $1 ORDER BY changed_at, id", dossier_id)


async def insert_supplement_request(conn: asyncpg.Connection, dossier_id: UUID, **r: Any) -> None:
    names = list(r)
    await conn.execute(
        f"INSERT INTO supplement_requests (dossier_id, {', '.join(names)})"
        f" VALUES ($1, {', '.join(f'${i}' for i in range(2, len(names) + 2))})",
        dossier_id,
        *r.values(),
    )


async def open_supplement_request(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM supplement_requests WHERE dossier_id = $1 AND supplemented_at IS NULL
           ORDER BY seq DESC LIMIT 1""",
        dossier_id,
    )


async def answer_supplement_request(conn: asyncpg.Connection, dossier_id: UUID, seq: int, **r: Any) -> None:
    names = list(r)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=3))
    await conn.execute(
        f"UPDATE supplement_requests SET {sets} WHERE dossier_id = $1 AND seq = $2", dossier_id, seq, *r.values()
    )


async def supplement_requests(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    """Form 02: every supplement request of a dossier (what is missing, why, by whom, when) and its answer."""
    return await conn.fetch("SELECT * FROM supplement_requests WHERE dossier_id = $1 ORDER BY seq", dossier_id)


async def refusal(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    """Form 03: the refusal to receive (reason, unit, officer, when), or None if the dossier was not refused."""
    return await conn.fetchrow(
        """SELECT d.code, d.procedure_code, d.procedure_name, d.rejection_reason AS reason, d.refused_at,
                  s.unit_code, s.unit_name, s.handler, s.handler_name
           FROM dossiers d JOIN steps s ON s.dossier_id = d.id AND s.outcome = 'refused'
           WHERE d.id = $1 AND d.status = 'refused'""",
        dossier_id,
    )


async def insert_extension(conn: asyncpg.Connection, dossier_id: UUID, **r: Any) -> int:
    seq = await conn.fetchval("SELECT coalesce(max(seq), 0) + 1 FROM extensions WHERE dossier_id = $1", dossier_id)
    names = list(r)
    await conn.execute(
        f"INSERT INTO extensions (dossier_id, seq, {', '.join(names)})"
        f" VALUES ($1, $2, {', '.join(f'${i}' for i in range(3, len(names) + 3))})",
        dossier_id,
        seq,
        *r.values(),
    )
    return seq


async def extensions(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    """Form 04: every extension (apology and new appointment) of a dossier, oldest first."""
    return await conn.fetch("SELECT * FROM extensions WHERE dossier_id = $1 ORDER BY seq", dossier_id)


async def set_step_due(conn: asyncpg.Connection, step_id: int, due_at: datetime) -> None:
    await conn.execute("UPDATE steps SET due_at = $2 WHERE id = $1", step_id, due_at)


# ------------------------------------------------------------------------------------------- deadlines


async def claim_deadline(conn: asyncpg.Connection, kind: str, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Running dossiers that became ``overdue`` (past their due date) or ``due_soon`` (past their due-soon instant,
    not yet due) and were not announced so yet: locked (a detector on another replica skips them: SKIP LOCKED) and
    marked in this transaction, each taking its next event number. Announced once per due date whatever the number
    of replicas; moving the due date clears the marks."""
    column, test = {
        "overdue": ("overdue_notified_at", "due_at < $1"),
        "due_soon": ("due_soon_notified_at", "due_soon_at <= $1 AND due_at >= $1"),
    }[kind]
    return await conn.fetch(
        f"""UPDATE dossiers d SET {column} = $1, event_sequence = d.event_sequence + 1
            FROM (SELECT id FROM dossiers
                  WHERE {column} IS NULL AND status IN ({_RUNNING_SQL}) AND {test}
                  ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) c
            WHERE d.id = c.id
            RETURNING d.*""",
        now,
        limit,
    )


# ------------------------------------------------------------------------------------------- idempotency


async def lock_idempotency_key(conn: asyncpg.Connection, caller: str, key: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", f"{caller}\x1f{key}")


async def get_idempotent(conn: asyncpg.Connection, caller: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT operation, request_hash, status_code, response::text AS response FROM idempotent_requests"
        " WHERE caller = $1 AND key = $2",
        caller,
        key,
    )


async def save_idempotent(
    conn: asyncpg.Connection, caller: str, key: str, operation: str, request_hash: str, status: int, response: Any
) -> None:
    await conn.execute(
        """INSERT INTO idempotent_requests (caller, key, operation, request_hash, status_code, response)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
        caller,
        key,
        operation,
        request_hash,
        status,
        response,
    )
