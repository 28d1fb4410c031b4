"""Use cases of the population registry: verify-and-prefill (logged with its purpose), the citizen's
access log, and the citizen's own record. Functions take the request's connection and never commit."""

import logging
from dataclasses import dataclass

import asyncpg

from motcua_common import FieldError, ProblemError
from motcua_common.pagination import decode_keyset, encode_keyset

from . import repository
from .domain import InvalidPersonalIdError, ParsedId, PrefillField, parse_personal_id

log = logging.getLogger("citizen_id")

NOT_FOUND_TITLE = "Không tìm thấy công dân trong Cơ sở dữ liệu quốc gia về dân cư"


def checked_personal_id(value: str) -> ParsedId:
    try:
        return parse_personal_id(value)
    except InvalidPersonalIdError as exc:
        raise ProblemError(
            422,
            "invalid-personal-id",
            "Số định danh cá nhân không hợp lệ",
            str(exc),
            errors=[FieldError(field="personal_id", message=str(exc))],
        ) from None


def _not_found(personal_id: str) -> ProblemError:
    return ProblemError(
        404,
        "citizen-not-found",
        NOT_FOUND_TITLE,
        f"No citizen with personal id {personal_id} in the population registry.",
    )


@dataclass(frozen=True)
class Prefill:
    personal_id: str
    person: dict[str, object]


async def prefill(
    conn: asyncpg.Connection, personal_id: str, purpose: str, requested_by: str, fields: list[PrefillField]
) -> Prefill:
    """Verify the person exists and is alive, and disclose only ``fields``; the access is logged in
    the same transaction, so no data leaves without its log row."""
    checked_personal_id(personal_id)
    row = await repository.get_citizen(conn, personal_id)
    if row is None:
        raise _not_found(personal_id)
    if row["status"] != "active":
        raise ProblemError(
            409,
            "citizen-not-active",
            "Công dân không còn ở trạng thái hoạt động",
            f"The citizen {personal_id} is recorded as {row['status']}; no data is disclosed.",
        )
    wanted = list(dict.fromkeys(fields))
    await repository.insert_access(conn, personal_id, purpose, requested_by, wanted)
    return Prefill(personal_id, {f: row[f] for f in wanted})


async def get_citizen(conn: asyncpg.Connection, personal_id: str) -> asyncpg.Record:
    checked_personal_id(personal_id)
    row = await repository.get_citizen(conn, personal_id)
    if row is None:
        raise _not_found(personal_id)
    return row


@dataclass(frozen=True)
class AccessPage:
    items: list[asyncpg.Record]
    next_cursor: str | None


async def access_log(conn: asyncpg.Connection, personal_id: str, limit: int, cursor: str | None) -> AccessPage:
    checked_personal_id(personal_id)
    before = decode_keyset(cursor, int) if cursor else None
    if not await repository.citizen_exists(conn, personal_id):
        raise _not_found(personal_id)
    rows = await repository.list_access(conn, personal_id, limit + 1, before)
    page = rows[:limit]
    more = len(rows) > limit
    return AccessPage(page, encode_keyset(page[-1]["accessed_at"], page[-1]["id"]) if more else None)


async def warn_if_unseeded(pool: asyncpg.Pool) -> None:
    """Seeding is a separate step (``python -m citizen_id.seed``); an empty registry answers 404 to
    everyone, which is worth a loud hint at start-up."""
    async with pool.acquire() as conn:
        if not await repository.has_citizens(conn):
            log.warning(
                "the citizens table is empty: every lookup will answer 404; "
                "run `python -m citizen_id.seed` to load the demo and synthetic citizens"
            )
