"""HTTP: a dossier's official forms as PDF (its own router, included by ``main.create_app``)."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from motcua_common.auth import CurrentPrincipal
from motcua_common.db import ReadConn
from motcua_common.problems import PROBLEM_JSON, Problem

from . import forms_service
from .forms import TITLES, Fonts, FormNumber
from .routes import AUTH_RESPONSES, CurrentSettings, DossierCode

router = APIRouter(prefix="/api/v1")
PDF = "application/pdf"
FORM_LIST = "; ".join(f"`{n.value}` {TITLES[n]}" for n in FormNumber)


@router.get(
    "/dossiers/{code}/forms/{form}",
    tags=["Tracking"],
    summary="An official form of the dossier as PDF (Circular 01/2018/TT-VPCP forms 01–05)",
    operation_id="processing_dossier_form",
    response_class=Response,
    responses={
        200: {
            "description": "The form, a PDF in Vietnamese (Content-Disposition names it, RFC 5987 `filename*`)",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        },
        **AUTH_RESPONSES,
        503: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "The forms' fonts are not installed"},
    },
    description=(
        f"Forms: {FORM_LIST}. Needs a bearer token (401 without). Answered for exactly those who may see the "
        "dossier's tracking (`GET /api/v1/dossiers/{code}`): its applicant or submitting citizen, officers of the "
        "competent or the receiving unit, a provincial operator, a partner with `dossiers:read` (of the unit its "
        "token names, if any). Anyone else gets 404, exactly as for an unknown code.\n\n"
        "A form that does not apply to the dossier is a 404 problem with type `form-not-available`: 01 for a "
        "dossier refused at reception, 03 for one that was not, 02 before a supplement request, 04 before an "
        "extension. 422 for a form number other than 01–05; 503 when the server lacks the forms' fonts."
    ),
)
async def dossier_form(
    code: DossierCode,
    form: Annotated[FormNumber, Path(description="Form number, 01 to 05")],
    principal: CurrentPrincipal,
    conn: ReadConn,
    settings: CurrentSettings,
) -> Response:
    pdf = await forms_service.form_pdf(conn, code, form, principal, fonts=Fonts(settings.forms_font_dir))
    return Response(
        content=pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": forms_service.content_disposition(form, code),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
