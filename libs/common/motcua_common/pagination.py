"""Opaque cursors for keyset pagination: the client passes back ``next_cursor`` untouched.
A cursor the API did not issue is a 400 ``invalid-cursor``, never a 500."""

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query

from .problems import FieldError, ProblemError

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]
K = TypeVar("K")


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        "Tham số phân trang không hợp lệ",
        "The cursor is not one this API returned; start again without it.",
        [FieldError(field="cursor", message="invalid cursor")],
    )


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    return values


def encode_keyset(at: datetime, key: Any) -> str:
    """Cursor for lists ordered by (timestamp, id)."""
    return encode_cursor(at.isoformat(), key if isinstance(key, int) else str(key))


def decode_keyset(cursor: str, key_type: Callable[[Any], K]) -> tuple[datetime, K]:
    at, key = decode_cursor(cursor, 2)
    try:
        stamp = datetime.fromisoformat(at)
        if stamp.tzinfo is None or isinstance(key, bool):
            raise ValueError("naive timestamp or bad key")
        parsed = key_type(key)
        if key_type is int and not isinstance(key, int):
            raise ValueError("key must be an integer")
        return stamp, parsed
    except (ValueError, TypeError, AttributeError) as exc:
        raise invalid_cursor() from exc
