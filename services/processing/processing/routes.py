"""HTTP endpoints: officer actions, tracking, the public lookup, a citizen's dossiers and the work queue.

Every caller is identified by the bearer access token (verified here with the provider's cached JWKS);
no identity header is trusted."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from motcua_common.auth import CurrentCitizen, CurrentOfficer, CurrentPrincipal, Principal
from motcua_common.contracts import OpenStatus
from motcua_common.db import Conn, ReadConn
from motcua_common.pagination import Cursor, Limit
from motcua_common.problems import PROBLEM_JSON, PROBLEM_RESPONSES, Problem, ProblemError
from motcua_common.procedures import PROCEDURE_CODE_PATTERN, STEP_KEY_PATTERN

from . import repository, service
from .deadlines import Clock
from .domain import LEGACY_ALIASES, ActionRequest, resolve_alias
from .measure import service as measure_service
from .schemas import (
    ActionBody,
    AllowedActions,
    DossierView,
    ExtensionBody,
    IssueResultRequest,
    MyDossierPage,
    NoteRequest,
    PublicDossierView,
    RejectRequest,
    ReturnResultRequest,
    SupplementBody,
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
    str,
    Path(min_length=1, max_length=64, description="Dossier code, e.g. 000.26.01.H29-261121-0001-K7QX (or its id)"),
]


# Dependencies are coroutines on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
# hand-off per dependency per request (issue 7's profile of processing: 4% of its CPU in ``run_in_threadpool`` and
# as much again in the worker threads' locks, for two attribute reads).
async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _clock(request: Request) -> Clock:
    return request.app.state.clock


CurrentSettings = Annotated[Settings, Depends(_settings)]
CurrentClock = Annotated[Clock, Depends(_clock)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Optional: a retry with the same key and body gets the first answer again "
        "(`Idempotent-Replayed: true`); the same key with another body is a 422.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=40,
        description='Optional: the dossier\'s `version` (its ETag, e.g. `"3"`) the caller saw; 412 if it has '
        "changed since.",
    ),
]
WRITE_RESPONSES = {
    **OFFICER_RESPONSES,
    412: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "If-Match names another version"},
}
WHO_ACTS = (
    "Officers of the unit holding the dossier's current step (the receiving unit, the competent unit or the agency "
    "it was transferred to) with one of the roles the procedure's definition gives that step. The step is recorded "
    "under the officer's account id and name from the access token.\n\n"
    "Refusals: 401 without a valid token; 403 for a caller who may read the dossier but not act on it (another "
    "unit that held it, a provincial operator, a citizen party, an officer of the unit without the step's role); "
    "**404, as for an unknown code, for an officer of another unit** that never held it, so that the dossier's "
    "existence is not confirmed to them. 409 `invalid-transition` when the current step does not offer the action "
    "(`allowed_actions` lists what it offers); 409 `supplement-limit-reached`; 422 when a field the action needs is "
    "missing."
)


def _uuid_text(value: Any) -> str:
    if isinstance(value, UUID):  # asyncpg's own UUID class, which orjson does not take for uuid.UUID
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def page_response(page: dict[str, Any]) -> Response:
    """A page the service built as a dict with its response model's fields (``service``'s note on pages built as
    dicts), sent as JSON as FastAPI would send the model: datetimes in ISO 8601 with ``Z``, UUIDs as strings."""
    return Response(orjson.dumps(page, default=_uuid_text, option=orjson.OPT_UTC_Z), media_type="application/json")


def if_match_version(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"`` or ``3``); None for none or ``*``."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError(400, "bad-if-match", "Tiêu đề If-Match không hợp lệ", "If-Match must be a version number.")
    return int(text)


async def _write(
    conn: Conn,
    caller: Principal,
    idempotency: tuple[str | None, str, BaseModel],
    if_match: str | None,
    response: Response,
    run: Callable[[int | None], Awaitable[DossierView]],
) -> dict:
    """A write on a dossier: once per Idempotency-Key (``idempotency`` = key, operation, body), only at the version
    If-Match names; the answer carries the dossier's new version as its ETag."""
    version = if_match_version(if_match)
    key, operation, body = idempotency
    answer, replayed = await service.idempotent(conn, caller, key, operation, body, lambda: run(version))
    response.headers["ETag"] = f'"{answer["version"]}"'
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@router.post(
    "/dossiers/{code}/actions",
    response_model=DossierView,
    tags=["Processing"],
    summary="Take an action on the dossier's current step (the procedure's definition says which)",
    operation_id="processing_act",
    responses=WRITE_RESPONSES,
    description=WHO_ACTS
    + "\n\nKinds: receive (the legal clock starts), refuse (form 03, `reason`), request_supplement (form 02, "
    "`reason`, `components_requested`; the clock pauses or will restart), forward, transfer (`transfer_unit_code`), "
    "approve, reject (`reason`), issue_result (`result_number`), return_result (`return_method`). "
    "`GET …/actions` lists what the caller may do now. `{code}` is the dossier's code or id.",
)
async def act(
    code: DossierCode,
    body: ActionBody,
    officer: CurrentPrincipal,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict:
    request = ActionRequest(
        kind=body.action,
        target=body.target,
        reason=body.reason,
        note=body.note,
        transfer_unit_code=body.transfer_unit_code,
        return_method=body.return_method,
        result_number=body.result_number,
        components_requested=tuple(body.components_requested),
    )
    return await _write(
        conn,
        officer,
        (idempotency_key, f"act:{code}", body),
        if_match,
        response,
        lambda version: service.act(conn, settings, clock, code, request, officer, if_match=version),
    )


@router.get(
    "/dossiers/{code}/actions",
    response_model=AllowedActions,
    tags=["Processing"],
    summary="What the caller may do on the dossier now",
    operation_id="processing_allowed_actions",
    responses=AUTH_RESPONSES,
    description="For those who may read the dossier (404 for anyone else): an officer of the unit holding the "
    "current step sees the step's actions their roles allow (and `extend` for the unit's head or approver); the "
    "applicant or submitting citizen, and receiving officers of the receiving unit, see `supplement` while a "
    "supplement is awaited; everyone else an empty list.",
)
async def allowed(code: DossierCode, principal: CurrentPrincipal, conn: ReadConn) -> AllowedActions:
    return await service.allowed_actions(conn, code, principal)


@router.post(
    "/dossiers/{code}/supplements",
    response_model=DossierView,
    tags=["Processing"],
    summary="Supplement the dossier after a supplement request (bổ sung hồ sơ)",
    operation_id="processing_supplement",
    responses=WRITE_RESPONSES,
    description="The dossier's applicant or submitting citizen, or a receiving officer of the unit that received "
    "it (at the counter, on the applicant's behalf). Documents are named by their ids in the applicant's vault "
    "(intake); processing keeps only the ids. The legal clock runs again (the time left at the pause, or the whole "
    "time anew, per the procedure) and the dossier goes back to the step that asked. 409 when no supplement is "
    "awaited; 403 for others who may read the dossier; 404 for anyone else.",
)
async def supplement(
    code: DossierCode,
    body: SupplementBody,
    principal: CurrentPrincipal,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict:
    return await _write(
        conn,
        principal,
        (idempotency_key, f"supplement:{code}", body),
        if_match,
        response,
        lambda version: service.supplement(
            conn, settings, clock, code, principal, note=body.note, document_ids=body.document_ids, if_match=version
        ),
    )


@router.post(
    "/dossiers/{code}/extensions",
    response_model=DossierView,
    tags=["Processing"],
    summary="Extend the due date with an apology (form 04)",
    operation_id="processing_extend",
    responses=WRITE_RESPONSES,
    description="The `unit_head` or an `approver` of the unit holding the dossier, while its clock runs. The new "
    "due date must be later than the current one and fall on a working day (422 otherwise). The applicant is told "
    "by e-mail or SMS. The extension does not change the legal due date the unit's timeliness is judged on.",
)
async def extend(
    code: DossierCode,
    body: ExtensionBody,
    officer: CurrentPrincipal,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict:
    return await _write(
        conn,
        officer,
        (idempotency_key, f"extend:{code}", body),
        if_match,
        response,
        lambda version: service.extend(
            conn, settings, clock, code, officer, reason=body.reason, new_due_at=body.new_due_at, if_match=version
        ),
    )


def _action_route(path: str, summary: str, operation: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    return router.post(
        path,
        response_model=DossierView,
        tags=["Processing"],
        summary=summary,
        operation_id=f"processing_{operation}",
        responses=OFFICER_RESPONSES,
        deprecated=True,
        description="**Deprecated**: use `POST /api/v1/dossiers/{code}/actions`. Takes the kind of action this "
        "path stands for at the dossier's current step.\n\n" + WHO_ACTS,
    )


async def _legacy(
    conn: Conn, settings: Settings, clock: Clock, code: str, alias: str, officer: Principal, **fields: Any
) -> DossierView:
    """A deprecated per-action endpoint: the kind it stands for at the current step, through the engine."""
    row = await repository.get_dossier(conn, code)
    kind = alias
    if row is not None:
        definition = await service.definition_of(conn, row["procedure_code"], row["procedure_version"])
        if definition is not None:
            kind = resolve_alias(definition, row, alias)
    request = ActionRequest(kind=LEGACY_ALIASES[alias][0] if kind == alias else kind, **fields)
    return await service.act(conn, settings, clock, code, request, officer)


@_action_route("/dossiers/{code}/actions/accept", "Accept a dossier for processing (tiếp nhận)", "accept_dossier")
async def accept(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    body: NoteRequest | None = None,
) -> DossierView:
    return await _legacy(conn, settings, clock, code, "accept", officer, note=body.note if body else None)


@_action_route("/dossiers/{code}/actions/approve", "Approve a dossier after appraisal (phê duyệt)", "approve_dossier")
async def approve(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    body: NoteRequest | None = None,
) -> DossierView:
    return await _legacy(conn, settings, clock, code, "approve", officer, note=body.note if body else None)


@_action_route(
    "/dossiers/{code}/actions/reject", "Refuse a dossier, with the reason (form 03 at reception)", "reject_dossier"
)
async def reject(
    code: DossierCode,
    body: RejectRequest,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
) -> DossierView:
    return await _legacy(conn, settings, clock, code, "reject", officer, reason=body.reason)


@_action_route("/dossiers/{code}/actions/issue-result", "Issue the result document (ban hành kết quả)", "issue_result")
async def issue_result(
    code: DossierCode,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
    body: IssueResultRequest | None = None,
) -> DossierView:
    return await _legacy(
        conn, settings, clock, code, "issue-result", officer, result_number=body.result_number if body else None
    )


@_action_route(
    "/dossiers/{code}/actions/return-result", "Return the result to the applicant (trả kết quả)", "return_result"
)
async def return_result(
    code: DossierCode,
    body: ReturnResultRequest,
    officer: CurrentOfficer,
    conn: Conn,
    settings: CurrentSettings,
    clock: CurrentClock,
) -> DossierView:
    return await _legacy(conn, settings, clock, code, "return-result", officer, return_method=body.method)


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
async def get_dossier(
    code: DossierCode,
    principal: CurrentPrincipal,
    conn: ReadConn,
    request: Request,
    response: Response,
) -> DossierView:
    state = request.app.state  # not CurrentSettings and CurrentClock: two dependencies fewer to solve per request
    found = await service.view(conn, state.settings, state.clock, code, principal)
    response.headers["ETag"] = f'"{found.version}"'
    return found


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
async def public_lookup(code: DossierCode, conn: ReadConn) -> PublicDossierView:
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
async def my_dossiers(citizen: CurrentCitizen, conn: ReadConn, limit: Limit = 20, cursor: Cursor = None) -> Response:
    return page_response(await service.my_dossiers(conn, citizen, limit=limit, cursor=cursor))


QueueRole = Literal["receiving_officer", "specialist", "approver", "unit_head"]


@router.get(
    "/work-queue",
    response_model=WorkQueuePage,
    tags=["Processing"],
    summary="Officers' queue of open dossiers, soonest due first",
    operation_id="processing_work_queue",
    responses=OFFICER_RESPONSES,
    description=(
        "Officers only (403 for other callers). The open dossiers whose current step is held by the officer's "
        "unit and names one of the officer's roles in the procedure's definition; the `unit_head` and a "
        "`provincial_operator` see every step of the unit, and may narrow it to one `role`. `unit_code` may name "
        "only the officer's own unit (403 otherwise); a provincial operator may name any unit, or none for every "
        "unit of the province. Ordered by due date then id.\n\n"
        "Filters: `overdue=true` (past the due date), `due_soon=true` (within the due-soon window before the due "
        "date, not yet overdue; not with `overdue`), both leaving out dossiers waiting for a supplement (their "
        "clock is suspended); `procedure_code`; `step` (the step key in the definition, e.g. `appraise`); "
        "`status`; `role` (an officer may name one of their own roles only). Cursor pagination: pass a page's "
        "`next_cursor` as `cursor` **with the same filters**: a cursor issued for other filters is a 400 "
        "`invalid-cursor`. Each item carries no personal data."
    ),
)
async def work_queue(
    officer: CurrentOfficer,
    conn: ReadConn,
    request: Request,
    unit_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: OpenStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    role: Annotated[QueueRole | None, Query(description="only the steps naming this role")] = None,
    procedure_code: Annotated[
        str | None, Query(pattern=PROCEDURE_CODE_PATTERN, max_length=40, description="e.g. 1.001193")
    ] = None,
    step: Annotated[str | None, Query(pattern=STEP_KEY_PATTERN, max_length=40, description="e.g. appraise")] = None,
    overdue: Annotated[bool, Query(description="true: only dossiers past their due date")] = False,
    due_soon: Annotated[bool, Query(description="true: only dossiers due soon, not yet overdue")] = False,
) -> Response:
    page = await service.work_queue(
        conn,
        request.app.state.settings,
        request.app.state.clock,
        officer,
        unit_code=unit_code,
        role=role,
        status=status,
        procedure_code=procedure_code,
        step=step,
        overdue=overdue,
        due_soon=due_soon,
        limit=limit,
        cursor=cursor,
    )
    if cursor is None:  # the follow-ups of low ratings (issue 9) come with the first page
        page["follow_ups"] = await measure_service.open_follow_ups_for_queue(
            conn, officer, unit_code=unit_code, limit=limit
        )
    return page_response(page)
