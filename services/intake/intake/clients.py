"""Outbound HTTP: the national population database and business registry (citizen-id).

Every call carries intake's own service token (client credentials, scope ``registry:read``) in
``Authorization`` and the end user's access token in ``X-On-Behalf-Of``: citizen-id decides whether that
user may read the applicant's record (self, a household minor, a written authorization, an organisation's
legal representative, a receiving officer at a counter, the post) and logs the read as theirs.

A read made outside a recorded trace (the default: nothing is recorded without an exporter) goes straight to an
``aiohttp.ClientSession`` when intake has one (:func:`registry_session`), with the trace context in
``traceparent``: httpx's request and response objects around aiohttp's own cost more CPU than the call itself
(issue 7: about a tenth of intake's samples per submission). A read inside a recorded trace goes through the httpx
client and its OpenTelemetry instrumentation (a client span), as does every read when there is no session (the
tests' ``httpx.MockTransport``).
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import httpx
import orjson
from opentelemetry import propagate, trace

from motcua_common.auth import Principal, ServiceCredentials
from motcua_common.http_client import service_session
from motcua_common.problems import ProblemError

log = logging.getLogger("intake.clients")
PREFILL_FIELDS = ["full_name", "date_of_birth", "sex", "permanent_address", "email", "phone"]
ORGANISATION_FIELDS = ["name", "address", "email", "phone"]
# Fields a caller may type instead of (or in the absence of) the registry's value.
TYPED_FIELDS = ("email", "phone")


@dataclass(frozen=True)
class ApplicantQuery:
    kind: Literal["citizen", "organisation"]
    personal_id: str | None = None
    tax_code: str | None = None

    @property
    def fields(self) -> list[str]:
        return PREFILL_FIELDS if self.kind == "citizen" else ORGANISATION_FIELDS

    def body(self, reason: dict[str, str]) -> dict[str, Any]:
        """The registry request: who, why (``purpose`` for a read, ``procedure_code`` for a preview), and for a
        person the fields wanted (an organisation's answer is always its tax code, name and address)."""
        if self.kind == "citizen":
            return {"personal_id": self.personal_id, **reason, "fields": self.fields}
        return {"tax_code": self.tax_code, **reason}


@dataclass(frozen=True)
class RegistryAnswer:
    """What the registry disclosed about the applicant, and under which mandate."""

    subject: str | None  # the applicant's opaque subject id (citizens)
    on_behalf_via: str | None  # self | household | authorization | legal_representative | officer | post ...
    values: dict[str, Any] = field(default_factory=dict)  # only the fields the registry holds


def registry_session(base_url: str, *, timeout: float, limit: int = 100) -> aiohttp.ClientSession:
    """The session for registry reads outside recorded traces (see the module's docstring): a pool of up to ``limit``
    connections to citizen-id, no cookie jar (one session carries every user's reads), no proxy from the
    environment, ``timeout`` seconds per read. Create it inside the running loop (the app's lifespan)."""
    return service_session(
        limit=limit,
        timeout=aiohttp.ClientTimeout(total=timeout),
        base_url=base_url,
        json_serialize=lambda value: orjson.dumps(value).decode(),
    )


class CitizenRegistry:
    def __init__(
        self, client: httpx.AsyncClient, credentials: ServiceCredentials, session: aiohttp.ClientSession | None = None
    ):
        self.client, self.credentials, self.session = client, credentials, session

    async def prefill(
        self, principal: Principal, applicant: ApplicantQuery, purpose: str, request_id: str | None
    ) -> RegistryAnswer:
        """Verify the applicant and fetch what the state already knows, for a stated purpose (logged)."""
        return await self._ask("/api/v1/identity/prefill", principal, applicant, {"purpose": purpose}, request_id)

    async def preview(
        self, principal: Principal, applicant: ApplicantQuery, procedure_code: str, request_id: str | None
    ) -> RegistryAnswer:
        """What a submission of ``procedure_code`` would prefill, without submitting (the registry logs it as
        purpose ``preview:<procedure_code>``)."""
        reason = {"procedure_code": procedure_code}
        return await self._ask("/api/v1/identity/preview", principal, applicant, reason, request_id)

    async def _ask(
        self,
        path: str,
        principal: Principal,
        applicant: ApplicantQuery,
        reason: dict[str, str],
        request_id: str | None,
    ) -> RegistryAnswer:
        try:
            headers = await self.credentials.headers()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("cannot obtain intake's service token: %r", exc)
            raise _unavailable() from exc
        headers["X-On-Behalf-Of"] = principal.token
        if request_id:
            headers["x-request-id"] = request_id
        body = applicant.body(reason)
        if self.session is not None and not trace.get_current_span().is_recording():
            status, content = await self._post_direct(path, headers, body)
        else:
            try:
                resp = await self.client.post(path, headers=headers, json=body)
            except httpx.HTTPError as exc:
                log.warning("citizen-id unreachable: %r", exc)
                raise _unavailable() from exc
            status, content = resp.status_code, resp.content
        if status == 200:
            return _answer(orjson.loads(content), applicant)
        raise _refusal(status, content, applicant)

    async def _post_direct(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, bytes]:
        assert self.session is not None
        propagate.inject(headers)  # the trace goes on in citizen-id, recorded or not as the caller's
        try:
            async with self.session.post(path, headers=headers, json=body) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("citizen-id unreachable: %r", exc)
            raise _unavailable() from exc


def _answer(body: dict[str, Any], applicant: ApplicantQuery) -> RegistryAnswer:
    record = body.get("person") or body.get("organisation") or {}
    if applicant.kind == "organisation" and "address" not in record and "head_office_address" in record:
        record = {**record, "address": record["head_office_address"]}
    values = {f: record[f] for f in applicant.fields if record.get(f) not in (None, "")}
    return RegistryAnswer(subject=body.get("subject"), on_behalf_via=body.get("on_behalf_via"), values=values)


def _refusal(status: int, content: bytes, applicant: ApplicantQuery) -> ProblemError:
    problem = _problem_body(content)
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    who = f"personal id {applicant.personal_id}" if applicant.kind == "citizen" else f"tax code {applicant.tax_code}"
    if status == 403:
        return ProblemError(
            403,
            "applicant-not-permitted",
            "Bạn không có quyền nộp hồ sơ hoặc xem thông tin thay cho người hoặc tổ chức này",
            "The population registry found no mandate for the caller to act for this applicant.",
        )
    if status == 404:
        if applicant.kind == "organisation":
            return ProblemError(
                422,
                "applicant-not-found",
                "Không tìm thấy tổ chức trong Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp",
                f"No organisation with {who} in the business registry.",
            )
        return ProblemError(
            422,
            "applicant-not-found",
            "Không tìm thấy người nộp hồ sơ trong Cơ sở dữ liệu quốc gia về dân cư",
            f"No citizen with {who} in the population database.",
        )
    if status == 409:
        return ProblemError(
            422, "applicant-not-active", "Số định danh cá nhân không còn hiệu lực", problem.get("detail")
        )
    if status == 422 and slug == "invalid-personal-id":
        return ProblemError(422, "invalid-personal-id", "Số định danh cá nhân không hợp lệ", problem.get("detail"))
    if status == 422 and slug == "invalid-tax-code":
        return ProblemError(422, "invalid-tax-code", "Mã số thuế không hợp lệ", problem.get("detail"))
    log.error("citizen-id answered %s (%s)", status, slug or "no problem type")
    return _unavailable()


def _unavailable() -> ProblemError:
    return ProblemError(
        503,
        "citizen-registry-unavailable",
        "Không kết nối được Cơ sở dữ liệu quốc gia về dân cư, vui lòng thử lại sau",
        "The population database did not answer in time.",
        headers={"Retry-After": "5"},
    )


def _problem_body(content: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(content)
        return body if isinstance(body, dict) else {}
    except orjson.JSONDecodeError:
        return {}
