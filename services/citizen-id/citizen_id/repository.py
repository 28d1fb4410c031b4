"""All SQL of the citizen-id service."""

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

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
    "subject",
)
_COLS = ", ".join(CITIZEN_COLUMNS)

# Columns of the tables the seed loads, in the order of the tuples it generates.
SEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "citizens": CITIZEN_COLUMNS,
    "households": ("id", "ward_code", "address"),
    "household_members": ("household_id", "personal_id", "relation", "date_of_birth"),
    "authorizations": ("id", "grantor_id", "grantee_id", "scope", "valid_from", "valid_to", "document_ref"),
    "companies": ("tax_code", "name", "address", "legal_representative"),
    "business_authorizations": ("id", "tax_code", "grantee_id", "scope", "valid_from", "valid_to", "document_ref"),
}

# --- seeding ---

# Dropped before a bulk load into empty tables and rebuilt after it: building a b-tree once from all rows is
# several times faster than maintaining it row by row, and checking foreign keys in one pass beats a trigger per row.
_DROP_FOR_BULK = """
ALTER TABLE access_log DROP CONSTRAINT access_log_personal_id_fkey;
ALTER TABLE household_members DROP CONSTRAINT household_members_household_id_fkey;
ALTER TABLE citizens DROP CONSTRAINT citizens_pkey;
DROP INDEX citizens_subject_key;
ALTER TABLE households DROP CONSTRAINT households_pkey;
ALTER TABLE household_members DROP CONSTRAINT household_members_pkey;
DROP INDEX household_members_person_idx;
"""
_CREATE_AFTER_BULK = """
SET LOCAL maintenance_work_mem = '256MB';
ALTER TABLE citizens ADD CONSTRAINT citizens_pkey PRIMARY KEY (personal_id);
CREATE UNIQUE INDEX citizens_subject_key ON citizens (subject);
ALTER TABLE households ADD CONSTRAINT households_pkey PRIMARY KEY (id);
ALTER TABLE household_members ADD CONSTRAINT household_members_pkey PRIMARY KEY (household_id, personal_id);
CREATE INDEX household_members_person_idx ON household_members (personal_id);
ALTER TABLE household_members ADD CONSTRAINT household_members_household_id_fkey
    FOREIGN KEY (household_id) REFERENCES households (id);
ALTER TABLE access_log ADD CONSTRAINT access_log_personal_id_fkey
    FOREIGN KEY (personal_id) REFERENCES citizens (personal_id);
ANALYZE citizens;
ANALYZE households;
ANALYZE household_members;
"""


