"""All of intake's SQL."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from motcua_common.outbox import OutboxRow, insert_rows_sql, row_arrays

_PROCEDURE_COLUMNS = """p.code, p.version, p.name, p.field, p.level, p.processing_days, p.fee_vnd, p.fee_online_vnd,
    p.fee_note, p.online_level, p.components, p.legal_basis, p.effective_from, p.effective_to, p.definition,
    p.published_at, p.published_by, p.source,
    u.code AS unit_code, u.name AS unit_name, u.level AS unit_level, u.province_code, u.ward_code"""
_PROCEDURES = "procedures p JOIN units u ON u.code = p.unit_code"
# The version in force on day $1: its window holds the day (windows of one code never overlap: publishing a version
# closes the earlier ones the day before it comes into force). Rows seeded before definitions existed (0002) count
# only once the shipped files have filled them (`make migrate`).
_IN_FORCE = (
    "p.definition IS NOT NULL AND p.effective_from <= $1::date"
    " AND (p.effective_to IS NULL OR p.effective_to >= $1::date)"
)


async def list_procedures(
    conn: asyncpg.Connection,
    *,
    day: date,
    after: str | None,
    limit: int,
    level: str | None,
    online_level: str | None,
) -> list[asyncpg.Record]:
    """The procedures in force on ``day``, each at its version in force, by code."""
    return await conn.fetch(
        f"SELECT * FROM (SELECT DISTINCT ON (p.code) {_PROCEDURE_COLUMNS} FROM {_PROCEDURES} WHERE {_IN_FORCE}"
        " ORDER BY p.code, p.version DESC) c"
        " WHERE ($2::text IS NULL OR c.code > $2) AND ($3::text IS NULL OR c.level = $3)"
        " AND ($4::text IS NULL OR c.online_level = $4) ORDER BY c.code LIMIT $5",
        day,
        after,
        level,
        online_level,
        limit,
    )


async def get_current_procedure(conn: asyncpg.Connection, code: str, day: date) -> asyncpg.Record | None:
    """The version of ``code`` in force on ``day`` (a dossier's receipt date, or today for the catalogue)."""
    return await conn.fetchrow(
        f"SELECT {_PROCEDURE_COLUMNS} FROM {_PROCEDURES} WHERE {_IN_FORCE} AND p.code = $2"
        " ORDER BY p.version DESC LIMIT 1",
        day,
        code,
    )


# The version in force without its definition (a stored version's definition never changes: the caller keeps the
# validated ones by code, version and publication time, versions.definition_of), with its unit.
_VERSION_IN_FORCE = (
    "SELECT p.code, p.version, p.published_at, jsonb_typeof(p.definition->'bundle') = 'object' AS is_bundle,"
    " u.code AS unit_code, u.name AS unit_name, u.province_code, u.ward_code"
    f" FROM {_PROCEDURES} WHERE {_IN_FORCE} AND p.code = $2 ORDER BY p.version DESC LIMIT 1"
)


async def get_version_in_force(conn: asyncpg.Connection, code: str, day: date) -> asyncpg.Record | None:
    """The version of ``code`` in force on ``day``, without its definition (see ``_VERSION_IN_FORCE``)."""
    return await conn.fetchrow(_VERSION_IN_FORCE, day, code)


async def get_definition(conn: asyncpg.Connection, code: str, version: int) -> Any:
    return await conn.fetchval("SELECT definition FROM procedures WHERE code = $1 AND version = $2", code, version)


_LATER_COLUMNS = (
    "code",
    "version",
    "published_at",
    "is_bundle",
    "unit_code",
    "unit_name",
    "province_code",
    "ward_code",
)


async def start_submission(
    conn: asyncpg.Connection,
    submitter_kind: str,
    submitter_subject: str,
    key: str,
    code: str,
    day: date,
    later_day: date | None = None,
) -> asyncpg.Record:
    """A submission's first round trip, one statement: whether this submitter already used the idempotency key
    (``existing``), the version of ``code`` in force on ``day`` (its columns NULL when there is none) and, when the
    key is new and the version is not a bundle's, the next number of its unit's daily series (``sequence``, see
    :func:`next_sequence`; a submission refused later leaves a gap, as the law allows). With ``later_day`` (the
    next working day, when the dossier may count as received then: after the cut-off, on a day off), also the
    version in force on that day, as the columns ``later_<column>`` (NULL when there is none): one statement
    whatever the hour, instead of a second look-up after the receipt time is known (:func:`later_version`)."""
    later = ", ".join(f"l.{c} AS later_{c}" for c in _LATER_COLUMNS)
    return await conn.fetchrow(
        "WITH v AS (" + _VERSION_IN_FORCE.replace("$2", "$5") + "),"
        " l AS (" + _VERSION_IN_FORCE.replace("$1", "$6").replace("$2", "$5") + "),"
        " e AS (SELECT EXISTS (SELECT 1 FROM dossiers WHERE submitter_kind = $2 AND submitter_subject = $3"
        "   AND idempotency_key = $4) AS existing),"
        " s AS (INSERT INTO dossier_sequences (unit_code, day, last)"
        "   SELECT v.unit_code, $1, 1 FROM v, e WHERE NOT e.existing AND NOT v.is_bundle"
        "   ON CONFLICT (unit_code, day) DO UPDATE SET last = dossier_sequences.last + 1 RETURNING last)"
        f" SELECT e.existing, v.*, (SELECT last FROM s) AS sequence, {later}"
        " FROM e LEFT JOIN v ON true LEFT JOIN l ON NOT e.existing AND $6::date IS NOT NULL",
        day,
        submitter_kind,
        submitter_subject,
        key,
        code,
        later_day,
    )


def later_version(start: asyncpg.Record) -> dict[str, Any] | None:
    """The version in force on the later day :func:`start_submission` was given, as :func:`get_version_in_force`
    returns it; None when there is none (or no later day was asked)."""
    if start["later_code"] is None:
        return None
    return {c: start[f"later_{c}"] for c in _LATER_COLUMNS}


async def get_procedure_version(conn: asyncpg.Connection, code: str, version: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_PROCEDURE_COLUMNS} FROM {_PROCEDURES} WHERE p.code = $1 AND p.version = $2", code, version
    )


