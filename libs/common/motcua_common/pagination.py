"""Opaque cursors for keyset pagination: the client passes back ``next_cursor`` untouched.
A cursor the API did not issue is a 400 ``invalid-cursor``, never a 500. A list with filters can bind its cursors
to them (``scope``): a cursor issued for other filters is refused the same way, rather than silently continuing
another list from a position that means nothing in this one."""

import base64
import binascii
import hashlib
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


def invalid_cursor(detail: str = "The cursor is not one this API returned; start again without it.") -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        "Tham số phân trang không hợp lệ",
        detail,
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


def filter_scope(**filters: Any) -> str:
    """A short digest of a list's filters, to bind its cursors to them (``encode_keyset(..., scope=...)``)."""
    canonical = json.dumps(filters, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_keyset(at: datetime, key: Any, scope: str | None = None) -> str:
    """Cursor for lists ordered by (timestamp, id); ``scope`` (see :func:`filter_scope`) binds it to a filter set."""
    values = [at.isoformat(), key if isinstance(key, int) else str(key)]
    return encode_cursor(*values, *([scope] if scope is not None else []))


def decode_keyset(cursor: str, key_type: Callable[[Any], K], scope: str | None = None) -> tuple[datetime, K]:
    """The (timestamp, id) of a cursor :func:`encode_keyset` issued with the same ``scope`` (400 otherwise)."""
    if scope is None:
        at, key = decode_cursor(cursor, 2)
    else:
        at, key, issued_for = decode_cursor(cursor, 3)
        if issued_for != scope:
            raise invalid_cursor("The cursor was issued for other filters; start again without it.")
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
