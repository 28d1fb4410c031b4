"""RFC 9457 problem details: one error type, one renderer, used by every service and the gateway."""

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://motcua.gov.vn/problems/"
# Seconds a client is asked to wait when a dependency is down: a PostgreSQL restart or a fail-over takes a few.
RETRY_AFTER_SECONDS = 5
log = logging.getLogger("motcua.problems")


class DependencyUnavailable(Exception):
    """Something the request needs (the database, the broker…) cannot be reached now: answered 503 with
    Retry-After. ``dependency`` names it, as /readyz does."""

    def __init__(self, dependency: str, detail: str):
        super().__init__(f"{dependency}: {detail}")
        self.dependency, self.detail = dependency, detail


# Errors that mean "the database is away or going away", not "the request is wrong": asyncpg's connection class
# (08xxx: ConnectionDoesNotExistError, ConnectionFailureError…), the server shutting down or starting up (57P01-03:
# AdminShutdownError on a restart or pg_terminate_backend, CrashShutdownError, CannotConnectNowError), and no room
# for one more connection (53300).
DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    request_id: str | None = None
    allowed_actions: list[str] | None = Field(
        None, description="invalid-transition: the actions the dossier's current step offers"
    )


class ProblemError(Exception):
    """A domain error that knows its HTTP status; raise it anywhere below a route."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        allowed_actions: list[str] | None = None,
    ):
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors, self.headers = errors, headers
        self.allowed_actions = allowed_actions


# Responses to declare on routes so the OpenAPI document shows the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": text}
    for code, text in [
        (400, "Bad request"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (422, "Invalid input"),
    ]
}

_STATUS_SLUGS = {
    400: ("bad-request", "Yêu cầu không hợp lệ"),
    401: ("unauthorized", "Chưa xác thực"),
    403: ("forbidden", "Không có quyền"),
    404: ("not-found", "Không tìm thấy"),
    405: ("method-not-allowed", "Phương thức không được hỗ trợ"),
    409: ("conflict", "Xung đột trạng thái"),
    413: ("payload-too-large", "Dữ liệu gửi lên quá lớn"),
    415: ("unsupported-media-type", "Kiểu dữ liệu không được hỗ trợ"),
    429: ("too-many-requests", "Quá nhiều yêu cầu"),
    502: ("bad-gateway", "Dịch vụ phía sau không phản hồi đúng"),
    503: ("unavailable", "Dịch vụ tạm thời không sẵn sàng"),
    504: ("gateway-timeout", "Dịch vụ phía sau không phản hồi kịp"),
}


def problem_response(
    request: Request | None,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    allowed_actions: list[str] | None = None,
) -> JSONResponse:
    rid = getattr(request.state, "request_id", None) if request is not None else None
    body = Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=str(request.url.path) if request is not None else None,
        errors=errors,
        request_id=rid,
        allowed_actions=allowed_actions,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def status_problem(request: Request | None, status: int, detail: str | None = None) -> JSONResponse:
    slug, title = _STATUS_SLUGS.get(status, ("error" if status < 500 else "internal", "Lỗi"))
    return problem_response(request, status, slug, title, detail)


def _loc(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _domain(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.slug, exc.title, exc.detail, exc.errors, exc.headers, exc.allowed_actions
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(field=_loc(e.get("loc", ())), message=e.get("msg", "invalid")) for e in exc.errors()]
        if any(tuple(e.get("loc", ())) == ("header", "Idempotency-Key") for e in exc.errors()):
            return problem_response(
                request,
                400,
                "idempotency-key-required",
                "Thiếu khóa Idempotency-Key",
                "Send an Idempotency-Key header (1-255 characters, for example a UUID) so that retries never "
                "create a second dossier.",
                errors,
            )
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(
                request,
                400,
                "malformed-json",
                "Dữ liệu JSON không hợp lệ",
                "The request body is not valid JSON.",
                errors,
            )
        return problem_response(
            request,
            422,
            "validation-error",
            "Dữ liệu không hợp lệ",
            "One or more fields are missing or invalid.",
            errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        resp = status_problem(request, exc.status_code, detail)
        resp.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return resp

    # PostgreSQL text cannot hold NUL (\u0000); any service that stores or looks up such input answers 422.
    @app.exception_handler(asyncpg.exceptions.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.exceptions.UntranslatableCharacterError)
    async def _bad_characters(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request,
            422,
            "invalid-characters",
            "Dữ liệu chứa ký tự không hợp lệ",
            "Text fields may not contain the NUL character (\\u0000).",
        )

    # A dependency that is down is the client's cue to retry later, not a bug: 503 + Retry-After, one log line
    # (no traceback). TimeoutError: a pool connection not had within db_acquire_timeout, or any other bounded
    # wait on a dependency; ConnectionError: a refused or reset socket (the pool connecting to a stopped server).
    @app.exception_handler(DependencyUnavailable)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(ConnectionError)
    @app.exception_handler(asyncpg.exceptions.InterfaceError)
    async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
        return dependency_unavailable(request, exc)

    for cls in DATABASE_DOWN:
        app.add_exception_handler(cls, _dependency_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request, 500, "internal", "Lỗi hệ thống", "An unexpected error occurred; it has been logged."
        )


def dependency_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" not in str(exc):
        # asyncpg's InterfaceError is mostly misuse (a bug: 500, logged with its traceback); "connection is closed"
        # is the database gone under a request
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(
            request, 500, "internal", "Lỗi hệ thống", "An unexpected error occurred; it has been logged."
        )
    if isinstance(exc, DependencyUnavailable):
        what = exc.dependency
    elif isinstance(exc, (*DATABASE_DOWN, asyncpg.exceptions.InterfaceError)):
        what = "database"
    else:
        what = "a dependency"
    log.warning("%s %s: 503, %s unavailable: %s: %s", request.method, request.url.path, what, type(exc).__name__, exc)
    return problem_response(
        request,
        503,
        "dependency-unavailable",
        "Dịch vụ tạm thời không sẵn sàng, vui lòng thử lại sau",
        f"A dependency ({what}) is unavailable or did not answer in time; retry in {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
