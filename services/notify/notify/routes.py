"""HTTP endpoints of notify. Every caller is identified by the bearer access token, verified here."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query

from motcua_common import PROBLEM_JSON, PROBLEM_RESPONSES, Conn, Problem
from motcua_common.auth import CurrentCitizen, CurrentPrincipal
from motcua_common.pagination import Cursor, Limit

from . import service
from .schemas import NotificationOut, NotificationPage

router = APIRouter(prefix="/api/v1", tags=["Notifications"])
AUTH_RESPONSES = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "No valid bearer access token"},
    403: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not a citizen's token"},
}


def _page(rows: list[Any], next_cursor: str | None) -> NotificationPage:
    return NotificationPage(items=[NotificationOut.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)


@router.get(
    "/dossiers/{code}/notifications",
    operation_id="notify_list_dossier_notifications",
    summary="Thông báo của một hồ sơ",
    description=(
        "The notifications sent about one dossier to its recipient, oldest first: one `app` notification "
        "(the in-app inbox) per dossier event, plus one `email` when the applicant gave an email address. "
        "Only the dossier's recipient (the token's subject is the contact's `recipient_subject`) gets them; "
        "anyone else, and anyone before notify has learnt the dossier's contact, gets 404. 401 without a "
        "token. Cursor pagination: pass the `next_cursor` of a page as `cursor` to get the next one."
    ),
    response_model=NotificationPage,
    responses=AUTH_RESPONSES,
)
async def list_dossier_notifications(
    principal: CurrentPrincipal,
    conn: Conn,
    code: Annotated[str, Path(min_length=1, max_length=64, description="the dossier code")],
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationPage:
    return _page(*await service.list_notifications(conn, principal, code, limit=limit, cursor=cursor))


@router.get(
    "/me/notifications",
    operation_id="notify_my_notifications",
    summary="Hộp thư thông báo của tôi",
    description=(
        "Citizens only (403 for other tokens): the caller's in-app notifications (`app` channel) about all "
        "their dossiers, newest first. `unread=true`: only those not read yet; `unread=false`: only those "
        "already read; absent: all. Cursor pagination."
    ),
    response_model=NotificationPage,
    responses=AUTH_RESPONSES,
)
async def my_notifications(
    citizen: CurrentCitizen,
    conn: Conn,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationPage:
    return _page(*await service.inbox(conn, citizen, unread=unread, limit=limit, cursor=cursor))


@router.post(
    "/me/notifications/{notification_id}/read",
    operation_id="notify_mark_read",
    summary="Đánh dấu đã đọc",
    description=(
        "Marks one of the caller's in-app notifications read and returns it; marking it again keeps the first "
        "`read_at`. Someone else's notification, or an unknown id, answers 404."
    ),
    response_model=NotificationOut,
    responses=AUTH_RESPONSES,
)
async def mark_read(citizen: CurrentCitizen, conn: Conn, notification_id: UUID) -> NotificationOut:
    return NotificationOut.model_validate(dict(await service.mark_read(conn, citizen, notification_id)))
