from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, Response, UploadFile

from motcua_common.auth import CurrentCitizen, CurrentPrincipal
from motcua_common.db import Conn
from motcua_common.pagination import Cursor, Limit
from motcua_common.problems import PROBLEM_RESPONSES
from motcua_common.procedures import ProcedureCodeStr

from . import service, versions
from .schemas import (
    Correction,
    CorrectionCreate,
    Document,
    DocumentPage,
    DossierApplication,
    DossierCreate,
    DossierPreview,
    DossierReceipt,
    DossierTracking,
    OnceOnlyScore,
    PreviewRequest,
    ProcedureDetail,
    ProcedureDraft,
    ProcedurePage,
    ProcedureVersion,
    ProcedureVersionPage,
    PublicDossier,
)

DOCUMENT_TYPES = ("application/pdf", "image/jpeg", "image/png")

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_RESPONSES[400] | {"description": "No or invalid access token"},
    403: PROBLEM_RESPONSES[400] | {"description": "Not allowed for this caller"},
}
REGISTRY_RESPONSES = AUTH_RESPONSES | {503: PROBLEM_RESPONSES[409] | {"description": "Registry unavailable"}}


def today(request: Request) -> date:
    """The date in the service's time zone (Asia/Ho_Chi_Minh): which versions are in force."""
    return datetime.now(request.app.state.clock.tz).date()


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
    *,
    request: Request,
) -> ProcedurePage:
    return await service.list_procedures(
        conn, today=today(request), cursor=cursor, limit=limit, level=level, online_level=online_level
    )


@router.get(
    "/procedures/{code}",
    response_model=ProcedureDetail,
    tags=["Catalogue"],
    operation_id="intake_get_procedure",
    summary="One procedure with its required components",
)
async def get_procedure(code: str, conn: Conn, request: Request) -> ProcedureDetail:
    return await service.get_procedure(conn, code, today(request))


@router.post(
    "/procedures/{code}/versions",
    status_code=201,
    response_model=ProcedureVersion,
    tags=["Catalogue"],
    operation_id="intake_publish_procedure_version",
    summary="Publish a new version of a procedure (provincial operator)",
    responses=AUTH_RESPONSES
    | {
        200: {
            "model": ProcedureVersion,
            "description": "The same definition as the latest version: that version, nothing published",
        }
    },
    description="Only an officer with the `provincial_operator` role (403 for anyone else, 401 without a token). "
    "The body is a procedure definition without `version`: intake assigns the last version + 1, announces it "
    "(`vn.motcua.procedure.version_published.v1` on the catalogue topic) and it becomes the version dossiers are "
    "received under from `effective_from` (not in the past, not before the latest version's); the earlier "
    "versions end the day before. Dossiers already received keep their version. 422 when the definition is "
    "invalid: steps leading nowhere, step budgets that do not add up to the overall budget, bundle members not in "
    "the catalogue, a competent unit of another level. `unit_code` names the competent unit (required for a "
    "procedure new to the catalogue; otherwise the province's current assignment).",
)
async def publish_version(
    code: Annotated[ProcedureCodeStr, Path()],
    body: ProcedureDraft,
    principal: CurrentPrincipal,
    conn: Conn,
    request: Request,
    response: Response,
    unit_code: Annotated[
        str | None, Query(max_length=64, description="the competent unit of this and later versions")
    ] = None,
) -> ProcedureVersion:
    version, created = await versions.publish(
        conn,
        principal,
        code,
        body,
        unit_code=unit_code,
        topic=request.app.state.settings.catalogue_topic,
        today=today(request),
    )
    response.headers["Location"] = f"/api/v1/procedures/{code}/versions/{version.version}"
    if not created:
        response.status_code = 200
    return version


@router.get(
    "/procedures/{code}/versions",
    response_model=ProcedureVersionPage,
    tags=["Catalogue"],
    operation_id="intake_list_procedure_versions",
    summary="Every version of a procedure, oldest first, with its definition and window",
)
async def list_versions(
    code: str, conn: Conn, request: Request, limit: Limit = 20, cursor: Cursor = None
) -> ProcedureVersionPage:
    return await versions.list_versions(conn, code, cursor=cursor, limit=limit, today=today(request))


@router.get(
    "/procedures/{code}/versions/{version}",
    response_model=ProcedureVersion,
    tags=["Catalogue"],
    operation_id="intake_get_procedure_version",
    summary="One version of a procedure: the definition dossiers received under it follow",
)
async def get_version(
    code: str, version: Annotated[int, Path(ge=1, le=2_147_483_647)], conn: Conn, request: Request
) -> ProcedureVersion:
    return await versions.get_version(conn, code, version, today(request))


@router.get(
    "/procedures/{code}/once-only",
    response_model=OnceOnlyScore,
    tags=["Catalogue"],
    operation_id="intake_once_only_score",
    summary="Once-only score: how much of the procedure's dossiers came from the registry or the vault",
    description="Over every dossier of the procedure: the share of applicant fields prefilled from the national "
    "registries (the rest were typed) and the share of components attached from the citizen's vault (the rest "
    "were new uploads), with the counts behind each share.",
)
async def once_only(code: str, conn: Conn) -> OnceOnlyScore:
    return await service.once_only(conn, code)


@router.post(
    "/dossiers/preview",
    response_model=DossierPreview,
    tags=["Dossiers"],
    operation_id="intake_preview_dossier",
    summary="Preview what a submission would prefill (nothing is stored)",
    responses=REGISTRY_RESPONSES,
    description="Same callers and rules as submitting. Each field comes with its origin: `registry` "
    "(prefilled from the population or business registry) or `typed` (given by the caller).",
)
async def preview_dossier(body: PreviewRequest, principal: CurrentPrincipal, request: Request) -> DossierPreview:
    state = request.app.state
    return await service.preview(
        state.pool,
        state.registry,
        state.clock,
        principal=principal,
        body=body,
        request_id=getattr(request.state, "request_id", None),
    )


