"""HTTP endpoints: officer actions, tracking, the public lookup, a citizen's dossiers and the work queue.

Every caller is identified by the bearer access token (verified here with the provider's cached JWKS);
no identity header is trusted."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.types import DecoratedCallable

from motcua_common.auth import CurrentCitizen, CurrentOfficer, CurrentPrincipal
from motcua_common.db import Conn
from motcua_common.pagination import Cursor, Limit
from motcua_common.problems import PROBLEM_JSON, PROBLEM_RESPONSES, Problem

from . import service
from .domain import ACTION_ROLES, Action
from .schemas import (
    DossierView,
    IssueResultRequest,
    MyDossierPage,
    NoteRequest,
    OpenStatus,
    PublicDossierView,
    RejectRequest,
    ReturnResultRequest,
    WorkQueuePage,
)
from .settings import Settings

router = APIRouter(prefix="/api/v1")
AUTH_RESPONSES = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "No valid bearer access token"},
    403: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not allowed for this caller"},
}
OFFICER_RESPONSES = AUTH_RESPONSES
DossierCode = Annotated[
    str, Path(min_length=1, max_length=64, description="Dossier code, e.g. 000.26.01.H29-261121-0001-K7QX")
]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


CurrentSettings = Annotated[Settings, Depends(_settings)]


def _action_route(
    path: str, summary: str, operation: str, action: Action
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    roles = " or ".join(f"`{r}`" for r in sorted(ACTION_ROLES[action]))
    return router.post(
        path,
        response_model=DossierView,
        tags=["Processing"],
        summary=summary,
        operation_id=f"processing_{operation}",
        responses=OFFICER_RESPONSES,
        description=(
            f"Officers of the dossier's own unit with the role {roles}. The step is recorded under the "
            "officer's account id and name from the access token.\n\n"
            "Refusals: 401 without a valid token; 403 for a caller who is not an officer, for an officer of "
            "the unit without the role, and for officers who may read the dossier but not act on it (the "
            "receiving unit, a provincial operator); **404, as for an unknown code, for an officer of "
            "another unit**, so that the dossier's existence is not confirmed to them. 409 when the action "
            "does not fit the dossier's status."
        ),
    )


@_action_route(
    "/dossiers/{code}/actions/accept", "Accept a dossier for processing (tiếp nhận)", "accept_dossier", Action.ACCEPT
)
async def accept(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    body: NoteRequest | None = None,
) -> DossierView:
    return await service.act(conn, settings, code, Action.ACCEPT, officer, note=body.note if body else None)


@_action_route(
    "/dossiers/{code}/actions/approve",
    "Approve a dossier after appraisal (phê duyệt)",
    "approve_dossier",
    Action.APPROVE,
)
async def approve(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    body: NoteRequest | None = None,
) -> DossierView:
    return await service.act(conn, settings, code, Action.APPROVE, officer, note=body.note if body else None)


@_action_route(
    "/dossiers/{code}/actions/reject",
    "Refuse a dossier, with the reason (form 03 at reception)",
    "reject_dossier",
    Action.REJECT,
)
async def reject(
    code: DossierCode, body: RejectRequest, officer: CurrentOfficer, conn: Conn, settings: CurrentSettings
) -> DossierView:
    return await service.act(conn, settings, code, Action.REJECT, officer, reason=body.reason)


@_action_route(
    "/dossiers/{code}/actions/issue-result",
    "Issue the result document (ban hành kết quả)",
    "issue_result",
    Action.ISSUE_RESULT,
)
async def issue_result(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    body: IssueResultRequest | None = None,
) -> DossierView:
    return await service.act(
        conn, settings, code, Action.ISSUE_RESULT, officer, result_number=body.result_number if body else None
    )


@_action_route(
    "/dossiers/{code}/actions/return-result",
    "Return the result to the applicant (trả kết quả)",
    "return_result",
    Action.RETURN_RESULT,
)
async def return_result(
    code: DossierCode,
    body: ReturnResultRequest,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
) -> DossierView:
    return await service.act(conn, settings, code, Action.RETURN_RESULT, officer, method=body.method)


@router.get(
    "/dossiers/{code}",
    response_model=DossierView,
    tags=["Tracking"],
    summary="A dossier's status and timeline (process control sheet)",
    operation_id="processing_get_dossier",
    responses=AUTH_RESPONSES,
    description=(
        "Needs a bearer token (401 without). Answered for the dossier's applicant or submitting citizen "
        "(by token subject), officers of the competent unit or of the receiving unit, a provincial operator, "
        "and a partner with `dossiers:read` (only its own unit's dossiers when its token names a unit). "
        "Anyone else gets 404, exactly as for an unknown code."
    ),
)
async def get_dossier(code: DossierCode, principal: CurrentPrincipal, conn: Conn) -> DossierView:
    return await service.view(conn, code, principal)


@router.get(
    "/public/dossiers/{code}",
    response_model=PublicDossierView,
    tags=["Tracking"],
    summary="Public lookup by dossier code (tra cứu hồ sơ)",
    operation_id="processing_public_lookup",
    responses=PROBLEM_RESPONSES,
    description=(
        "No token needed. Only the status, its label, the current step's name, the unit and the due date: "
        "no name, no personal id, no address, no officer. Codes carry 6 random characters, so they cannot "
        "be enumerated in practice."
    ),
)
async def public_lookup(code: DossierCode, conn: Conn) -> PublicDossierView:
    return await service.public_view(conn, code)


@router.get(
    "/me/dossiers",
    response_model=MyDossierPage,
    tags=["Tracking"],
    summary="The calling citizen's dossiers, newest first",
    operation_id="processing_my_dossiers",
    responses=AUTH_RESPONSES,
    description=(
        "Citizens only (403 for other kinds of token): the dossiers where the caller is the applicant or "
        "the submitter, ordered by reception time then id, newest first. Cursor pagination: pass a page's "
        "`next_cursor` as `cursor`."
    ),
)
async def my_dossiers(citizen: CurrentCitizen, conn: Conn, limit: Limit = 20, cursor: Cursor = None) -> MyDossierPage:
    return await service.my_dossiers(conn, citizen, limit=limit, cursor=cursor)


@router.get(
    "/work-queue",
    response_model=WorkQueuePage,
    tags=["Processing"],
    summary="Officers' queue of open dossiers, soonest due first",
    operation_id="processing_work_queue",
    responses=OFFICER_RESPONSES,
    description=(
        "Officers only. The queue of the officer's own unit; `unit_code` may name only that unit (403 "
        "otherwise). A provincial operator may pass any `unit_code`, or none for every unit of the province."
    ),
)
async def work_queue(
    officer: CurrentOfficer,
    conn: Conn,
    unit_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: OpenStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> WorkQueuePage:
    return await service.work_queue(conn, officer, unit_code=unit_code, status=status, limit=limit, cursor=cursor)
