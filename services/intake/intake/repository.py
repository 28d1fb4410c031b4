"""All of intake's SQL."""

from datetime import date
from typing import Any

import asyncpg

_PROCEDURE_COLUMNS = """p.code, p.version, p.name, p.field, p.level, p.processing_days, p.fee_vnd, p.fee_online_vnd,
    p.fee_note, p.online_level, p.components, p.legal_basis, p.effective_from,
    u.code AS unit_code, u.name AS unit_name"""


async def list_procedures(
    conn: asyncpg.Connection, *, after: str | None, limit: int, level: str | None, online_level: str | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_PROCEDURE_COLUMNS} FROM procedures p JOIN units u ON u.code = p.unit_code"
        " WHERE p.is_current AND ($1::text IS NULL OR p.code > $1)"
        " AND ($2::text IS NULL OR p.level = $2) AND ($3::text IS NULL OR p.online_level = $3)"
        " ORDER BY p.code LIMIT $4",
        after,
        level,
        online_level,
        limit,
    )


async def get_current_procedure(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_PROCEDURE_COLUMNS} FROM procedures p JOIN units u ON u.code = p.unit_code"
        " WHERE p.code = $1 AND p.is_current",
        code,
    )


async def find_by_idempotency_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_DOSSIER_SELECT} WHERE d.idempotency_key = $1", key)


async def next_sequence(conn: asyncpg.Connection, unit_code: str, day: date) -> int:
    """Take the next number in the unit's daily series. The row lock is held to commit, which serialises
    submissions to one unit for the few milliseconds of the insert; numbers never repeat."""
    return await conn.fetchval(
        "INSERT INTO dossier_sequences (unit_code, day, last) VALUES ($1, $2, 1)"
        " ON CONFLICT (unit_code, day) DO UPDATE SET last = dossier_sequences.last + 1 RETURNING last",
        unit_code,
        day,
    )


async def insert_dossier(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record | None:
    """Insert unless a dossier with the same idempotency key exists; the stored row, or None if it existed."""
    return await conn.fetchrow(
        "INSERT INTO dossiers (id, code, procedure_code, procedure_version, procedure_snapshot, unit_code,"
        " channel, applicant_personal_id, applicant, form_data, components, notify_channels, submitted_at,"
        " received_at, appointment_at, idempotency_key, request_hash)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
        row["id"],
        row["code"],
        row["procedure_code"],
        row["procedure_version"],
        row["procedure_snapshot"],
        row["unit_code"],
        row["channel"],
        row["applicant"]["personal_id"],
        row["applicant"],
        row["form_data"],
        row["components"],
        row["notify_channels"],
        row["submitted_at"],
        row["received_at"],
        row["appointment_at"],
        row["idempotency_key"],
        row["request_hash"],
    )


_DOSSIER_SELECT = """SELECT d.*, u.name AS unit_name FROM dossiers d JOIN units u ON u.code = d.unit_code"""


async def get_dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_DOSSIER_SELECT} WHERE d.code = $1", code)