@router.post(
    "/dossiers",
    status_code=201,
    response_model=DossierReceipt,
    tags=["Dossiers"],
    operation_id="intake_submit_dossier",
    summary="Submit a dossier (nộp hồ sơ)",
    responses=REGISTRY_RESPONSES,
    description="Who may submit: a citizen online, for themself (the default applicant) or for someone they "
    "hold a mandate for (a household minor, a written authorization, an organisation they represent: the "
    "registry decides, 403 `applicant-not-permitted` otherwise); a receiving officer with channel `counter` "
    "or `service_centre` (the receiving unit is the officer's); a partner with scope `dossiers:submit-post` "
    "with channel `post`. Other callers and channels are refused with 403 before the registry is asked. "
    "Components may attach a document of the submitter's vault by `document_id`. Send a unique "
    "`Idempotency-Key` per dossier: a retry by the same caller with the same key and body returns the same "
    "dossier (header `Idempotent-Replayed: true`); keys of different callers never collide.",
)
async def submit_dossier(
    body: DossierCreate,
    principal: CurrentPrincipal,
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
        state.pool,
        state.registry,
        state.clock,
        state.settings,
        principal=principal,
        body=body,
        idempotency_key=idempotency_key.strip(),
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
    responses=AUTH_RESPONSES,
    description="For the applicant or the citizen who submitted, officers of the competent or receiving unit, "
    "the provincial operator, and partners with `dossiers:read` (only their unit's if their token names one). "
    "Anyone else gets 404, exactly as for a code that does not exist: a 403 would confirm the code is real.",
)
async def get_dossier(code: str, principal: CurrentPrincipal, conn: Conn) -> DossierTracking:
    return await service.get_tracking(conn, principal, code)


@router.get(
    "/public/dossiers/{code}",
    response_model=PublicDossier,
    tags=["Dossiers"],
    operation_id="intake_public_dossier",
    summary="Public look-up by code: status, current step, unit and due date only",
)
async def public_dossier(code: str, conn: Conn) -> PublicDossier:
    return await service.get_public(conn, code)


@router.get(
    "/dossiers/{code}/application",
    response_model=DossierApplication,
    tags=["Dossiers"],
    operation_id="intake_get_application",
    summary="The application as submitted, with field origins and reused components",
    responses=AUTH_RESPONSES,
    description="For the applicant, the citizen who submitted, and officers of the competent or receiving unit; "
    "404 for anyone else.",
)
async def get_application(code: str, principal: CurrentPrincipal, conn: Conn) -> DossierApplication:
    return await service.get_application(conn, principal, code)


@router.post(
    "/dossiers/{code}/corrections",
    status_code=201,
    response_model=Correction,
    tags=["Dossiers"],
    operation_id="intake_request_correction",
    summary="Flag a field prefilled from the registry as wrong",
    responses=AUTH_RESPONSES,
    description="For the applicant or the citizen who submitted. Only fields whose origin is `registry`; the "
    "annotation shows on the application and the registry is asked to review the record.",
)
async def request_correction(
    code: str, body: CorrectionCreate, principal: CurrentPrincipal, conn: Conn, request: Request
) -> Correction:
    return await service.request_correction(
        conn, principal, code, body, topic=request.app.state.settings.personal_topic
    )


@router.post(
    "/me/documents",
    status_code=201,
    response_model=Document,
    tags=["Documents"],
    operation_id="intake_upload_document",
    summary="Upload a document to your vault (PDF, JPEG or PNG)",
    responses=AUTH_RESPONSES | {415: PROBLEM_RESPONSES[422] | {"description": "Not a PDF, JPEG or PNG"}},
    description="Multipart form: `file` and `doc_type`. The type is read from the file's bytes; the size limit is "
    "`INTAKE_MAX_DOCUMENT_BYTES` (5 MiB by default, 413 above). The same content uploaded again returns the "
    "stored document with 200.",
)
async def upload_document(
    citizen: CurrentCitizen,
    conn: Conn,
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="the document")],
    doc_type: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w.:-]+$", examples=["giay-chung-sinh"])],
) -> Document:
    limit = request.app.state.settings.max_document_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise service.too_large(limit)
    document, created = await service.upload_document(
        conn, citizen, content=content, file_name=(file.filename or None), doc_type=doc_type
    )
    if not created:
        response.status_code = 200
    return document


@router.get(
    "/me/documents",
    response_model=DocumentPage,
    tags=["Documents"],
    operation_id="intake_list_documents",
    summary="Your vault: uploads and results of earlier dossiers, newest first",
    responses=AUTH_RESPONSES,
)
async def list_documents(citizen: CurrentCitizen, conn: Conn, limit: Limit = 20, cursor: Cursor = None) -> DocumentPage:
    return await service.list_documents(conn, citizen, cursor=cursor, limit=limit)


@router.get(
    "/me/documents/{document_id}/content",
    tags=["Documents"],
    operation_id="intake_document_content",
    summary="The file of one of your uploads",
    response_class=Response,
    responses=AUTH_RESPONSES
    | {
        200: {
            "description": "The file, with the type it was recognised as",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in DOCUMENT_TYPES},
        }
    },
)
async def document_content(document_id: UUID, citizen: CurrentCitizen, conn: Conn) -> Response:
    row = await service.document_content(conn, citizen, document_id)
    name = quote(row["file_name"] or str(row["id"]))
    return Response(
        content=bytes(row["content"]),
        media_type=row["content_type"],
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
