"""HTTP endpoints of notify."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from motcua_common import PROBLEM_RESPONSES, Conn

from . import service
from .schemas import NotificationOut, NotificationPage

router = APIRouter(prefix="/api/v1", tags=["Notifications"])


@router.get(
    "/dossiers/{code}/notifications",
    operation_id="notify_list_dossier_notifications",
    summary="Thông báo của một hồ sơ",
    description=(
        "The notifications sent about one dossier, oldest first: one `app` notification (the in-app "
        "inbox) per dossier event, plus one `email` when the applicant gave an email address. "
        "Cursor pagination: pass the `next_cursor` of a page as `cursor` to get the next one. "
        "An unknown code answers 200 with no items, not 404: notify learns of a dossier from its events, "
        "which may not have arrived yet."
    ),
    response_model=NotificationPage,
    responses=PROBLEM_RESPONSES,
)
async def list_dossier_notifications(
    conn: Conn,
    code: Annotated[str, Path(min_length=1, max_length=64, description="the dossier code")],
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="opaque cursor from a previous page")] = None,
) -> NotificationPage:
    rows, next_cursor = await service.list_notifications(conn, code, limit=limit, cursor=cursor)
    return NotificationPage(items=[NotificationOut.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)
