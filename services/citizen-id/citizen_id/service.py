"""Use cases of the population registry: verify-and-prefill (logged with its purpose), the citizen's
access log, and the citizen's own record. Functions take the request's connection and never commit."""

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from motcua_common import FieldError, ProblemError

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


def encode_cursor(accessed_at: datetime, row_id: int) -> str:
    raw = json.dumps([accessed_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of ``encode_cursor``; anything else is a 422, never a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, row_id = json.loads(raw)
        accessed_at = datetime.fromisoformat(stamp)
        if not isinstance(row_id, int) or accessed_at.tzinfo is None:
            raise ValueError("bad cursor payload")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            422,
            "invalid-cursor",
            "Con trỏ phân trang không hợp lệ",
            "The cursor is not one this API returned; start again without it.",
            errors=[FieldError(field="cursor", message="malformed cursor")],
        ) from None
    return accessed_at, row_id


@dataclass(frozen=True)
class AccessPage:
    items: list[asyncpg.Record]
    next_cursor: str | None


async def access_log(conn: asyncpg.Connection, personal_id: str, limit: int, cursor: str | None) -> AccessPage:
    checked_personal_id(personal_id)
    before = decode_cursor(cursor) if cursor else None
    if not await repository.citizen_exists(conn, personal_id):
        raise _not_found(personal_id)
    rows = await repository.list_access(conn, personal_id, limit + 1, before)
    page = rows[:limit]
    more = len(rows) > limit
    return AccessPage(page, encode_cursor(page[-1]["accessed_at"], page[-1]["id"]) if more else None)


async def warn_if_unseeded(pool: asyncpg.Pool) -> None:
    """Seeding is a separate step (``python -m citizen_id.seed``); an empty registry answers 404 to
    everyone, which is worth a loud hint at start-up."""
    async with pool.acquire() as conn:
        if not await repository.has_citizens(conn):
            log.warning(
                "the citizens table is empty: every lookup will answer 404; "
                "run `python -m citizen_id.seed` to load the demo and synthetic citizens"
            )
