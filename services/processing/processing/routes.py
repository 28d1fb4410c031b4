"""HTTP endpoints: officer actions, tracking and the work queue."""

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from motcua_common.db import Conn
from motcua_common.problems import PROBLEM_JSON, PROBLEM_RESPONSES, Problem, ProblemError

from . import service
from .domain import Action
from .schemas import (
    DossierView,
    IssueResultRequest,
    NoteRequest,
    OpenStatus,
    RejectRequest,
    ReturnResultRequest,
    WorkQueuePage,
)
from .service import Officer
from .settings import Settings

router = APIRouter(prefix="/api/v1")
OFFICER_RESPONSES = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "No officer identity"},
}
DossierCode = Annotated[
    str, Path(min_length=1, max_length=64, description="Dossier code, e.g. 000.00.01.H29-261121-0001")
]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _officer(
    x_officer_id: Annotated[
        str | None, Header(max_length=128, description="Officer id set by the gateway; required")
    ] = None,
    x_officer_name: Annotated[
        str | None, Header(max_length=600, description="Officer name, percent-encoded UTF-8")
    ] = None,
) -> Officer:
    """The officer the gateway authenticated. The name may be percent-encoded UTF-8 (headers are Latin-1)."""
    officer_id = (x_officer_id or "").strip()
    if not officer_id:
        raise ProblemError(401, "unauthorized", "Chưa xác thực", "The X-Officer-Id header is required.")
    name = unquote(x_officer_name).strip()[:200] if x_officer_name else None
    return Officer(id=officer_id, name=name or None)


CurrentOfficer = Annotated[Officer, Depends(_officer)]
CurrentSettings = Annotated[Settings, Depends(_settings)]


def _action_route(path: str, summary: str, operation: str):
    return router.post(
        path,
        response_model=DossierView,
        tags=["Processing"],
        summary=summary,
        operation_id=f"processing_{operation}",
        responses=OFFICER_RESPONSES,
    )


@_action_route("/dossiers/{code}/actions/accept", "Accept a dossier for processing (tiếp nhận)", "accept_dossier")
async def accept(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    body: NoteRequest | None = None,
) -> DossierView:
    return await service.act(conn, settings, code, Action.ACCEPT, officer, note=body.note if body else None)


@_action_route("/dossiers/{code}/actions/approve", "Approve a dossier after appraisal (phê duyệt)", "approve_dossier")
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
)
async def reject(
    code: DossierCode, body: RejectRequest, officer: CurrentOfficer, conn: Conn, settings: CurrentSettings
) -> DossierView:
    return await service.act(conn, settings, code, Action.REJECT, officer, reason=body.reason)


@_action_route("/dossiers/{code}/actions/issue-result", "Issue the result document (ban hành kết quả)", "issue_result")
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
    responses=PROBLEM_RESPONSES,
)
async def get_dossier(code: DossierCode, conn: Conn) -> DossierView:
    return await service.view(conn, code)


@router.get(
    "/work-queue",
    response_model=WorkQueuePage,
    tags=["Processing"],
    summary="Officers' queue of open dossiers, soonest due first",
    operation_id="processing_work_queue",
    responses=OFFICER_RESPONSES,
)
async def work_queue(
    officer: CurrentOfficer,
    conn: Conn,
    unit_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: OpenStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> WorkQueuePage:
    return await service.work_queue(conn, unit_code=unit_code, status=status, limit=limit, cursor=cursor)
