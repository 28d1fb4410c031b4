"""Opaque cursors for keyset pagination: the client passes back ``next_cursor`` untouched."""

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from .problems import ProblemError

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong shape")
        return values
    except (ValueError, TypeError) as exc:
        raise ProblemError(
            400,
            "invalid-cursor",
            "Tham số phân trang không hợp lệ",
            "The cursor is not one this API returned.",
        ) from exc