async def seed_state(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT random_seed, count, secret_hash FROM seed_state WHERE name = 'registry'")


async def save_seed_state(conn: asyncpg.Connection, random_seed: int, count: int, secret_hash: str) -> None:
    await conn.execute(
        "INSERT INTO seed_state (name, random_seed, count, secret_hash) VALUES ('registry', $1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE SET random_seed = EXCLUDED.random_seed, count = EXCLUDED.count,"
        " secret_hash = EXCLUDED.secret_hash, seeded_at = now()",
        random_seed,
        count,
        secret_hash,
    )


async def drop_bulk_indexes(conn: asyncpg.Connection) -> None:
    await conn.execute(_DROP_FOR_BULK)


async def create_bulk_indexes(conn: asyncpg.Connection) -> None:
    await conn.execute(_CREATE_AFTER_BULK)


async def copy_rows(conn: asyncpg.Connection, table: str, rows: Sequence[Sequence]) -> int:
    """COPY straight into ``table`` (the bulk path: the table had no rows and its indexes are dropped)."""
    if not rows:
        return 0
    await conn.copy_records_to_table(table, records=rows, columns=SEED_COLUMNS[table])
    return len(rows)


async def insert_rows(conn: asyncpg.Connection, table: str, rows: Sequence[Sequence]) -> int:
    """COPY into a temporary table, then insert the rows whose key is not there yet. Returns how many were new."""
    if not rows:
        return 0
    cols = ", ".join(SEED_COLUMNS[table])
    async with conn.transaction():
        await conn.execute(f"CREATE TEMP TABLE incoming_{table} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        await conn.copy_records_to_table(f"incoming_{table}", records=rows, columns=SEED_COLUMNS[table])
        status = await conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming_{table} ON CONFLICT DO NOTHING"
        )
        await conn.execute(f"DROP TABLE incoming_{table}")
    return int(status.rsplit(" ", 1)[-1])


async def backfill_subjects(conn: asyncpg.Connection, subject: Callable[[str], str]) -> int:
    """Citizens loaded before subjects existed get theirs."""
    ids = [r["personal_id"] for r in await conn.fetch("SELECT personal_id FROM citizens WHERE subject IS NULL")]
    if ids:
        await conn.execute(
            "UPDATE citizens c SET subject = s.subject FROM unnest($1::text[], $2::text[]) AS s (personal_id, subject)"
            " WHERE c.personal_id = s.personal_id",
            ids,
            [subject(i) for i in ids],
        )
    return len(ids)


async def has_citizens(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM citizens)")


# --- citizens and companies ---


async def get_citizen(conn: asyncpg.Connection, personal_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLS}, created_at FROM citizens WHERE personal_id = $1", personal_id)


async def read_citizen_logged(
    conn: asyncpg.Connection, personal_id: str, entry: Mapping[str, Any]
) -> asyncpg.Record | None:
    """A citizen's record and, if they are active, the access log row of this read (``entry``: the keyword arguments
    of :func:`insert_access` but the person's ids), in one statement: one round trip, atomic without a transaction
    around it. None if there is no such citizen; a record whose status is not ``active`` is returned for the caller
    to refuse, and nothing is logged."""
    return await conn.fetchrow(
        f"WITH c AS (SELECT {_COLS}, created_at FROM citizens WHERE personal_id = $1),"
        " a AS (INSERT INTO access_log (personal_id, purpose, requested_by, fields, caller_kind, caller_id,"
        "   caller_unit, via_service, on_behalf_via, dossier_ref)"
        "   SELECT $1, $2, $3, $4, $5, $6, $7, $3, $8, $9 FROM c WHERE c.status = 'active')"
        " SELECT * FROM c",
        personal_id,
        *(entry[k] for k in ("purpose", "via_service", "fields", "caller_kind", "caller_id", "caller_unit")),
        entry["on_behalf_via"],
        entry["dossier_ref"],
    )


async def get_company(conn: asyncpg.Connection, tax_code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT tax_code, name, address, legal_representative, status FROM companies WHERE tax_code = $1", tax_code
    )


# --- mandates (decided from the mandate tables alone: never from the record of the person asked about) ---


async def household_relation(conn: asyncpg.Connection, caller: str, target: str) -> asyncpg.Record | None:
    """The target's relation and date of birth if the caller heads (or is the spouse of the head of) a
    household the target is a child or ward in."""
    return await conn.fetchrow(
        "SELECT t.relation, t.date_of_birth FROM household_members me"
        " JOIN household_members t ON t.household_id = me.household_id"
        " WHERE me.personal_id = $1 AND me.relation IN ('head', 'spouse')"
        " AND t.personal_id = $2 AND t.relation IN ('child', 'ward')"
        " LIMIT 1",
        caller,
        target,
    )


async def valid_authorization(
    conn: asyncpg.Connection, grantee: str, grantor: str, today: date
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, valid_from, valid_to, document_ref FROM authorizations"
        " WHERE grantee_id = $1 AND grantor_id = $2 AND valid_from <= $3 AND valid_to >= $3"
        " ORDER BY valid_to DESC LIMIT 1",
        grantee,
        grantor,
        today,
    )


async def company_role(conn: asyncpg.Connection, person: str, tax_code: str, today: date) -> str | None:
    """``legal_representative`` or ``authorized`` (a business authorization valid today), else None."""
    return await conn.fetchval(
        "SELECT 'legal_representative' FROM companies WHERE tax_code = $2 AND legal_representative = $1"
        " UNION ALL"
        " SELECT 'authorized' FROM business_authorizations"
        " WHERE tax_code = $2 AND grantee_id = $1 AND valid_from <= $3 AND valid_to >= $3"
        " LIMIT 1",
        person,
        tax_code,
        today,
    )


async def household_dependants(conn: asyncpg.Connection, caller: str) -> list[asyncpg.Record]:
    """Children and wards of the households the caller heads or is the spouse of the head of (active citizens)."""
    return await conn.fetch(
        "SELECT t.personal_id, t.relation, t.date_of_birth, c.full_name FROM household_members me"
        " JOIN household_members t ON t.household_id = me.household_id AND t.relation IN ('child', 'ward')"
        " JOIN citizens c ON c.personal_id = t.personal_id AND c.status = 'active'"
        " WHERE me.personal_id = $1 AND me.relation IN ('head', 'spouse')"
        " ORDER BY t.date_of_birth, t.personal_id",
        caller,
    )


async def authorizations_held(conn: asyncpg.Connection, grantee: str, today: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.grantor_id AS personal_id, a.scope, a.valid_from, a.valid_to, a.document_ref, c.full_name"
        " FROM authorizations a JOIN citizens c ON c.personal_id = a.grantor_id AND c.status = 'active'"
        " WHERE a.grantee_id = $1 AND a.valid_from <= $2 AND a.valid_to >= $2"
        " ORDER BY a.valid_to, a.grantor_id",
        grantee,
        today,
    )


async def organisations_of(conn: asyncpg.Connection, person: str, today: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT tax_code, name, 'legal_representative' AS role, NULL::date AS valid_from, NULL::date AS valid_to"
        " FROM companies WHERE legal_representative = $1 AND status = 'active'"
        " UNION ALL"
        " SELECT c.tax_code, c.name, 'authorized', b.valid_from, b.valid_to"
        " FROM business_authorizations b JOIN companies c ON c.tax_code = b.tax_code AND c.status = 'active'"
        " WHERE b.grantee_id = $1 AND b.valid_from <= $2 AND b.valid_to >= $2"
        " ORDER BY 1, 3",
        person,
        today,
    )


# --- access log ---


async def insert_access(
    conn: asyncpg.Connection,
    *,
    personal_id: str | None = None,
    tax_code: str | None = None,
    purpose: str,
    fields: Sequence[str],
    caller_kind: str,
    caller_id: str,
    caller_unit: str | None,
    via_service: str,
    on_behalf_via: str,
    dossier_ref: str | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO access_log (personal_id, tax_code, purpose, requested_by, fields, caller_kind, caller_id,"
        " caller_unit, via_service, on_behalf_via, dossier_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " RETURNING id, accessed_at",
        personal_id,
        tax_code,
        purpose,
        via_service,
        fields,
        caller_kind,
        caller_id,
        caller_unit,
        via_service,
        on_behalf_via,
        dossier_ref,
    )


_ACCESS_COLS = (
    "id, purpose, requested_by, fields, accessed_at, caller_kind, caller_id, caller_unit, via_service,"
    " on_behalf_via, dossier_ref"
)


async def list_access(
    conn: asyncpg.Connection, personal_id: str, limit: int, before: tuple[datetime, int] | None = None
) -> list[asyncpg.Record]:
    """Newest first; ``before`` is the (accessed_at, id) of the last row of the previous page."""
    if before is None:
        return await conn.fetch(
            f"SELECT {_ACCESS_COLS} FROM access_log WHERE personal_id = $1 ORDER BY accessed_at DESC, id DESC LIMIT $2",
            personal_id,
            limit,
        )
    return await conn.fetch(
        f"SELECT {_ACCESS_COLS} FROM access_log WHERE personal_id = $1 AND (accessed_at, id) < ($2, $3)"
        " ORDER BY accessed_at DESC, id DESC LIMIT $4",
        personal_id,
        before[0],
        before[1],
        limit,
    )


# --- corrections ---


async def insert_correction(
    conn: asyncpg.Connection,
    *,
    correction_id: UUID,
    personal_id: str,
    field: str,
    registry_value: str | None,
    proposed_value: str | None,
    note: str | None,
    dossier_id: UUID,
    dossier_code: str,
    requested_at: datetime,
    event_id: str,
) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO correction_requests (correction_id, personal_id, field, registry_value, proposed_value,"
            " note, dossier_id, dossier_code, requested_at, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (correction_id) DO NOTHING RETURNING true",
            correction_id,
            personal_id,
            field,
            registry_value,
            proposed_value,
            note,
            dossier_id,
            dossier_code,
            requested_at,
            event_id,
        )
    )


async def open_corrections(conn: asyncpg.Connection, personal_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT correction_id, field, registry_value, proposed_value, dossier_code, requested_at, status"
        " FROM correction_requests WHERE personal_id = $1 AND status = 'open' ORDER BY requested_at DESC",
        personal_id,
    )
