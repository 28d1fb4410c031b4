"""All SQL of the citizen-id service."""

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

CITIZEN_COLUMNS: tuple[str, ...] = (
    "personal_id",
    "full_name",
    "family_name",
    "middle_name",
    "given_name",
    "date_of_birth",
    "sex",
    "province_code",
    "province_name",
    "ward_code",
    "ward_name",
    "street",
    "permanent_address",
    "email",
    "phone",
    "status",
)
_COLS = ", ".join(CITIZEN_COLUMNS)


async def insert_citizens(conn: asyncpg.Connection, records: Iterable[Sequence]) -> int:
    """Bulk-insert citizens (tuples in ``CITIZEN_COLUMNS`` order) with COPY; rows whose id is already
    there are left untouched, so a re-run inserts nothing. Returns how many rows were new."""
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE citizens_incoming (LIKE citizens INCLUDING DEFAULTS) ON COMMIT DROP")
        await conn.copy_records_to_table("citizens_incoming", records=records, columns=CITIZEN_COLUMNS)
        status = await conn.execute(
            f"INSERT INTO citizens ({_COLS}) SELECT {_COLS} FROM citizens_incoming ON CONFLICT (personal_id) DO NOTHING"
        )
    return int(status.rsplit(" ", 1)[-1])


async def has_citizens(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM citizens)")


async def get_citizen(conn: asyncpg.Connection, personal_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLS}, created_at FROM citizens WHERE personal_id = $1", personal_id)


async def citizen_exists(conn: asyncpg.Connection, personal_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM citizens WHERE personal_id = $1)", personal_id)


async def insert_access(
    conn: asyncpg.Connection, personal_id: str, purpose: str, requested_by: str, fields: list[str]
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO access_log (personal_id, purpose, requested_by, fields) VALUES ($1, $2, $3, $4)"
        " RETURNING id, accessed_at",
        personal_id,
        purpose,
        requested_by,
        fields,
    )


async def list_access(
    conn: asyncpg.Connection, personal_id: str, limit: int, before: tuple[datetime, int] | None = None
) -> list[asyncpg.Record]:
    """Newest first; ``before`` is the (accessed_at, id) of the last row of the previous page."""
    if before is None:
        return await conn.fetch(
            "SELECT id, purpose, requested_by, fields, accessed_at FROM access_log WHERE personal_id = $1"
            " ORDER BY accessed_at DESC, id DESC LIMIT $2",
            personal_id,
            limit,
        )
    return await conn.fetch(
        "SELECT id, purpose, requested_by, fields, accessed_at FROM access_log"
        " WHERE personal_id = $1 AND (accessed_at, id) < ($2, $3)"
        " ORDER BY accessed_at DESC, id DESC LIMIT $4",
        personal_id,
        before[0],
        before[1],
        limit,
    )
