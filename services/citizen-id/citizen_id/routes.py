"""HTTP endpoints of the citizen-id service: registry reads on someone's behalf (services only) and the
citizen's own pages (``/me``). Nothing unauthenticated returns personal data."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from motcua_common import PROBLEM_JSON, PROBLEM_RESPONSES, Conn, Problem
from motcua_common.auth import CurrentCitizen, TokenVerifier, bearer_token
from motcua_common.db import StatementConn
from motcua_common.pagination import Cursor, Limit

from . import service
from .schemas import (
    AccessLogEntry,
    AccessLogPage,
    Address,
    CitizenRecord,
    Correction,
    Mandates,
    Organisation,
    PrefillPerson,
    PrefillRequest,
    PrefillResponse,
    PreviewRequest,
)

_RESPONSES = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Missing or invalid access token"},
    403: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not allowed for this caller"},
}
router = APIRouter(prefix="/api/v1", responses=_RESPONSES)


async def _registry_caller(
    request: Request,
    on_behalf_of: Annotated[
        str | None,
        Header(
            alias="X-On-Behalf-Of",
            description="The end user's access token (a citizen, or an officer at a counter); `Bearer ` optional",
        ),
    ] = None,
) -> service.Caller:
    verifier: TokenVerifier = request.app.state.verifier
    token = bearer_token(request)
    caller = service.check_service(await verifier.verify(token) if token else None)
    user_token = (on_behalf_of or "").strip()
    if user_token[:7].lower() == "bearer ":
        user_token = user_token[7:].strip()
    user = service.check_user(await verifier.verify(user_token) if user_token else None)
    return service.Caller(caller, user)


RegistryCaller = Annotated[service.Caller, Depends(_registry_caller)]

_READ_RULES = (
    "Needs a **service** token with scope `registry:read` in `Authorization` and the end user's access token in "
    "`X-On-Behalf-Of`. The user may read: their own record (`self`); a minor child or a ward of a household they "
    "head or are the spouse of the head of (`household`); a person whose written authorization to them is valid "
    "today (`authorization`); as a receiving officer, any citizen served at a counter (`counter`); an organisation "
    "(by `tax_code`) they are the legal representative of or authorized by (`organisation`). Anything else is 403 "
    "and the record is neither read nor logged. Every read is logged for the person (or organisation) with the "
    "user, the calling service, the fields and the purpose."
)


def _response(read: service.Read) -> PrefillResponse:
    if read.tax_code is not None:
        return PrefillResponse(
            verified=True,
            on_behalf_via=read.via,
            tax_code=read.tax_code,
            organisation=Organisation(**read.organisation or {}),
            role=read.role,  # type: ignore[arg-type]  # company_role answers one of the two roles
        )
    return PrefillResponse(
        verified=True,
        on_behalf_via=read.via,
        personal_id=read.personal_id,
        subject=read.subject,
        person=PrefillPerson(**read.person or {}),
    )


@router.post(
    "/identity/prefill",
    response_model=PrefillResponse,
    response_model_exclude_unset=True,
    tags=["Identity"],
    operation_id="citizen_id_prefill",
    summary="Verify a person (or organisation) and prefill their data for a stated purpose, on a user's behalf",
    description=_READ_RULES,
)
async def prefill(body: PrefillRequest, caller: RegistryCaller, conn: StatementConn) -> PrefillResponse:
    read = await service.read_for(
        conn, caller, personal_id=body.personal_id, tax_code=body.tax_code, fields=body.fields, purpose=body.purpose
    )
    return _response(read)


@router.post(
    "/identity/preview",
    response_model=PrefillResponse,
    response_model_exclude_unset=True,
    tags=["Identity"],
    operation_id="citizen_id_preview",
    summary="What a submission would prefill, before the dossier exists",
    description=_READ_RULES + " Logged with purpose `preview:<procedure_code>`.",
)
async def preview(body: PreviewRequest, caller: RegistryCaller, conn: StatementConn) -> PrefillResponse:
    read = await service.read_for(
        conn,
        caller,
        personal_id=body.personal_id,
        tax_code=body.tax_code,
        fields=body.fields,
        purpose=f"preview:{body.procedure_code}",
    )
    return _response(read)


@router.get(
    "/me/profile",
    response_model=CitizenRecord,
    tags=["Me"],
    operation_id="citizen_id_my_profile",
    summary="My record as the population registry holds it",
    description="Citizen token only. Reading one's own record is not an access by a third party and is not "
    "added to the access log. Includes the corrections the citizen asked for that are still open.",
)
async def my_profile(citizen: CurrentCitizen, conn: Conn) -> CitizenRecord:
    p = await service.profile(conn, citizen)
    r = p.record
    return CitizenRecord(
        personal_id=r["personal_id"],
        full_name=r["full_name"],
        family_name=r["family_name"],
        middle_name=r["middle_name"],
        given_name=r["given_name"],
        date_of_birth=r["date_of_birth"],
        sex=r["sex"],
        permanent_address=r["permanent_address"],
        address=Address(
            province_code=r["province_code"],
            province_name=r["province_name"],
            ward_code=r["ward_code"],
            ward_name=r["ward_name"],
            street=r["street"],
        ),
        email=r["email"],
        phone=r["phone"],
        status=r["status"],
        subject=r["subject"],
        open_corrections=[Correction(**dict(c)) for c in p.corrections],
    )


@router.get(
    "/me/access-log",
    response_model=AccessLogPage,
    tags=["Me"],
    operation_id="citizen_id_my_access_log",
    summary="Every read of my data, newest first: by whom, through which system, which fields, for what",
    description="Citizen token only. Cursor-paginated: pass `next_cursor` of a page as `cursor` to get the next.",
)
async def my_access_log(citizen: CurrentCitizen, conn: Conn, limit: Limit = 20, cursor: Cursor = None) -> AccessLogPage:
    page = await service.access_log(conn, citizen, limit, cursor)
    return AccessLogPage(items=[AccessLogEntry(**i) for i in page.items], next_cursor=page.next_cursor)


@router.get(
    "/me/mandates",
    response_model=Mandates,
    tags=["Me"],
    operation_id="citizen_id_my_mandates",
    summary="The people and organisations I may act for today",
    description="Citizen token only. People: minor children and wards of my household, and people whose written "
    "authorization to me is valid today. Organisations: those I am the legal representative of or that "
    "authorized me. Listing a person's name is logged in their access log (purpose `mandates`).",
)
async def my_mandates(citizen: CurrentCitizen, conn: Conn) -> Mandates:
    return Mandates(**await service.mandates(conn, citizen))
