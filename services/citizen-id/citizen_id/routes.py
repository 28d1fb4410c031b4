"""HTTP endpoints of the citizen-id service."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from motcua_common import PROBLEM_RESPONSES, Conn

from . import service
from .schemas import (
    AccessLogEntry,
    AccessLogPage,
    Address,
    CitizenRecord,
    PrefillPerson,
    PrefillRequest,
    PrefillResponse,
)

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)
PersonalIdPath = Annotated[
    str, Path(description="12-digit personal id number (số định danh cá nhân)", examples=["001090001234"])
]


@router.post(
    "/identity/prefill",
    response_model=PrefillResponse,
    response_model_exclude_unset=True,
    tags=["Identity"],
    operation_id="citizen_id_prefill",
    summary="Verify a citizen and prefill their data for a stated purpose",
    description="Checks that the person exists in the population registry and is alive, returns only "
    "the requested fields, and records the access (purpose, requester, fields) in the "
    "citizen's access log in the same transaction.",
)
async def prefill(body: PrefillRequest, conn: Conn) -> PrefillResponse:
    result = await service.prefill(conn, body.personal_id, body.purpose, body.requested_by, body.fields)
    return PrefillResponse(personal_id=result.personal_id, verified=True, person=PrefillPerson(**result.person))


@router.get(
    "/citizens/{personal_id}/access-log",
    response_model=AccessLogPage,
    tags=["Citizens"],
    operation_id="citizen_id_list_access_log",
    summary="List every access to a citizen's data, newest first",
    description="Cursor-paginated: pass `next_cursor` of a page as `cursor` to get the next one.",
)
async def list_access_log(
    personal_id: PersonalIdPath,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`")] = None,
) -> AccessLogPage:
    page = await service.access_log(conn, personal_id, limit, cursor)
    return AccessLogPage(
        items=[
            AccessLogEntry(
                purpose=r["purpose"],
                requested_by=r["requested_by"],
                fields=r["fields"],
                accessed_at=r["accessed_at"],
            )
            for r in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/citizens/{personal_id}",
    response_model=CitizenRecord,
    tags=["Citizens"],
    operation_id="citizen_id_get_citizen",
    summary="Get a citizen's record as the population registry holds it",
    description="For the citizen's own profile page. Reading one's own record is not an access by a "
    "third party and is not added to the access log.",
)
async def get_citizen(personal_id: PersonalIdPath, conn: Conn) -> CitizenRecord:
    r = await service.get_citizen(conn, personal_id)
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
    )