async def list_procedure_versions(
    conn: asyncpg.Connection, code: str, *, after: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_PROCEDURE_COLUMNS} FROM {_PROCEDURES} WHERE p.code = $1 AND p.definition IS NOT NULL"
        " AND ($2::integer IS NULL OR p.version > $2) ORDER BY p.version LIMIT $3",
        code,
        after,
        limit,
    )


async def lock_procedure_code(conn: asyncpg.Connection, code: str) -> None:
    """Serialize publications of one procedure code until the end of the transaction (two operators publishing at
    once get versions n+1 and n+2, never the same number)."""
    await conn.execute("SELECT pg_advisory_xact_lock(727003, hashtext($1))", code)


async def latest_version(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_PROCEDURE_COLUMNS} FROM {_PROCEDURES} WHERE p.code = $1 ORDER BY p.version DESC LIMIT 1", code
    )


async def latest_definitions(conn: asyncpg.Connection, codes: list[str]) -> dict[str, Any]:
    """The definition of the latest version of each code that has one."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (code) code, definition FROM procedures WHERE code = ANY($1::text[])"
        " AND definition IS NOT NULL ORDER BY code, version DESC",
        codes,
    )
    return {r["code"]: r["definition"] for r in rows}


_VERSION_FIELDS = (
    "code, version, name, field, level, unit_code, processing_days, fee_vnd, fee_online_vnd, fee_note, online_level,"
    " components, legal_basis, effective_from, effective_to, definition, published_by, source"
)


def _version_args(row: dict[str, Any]) -> list[Any]:
    return [row[f.strip()] for f in _VERSION_FIELDS.split(",")]


async def insert_procedure_version(conn: asyncpg.Connection, row: dict[str, Any]) -> datetime:
    return await conn.fetchval(
        f"INSERT INTO procedures ({_VERSION_FIELDS}, published_at) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, now())"
        " RETURNING published_at",
        *_version_args(row),
    )


async def fill_seeded_version(conn: asyncpg.Connection, row: dict[str, Any]) -> datetime | None:
    """Give a row seeded before definitions existed (migration 0002, ``definition IS NULL``) its shipped
    definition; None if the row already had one."""
    return await conn.fetchval(
        "UPDATE procedures SET name = $3, field = $4, level = $5, unit_code = $6, processing_days = $7,"
        " fee_vnd = $8, fee_online_vnd = $9, fee_note = $10, online_level = $11, components = $12,"
        " legal_basis = $13, effective_from = $14, effective_to = $15, definition = $16, published_by = $17,"
        " source = $18, published_at = now() WHERE code = $1 AND version = $2 AND definition IS NULL"
        " RETURNING published_at",
        *_version_args(row),
    )


async def close_earlier_versions(conn: asyncpg.Connection, code: str, version: int, effective_from: date) -> None:
    """End the windows of the earlier versions of ``code`` the day before ``effective_from`` (a version that had
    not come into force by then never does)."""
    await conn.execute(
        "UPDATE procedures SET effective_to = $3::date - 1 WHERE code = $1 AND version < $2"
        " AND (effective_to IS NULL OR effective_to >= $3::date)",
        code,
        version,
        effective_from,
    )


# --- Units -------------------------------------------------------------------------------------------------


async def get_unit(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT code, name, level, province_code, ward_code FROM units WHERE code = $1", code)


async def assigned_unit(conn: asyncpg.Connection, procedure_code: str) -> asyncpg.Record | None:
    """The unit the province assigned the procedure to (procedure_units)."""
    return await conn.fetchrow(
        "SELECT u.code, u.name, u.level, u.province_code, u.ward_code FROM procedure_units a"
        " JOIN units u ON u.code = a.unit_code WHERE a.procedure_code = $1",
        procedure_code,
    )


async def assign_unit(conn: asyncpg.Connection, procedure_code: str, unit_code: str) -> None:
    await conn.execute(
        "INSERT INTO procedure_units (procedure_code, unit_code) VALUES ($1, $2)"
        " ON CONFLICT (procedure_code) DO UPDATE SET unit_code = EXCLUDED.unit_code",
        procedure_code,
        unit_code,
    )


async def unit_in_area(
    conn: asyncpg.Connection, level: str, province_code: int | None, ward_code: int | None
) -> asyncpg.Record | None:
    """The unit of ``level`` in an area: the same province, and for commune-level units the same ward or commune
    (the first by code if several)."""
    commune = level in ("commune", "commune_police")
    return await conn.fetchrow(
        "SELECT code, name, level FROM units WHERE level = $1 AND province_code IS NOT DISTINCT FROM $2"
        " AND (NOT $4 OR ward_code IS NOT DISTINCT FROM $3) ORDER BY code LIMIT 1",
        level,
        province_code,
        ward_code,
        commune,
    )


async def find_by_idempotency_key(
    conn: asyncpg.Connection, submitter_kind: str, submitter_subject: str, key: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"{_DOSSIER_SELECT} WHERE d.submitter_kind = $1 AND d.submitter_subject = $2 AND d.idempotency_key = $3",
        submitter_kind,
        submitter_subject,
        key,
    )


async def next_sequence(conn: asyncpg.Connection, unit_code: str, day: date) -> int:
    """Take the next number in the unit's daily series (in its own short transaction when called outside one:
    the number is taken before the registry is asked, so no connection is held across that call; a refused
    submission leaves a gap, never a repeat)."""
    return await conn.fetchval(
        "INSERT INTO dossier_sequences (unit_code, day, last) VALUES ($1, $2, 1)"
        " ON CONFLICT (unit_code, day) DO UPDATE SET last = dossier_sequences.last + 1 RETURNING last",
        unit_code,
        day,
    )


_INSERT_DOSSIER = (
    "INSERT INTO dossiers (id, code, procedure_code, procedure_version, procedure_snapshot, unit_code,"
    " channel, applicant_personal_id, applicant, form_data, components, notify_channels, submitted_at,"
    " received_at, appointment_at, idempotency_key, request_hash, applicant_kind, applicant_subject,"
    " applicant_tax_code, submitter_kind, submitter_subject, on_behalf_via, receiving_unit_code, field_origins,"
    " fee_vnd, budget, bundle_id, bundle_code, bundle_version)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,"
    " $26,$27,$28,$29,$30)"
    " ON CONFLICT (submitter_kind, submitter_subject, idempotency_key) DO NOTHING"
)


async def insert_dossier(conn: asyncpg.Connection, row: dict[str, Any], events: Sequence[OutboxRow] = ()) -> bool:
    """Insert the dossier and, only if it was inserted, its outbox ``events``: one statement, so one round trip and
    one transaction of its own when called outside one. False if this submitter already used the idempotency key
    (nothing stored)."""
    return bool(
        await conn.fetchval(
            f"WITH d AS ({_INSERT_DOSSIER} RETURNING id),"
            f" o AS ({insert_rows_sql(31, when='EXISTS (SELECT 1 FROM d)')})"
            " SELECT EXISTS (SELECT 1 FROM d)",
            row["id"],
            row["code"],
            row["procedure_code"],
            row["procedure_version"],
            row["procedure_snapshot"],
            row["unit_code"],
            row["channel"],
            row["applicant"].get("personal_id"),
            row["applicant"],
            row["form_data"],
            row["components"],
            row["notify_channels"],
            row["submitted_at"],
            row["received_at"],
            row["appointment_at"],
            row["idempotency_key"],
            row["request_hash"],
            row["applicant"]["kind"],
            row["applicant"].get("subject"),
            row["applicant"].get("tax_code"),
            row["submitter_kind"],
            row["submitter_subject"],
            row["on_behalf_via"],
            row["receiving_unit_code"],
            row["field_origins"],
            row["fee_vnd"],
            row["budget"],
            row["bundle_id"],
            row["bundle_code"],
            row["bundle_version"],
            *row_arrays(events),
        )
    )


_DOSSIER_SELECT = """SELECT d.*, u.name AS unit_name FROM dossiers d JOIN units u ON u.code = d.unit_code"""


async def get_dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_DOSSIER_SELECT} WHERE d.code = $1", code)


async def bundle_dossiers(conn: asyncpg.Connection, bundle_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(f"{_DOSSIER_SELECT} WHERE d.bundle_id = $1 ORDER BY d.code", bundle_id)


async def get_dossier_by_id(conn: asyncpg.Connection, dossier_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_DOSSIER_SELECT} WHERE d.id = $1", dossier_id)


# --- Corrections -------------------------------------------------------------------------------------------


async def insert_correction(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO dossier_corrections (id, dossier_id, field, registry_value, proposed_value, note, requested_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        row["id"],
        row["dossier_id"],
        row["field"],
        row["registry_value"],
        row["proposed_value"],
        row["note"],
        row["requested_by"],
    )


async def list_corrections(conn: asyncpg.Connection, dossier_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM dossier_corrections WHERE dossier_id = $1 ORDER BY requested_at, id", dossier_id
    )


# --- The document vault ------------------------------------------------------------------------------------

_DOCUMENT_COLUMNS = """id, owner_subject, kind, doc_type, file_name, content_type, size_bytes, sha256,
    content IS NOT NULL AS has_content, dossier_id, dossier_code, result_number, created_at"""


async def insert_upload(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record | None:
    """Store an upload unless the owner already has the same content; None if it existed."""
    return await conn.fetchrow(
        "INSERT INTO documents (id, owner_subject, kind, doc_type, file_name, content_type, size_bytes, sha256,"
        " content) VALUES ($1, $2, 'upload', $3, $4, $5, $6, $7, $8)"
        f" ON CONFLICT (owner_subject, sha256) WHERE kind = 'upload' DO NOTHING RETURNING {_DOCUMENT_COLUMNS}",
        row["id"],
        row["owner_subject"],
        row["doc_type"],
        row["file_name"],
        row["content_type"],
        row["size_bytes"],
        row["sha256"],
        row["content"],
    )


async def find_upload_by_hash(conn: asyncpg.Connection, owner: str, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE owner_subject = $1 AND sha256 = $2 AND kind = 'upload'",
        owner,
        sha256,
    )


async def insert_result(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO documents (id, owner_subject, kind, doc_type, dossier_id, dossier_code, result_number, created_at)"
        " VALUES ($1, $2, 'result', $3, $4, $5, $6, clock_timestamp())"  # not now(): several events, one transaction
        " ON CONFLICT (owner_subject, dossier_id) WHERE kind = 'result' DO NOTHING",
        row["id"],
        row["owner_subject"],
        row["doc_type"],
        row["dossier_id"],
        row["dossier_code"],
        row["result_number"],
    )


async def list_documents(
    conn: asyncpg.Connection, owner: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    if before is None:
        return await conn.fetch(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE owner_subject = $1"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner,
            limit,
        )
    return await conn.fetch(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE owner_subject = $1 AND (created_at, id) < ($2, $3)"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
        owner,
        before[0],
        before[1],
        limit,
    )


async def get_owned_documents(conn: asyncpg.Connection, owner: str, ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE owner_subject = $1 AND id = ANY($2::uuid[])", owner, ids
    )


async def get_document_content(conn: asyncpg.Connection, owner: str, doc_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, file_name, content_type, content FROM documents"
        " WHERE owner_subject = $1 AND id = $2 AND content IS NOT NULL",
        owner,
        doc_id,
    )


# --- Once-only score ---------------------------------------------------------------------------------------


async def once_only_counts(conn: asyncpg.Connection, procedure_code: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM dossiers WHERE procedure_code = $1) AS dossiers,
             (SELECT count(*) FILTER (WHERE o.value = '"registry"') FROM dossiers d,
                 jsonb_each(d.field_origins) o WHERE d.procedure_code = $1) AS fields_registry,
             (SELECT count(*) FROM dossiers d, jsonb_each(d.field_origins) o
                 WHERE d.procedure_code = $1) AS fields_total,
             (SELECT count(*) FILTER (WHERE c ? 'reused_from' AND c->>'reused_from' IS NOT NULL) FROM dossiers d,
                 jsonb_array_elements(d.components) c WHERE d.procedure_code = $1) AS components_reused,
             (SELECT count(*) FROM dossiers d, jsonb_array_elements(d.components) c
                 WHERE d.procedure_code = $1) AS components_total""",
        procedure_code,
    )
