from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response

from motcua_common.db import Conn
from motcua_common.pagination import Cursor, Limit
from motcua_common.problems import PROBLEM_RESPONSES

from . import service
from .schemas import DossierCreate, DossierReceipt, DossierTracking, ProcedureDetail, ProcedurePage

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)


@router.get(
    "/procedures",
    response_model=ProcedurePage,
    tags=["Catalogue"],
    operation_id="intake_list_procedures",
    summary="List administrative procedures (thủ tục hành chính)",
)
async def list_procedures(
    conn: Conn,
    limit: Limit = 20,
    cursor: Cursor = None,
    level: Literal["province", "commune", "commune_police", "delegated"] | None = None,
    online_level: Literal["full", "partial"] | None = None,
) -> ProcedurePage:
    return await service.list_procedures(conn, cursor=cursor, limit=limit, level=level, online_level=online_level)


@router.get(
    "/procedures/{code}",
    response_model=ProcedureDetail,
    tags=["Catalogue"],
    operation_id="intake_get_procedure",
    summary="One procedure with its required components",
)
async def get_procedure(code: str, conn: Conn) -> ProcedureDetail:
    return await service.get_procedure(conn, code)


@router.post(
    "/dossiers",
    status_code=201,
    response_model=DossierReceipt,
    tags=["Dossiers"],
    operation_id="intake_submit_dossier",
    summary="Submit a dossier (nộp hồ sơ)",
    responses={503: PROBLEM_RESPONSES[409] | {"description": "Population database unavailable"}},
    description="Verifies the applicant against the national population database, prefills what it "
    "holds, computes the appointment date on the legal clock and returns the electronic "
    "receipt. Send a unique `Idempotency-Key` per dossier: a retry with the same key and "
    "body returns the same dossier (header `Idempotent-Replayed: true`).",
)
async def submit_dossier(
    body: DossierCreate,
    conn: Conn,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"\S",
            description="A unique key per dossier (e.g. a UUID); a retry reuses it.",
        ),
    ],
) -> DossierReceipt:
    state = request.app.state
    receipt, replayed = await service.submit(
        conn,
        state.registry,
        state.clock,
        body=body,
        idempotency_key=idempotency_key.strip(),
        topic=state.settings.dossier_topic,
        request_id=getattr(request.state, "request_id", None),
    )
    response.headers["Location"] = f"/api/v1/dossiers/{receipt.code}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return receipt


@router.get(
    "/dossiers/{code}",
    response_model=DossierTracking,
    tags=["Dossiers"],
    operation_id="intake_get_dossier",
    summary="A received dossier, before processing opens its case",
)
async def get_dossier(code: str, conn: Conn) -> DossierTracking:
    return await service.get_tracking(conn, code)
