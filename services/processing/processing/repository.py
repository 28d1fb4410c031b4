"""All SQL of the processing service."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from .domain import OPEN_STATUSES

# Inlined (not a parameter) so the planner matches the partial indexes' predicate.
_OPEN_SQL = ", ".join(f"'{s}'" for s in OPEN_STATUSES)


async def insert_dossier(conn: asyncpg.Connection, d: dict) -> bool:
    """Open a case; False if it already exists (the same dossier announced again)."""
    inserted = await conn.fetchval(
        """INSERT INTO dossiers (id, code, procedure_code, procedure_name, procedure_version, channel,
                                 applicant_kind, applicant_subject, applicant_tax_code, submitter_kind,
                                 submitter_subject, receiving_unit_code, unit_code, unit_name, status,
                                 received_at, due_at, current_step, current_handler)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NULL)
           ON CONFLICT DO NOTHING RETURNING true""",
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
    )
    return bool(inserted)


async def insert_party(
    conn: asyncpg.Connection,
    *,
    subject: str,
    dossier_id: UUID,
    received_at: datetime,
    applicant: bool,
    submitter: bool,
) -> None:
    """Record that a citizen is the dossier's applicant and/or submitter (for GET /me/dossiers)."""
    await conn.execute(
        """INSERT INTO dossier_parties (subject, dossier_id, received_at, applicant, submitter)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (subject, dossier_id) DO UPDATE
               SET applicant = dossier_parties.applicant OR EXCLUDED.applicant,
                   submitter = dossier_parties.submitter OR EXCLUDED.submitter""",
        subject,
        dossier_id,
        received_at,
        applicant,
        submitter,
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


async def lock_dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The dossier row, locked until the transaction ends so concurrent actions serialise."""
    return await conn.fetchrow("SELECT * FROM dossiers WHERE code = $1 FOR UPDATE", code)


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
) -> None:
    await conn.execute(
        """UPDATE steps SET handler = $2, handler_name = $3, completed_at = $4, outcome = $5,
                            note = coalesce($6, note)
           WHERE id = $1""",
        step_id,
        handler,
        handler_name,
        completed_at,
        outcome,
        note,
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


async def get_dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM dossiers WHERE code = $1", code)


async def list_steps(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM steps WHERE dossier_id = $1 ORDER BY seq", dossier_id)


async def work_queue(
    conn: asyncpg.Connection,
    *,
    unit_code: str | None,
    status: str | None,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[asyncpg.Record]:
    """Open dossiers by due date then id (keyset pagination: ``after`` is the last row seen).

    Filters are added only when given, so the planner can use the partial queue indexes.
    """
    args: list[Any]  # query parameters of mixed types
    where, args = [f"status IN ({_OPEN_SQL})"], []
    if status is not None:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if unit_code is not None:
        args.append(unit_code)
        where.append(f"unit_code = ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        where.append(f"(due_at, id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    return await conn.fetch(
        "SELECT id, code, status, procedure_code, procedure_name, unit_code, unit_name, channel, received_at,"
        " due_at, current_step FROM dossiers"
        f" WHERE {' AND '.join(where)} ORDER BY due_at, id LIMIT ${len(args)}",
        *args,
    )
