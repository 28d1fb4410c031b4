"""HTTP endpoints of the identity provider (mock VNeID, OpenID Connect): discovery, JWKS, the login page
(authorization endpoint) and the token endpoint. Public through the gateway under the issuer's URL."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from motcua_common import Conn

from . import keys, oidc
from .settings import Settings

# Not in the OpenAPI document: OpenID Connect describes itself (discovery), its answers are HTML pages
# and RFC 6749 errors rather than problem+json, and OAuth clients are built from the discovery document.
router = APIRouter(tags=["Identity provider"], include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
WRONG_CREDENTIALS = "Thông tin đăng nhập không đúng hoặc tài khoản không thể đăng nhập. Vui lòng kiểm tra và thử lại."


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@router.get(
    "/.well-known/openid-configuration",
    operation_id="citizen_id_openid_configuration",
    summary="OpenID Connect discovery document",
)
async def openid_configuration(request: Request) -> JSONResponse:
    issuer = _settings(request).issuer.rstrip("/")
    doc: dict[str, Any] = {
        "issuer": _settings(request).issuer,  # exactly the tokens' iss
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "scopes_supported": ["openid", "profile", "dossiers:read", "dossiers:submit-post", "registry:read"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "kind",
            "client_id",
            "scope",
            "personal_id",
            "name",
            "unit",
            "roles",
        ],
        "ui_locales_supported": ["vi"],
    }
    return JSONResponse(doc, headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth/jwks", operation_id="citizen_id_jwks", summary="The provider's public signing keys (JWKS)")
async def jwks(request: Request, conn: Conn) -> JSONResponse:
    body = await keys.jwks(conn, _settings(request))
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context), status_code=status, headers=PAGE_HEADERS)


def _login_page(
    settings: Settings,
    req: oidc.AuthorizeRequest,
    *,
    status: int = 200,
    error: str | None = None,
    account_type: str = "citizen",
    identifier: str = "",
) -> HTMLResponse:
    return _page(
        "login.html",
        status,
        provider_name=settings.provider_name,
        client_name=req.client_name,
        hidden=req.hidden_fields(),
        error=error,
        account_type=account_type,
        identifier=identifier,
        demo_hint=settings.demo_password if settings.login_demo_hint else None,
    )


@router.get(
    "/oauth/authorize",
    response_class=HTMLResponse,
    operation_id="citizen_id_authorize_page",
    summary="Authorization endpoint: the Vietnamese login page (authorization code + PKCE S256)",
    responses={
        302: {"description": "Request error reported to the registered redirect_uri"},
        400: {"description": "Unknown client or unregistered redirect_uri (an HTML page)"},
    },
)
async def authorize_page(request: Request, conn: Conn) -> Response:
    settings = _settings(request)
    try:
        req = await oidc.check_authorize(conn, request.query_params)
    except oidc.PageError as exc:
        return _page("error.html", exc.status, provider_name=settings.provider_name, message=exc.message_vi)
    except oidc.RedirectError as exc:
        return RedirectResponse(exc.location, status_code=302, headers=NO_STORE)
    return _login_page(settings, req)


@router.post(
    "/oauth/authorize",
    response_class=HTMLResponse,
    operation_id="citizen_id_authorize_login",
    summary="Log in (form post of the login page); 302 to redirect_uri with code and state",
    responses={
        302: {"description": "Logged in: redirect_uri?code=...&state=..."},
        401: {"description": "Wrong credentials: the login page again"},
    },
)
async def authorize_login(request: Request, conn: Conn) -> Response:
    settings = _settings(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        req = await oidc.check_authorize(conn, fields)
    except oidc.PageError as exc:
        return _page("error.html", exc.status, provider_name=settings.provider_name, message=exc.message_vi)
    except oidc.RedirectError as exc:
        return RedirectResponse(exc.location, status_code=302, headers=NO_STORE)
    account_type = fields.get("account_type") or "citizen"
    account_type = account_type if account_type in ("citizen", "officer") else "citizen"
    identifier = (fields.get("username") or "").strip()[:64]
    account = await oidc.authenticate(conn, account_type, identifier, fields.get("password") or "")
    if account is None:
        return _login_page(
            settings, req, status=401, error=WRONG_CREDENTIALS, account_type=account_type, identifier=identifier
        )
    location = await oidc.issue_code(conn, settings, req, account)
    return RedirectResponse(location, status_code=302, headers=NO_STORE)


TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {
                            "type": "string",
                            "enum": ["authorization_code", "refresh_token", "client_credentials"],
                        },
                        "code": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "code_verifier": {"type": "string"},
                        "refresh_token": {"type": "string"},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/oauth/token",
    operation_id="citizen_id_token",
    summary="Token endpoint: authorization_code (+PKCE), refresh_token (rotated), client_credentials",
    description='Form-encoded (RFC 6749). Errors are RFC 6749 JSON: `{"error", "error_description"}` '
    "with 400, or 401 `invalid_client`.",
    openapi_extra=TOKEN_FORM,
    responses={400: {"description": "OAuth error"}, 401: {"description": "invalid_client"}},
)
async def token(request: Request, conn: Conn) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type != "application/x-www-form-urlencoded":
            raise oidc.OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        body = await oidc.token(conn, _settings(request), fields, request.headers.get("authorization"))
    except oidc.OAuthError as exc:
        # Answered, not raised: the transaction commits what the refusal wrote (a burnt code, a revoked family).
        return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})
    return JSONResponse(body, headers=NO_STORE)
