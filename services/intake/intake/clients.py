"""Outbound HTTP: the national population database and business registry (citizen-id).

Every call carries intake's own service token (client credentials, scope ``registry:read``) in
``Authorization`` and the end user's access token in ``X-On-Behalf-Of``: citizen-id decides whether that
user may read the applicant's record (self, a household minor, a written authorization, an organisation's
legal representative, a receiving officer at a counter, the post) and logs the read as theirs.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from motcua_common.auth import Principal, ServiceCredentials
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


class CitizenRegistry:
    def __init__(self, client: httpx.AsyncClient, credentials: ServiceCredentials):
        self.client, self.credentials = client, credentials

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
        try:
            resp = await self.client.post(path, headers=headers, json=applicant.body(reason))
        except httpx.HTTPError as exc:
            log.warning("citizen-id unreachable: %r", exc)
            raise _unavailable() from exc
        if resp.status_code == 200:
            return _answer(resp.json(), applicant)
        raise _refusal(resp, applicant)


def _answer(body: dict[str, Any], applicant: ApplicantQuery) -> RegistryAnswer:
    record = body.get("person") or body.get("organisation") or {}
    if applicant.kind == "organisation" and "address" not in record and "head_office_address" in record:
        record = {**record, "address": record["head_office_address"]}
    values = {f: record[f] for f in applicant.fields if record.get(f) not in (None, "")}
    return RegistryAnswer(subject=body.get("subject"), on_behalf_via=body.get("on_behalf_via"), values=values)


def _refusal(resp: httpx.Response, applicant: ApplicantQuery) -> ProblemError:
    problem = _problem_body(resp)
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    who = f"personal id {applicant.personal_id}" if applicant.kind == "citizen" else f"tax code {applicant.tax_code}"
    if resp.status_code == 403:
        return ProblemError(
            403,
            "applicant-not-permitted",
            "Bạn không có quyền nộp hồ sơ hoặc xem thông tin thay cho người hoặc tổ chức này",
            "The population registry found no mandate for the caller to act for this applicant.",
        )
    if resp.status_code == 404:
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
    if resp.status_code == 409:
        return ProblemError(
            422, "applicant-not-active", "Số định danh cá nhân không còn hiệu lực", problem.get("detail")
        )
    if resp.status_code == 422 and slug == "invalid-personal-id":
        return ProblemError(422, "invalid-personal-id", "Số định danh cá nhân không hợp lệ", problem.get("detail"))
    if resp.status_code == 422 and slug == "invalid-tax-code":
        return ProblemError(422, "invalid-tax-code", "Mã số thuế không hợp lệ", problem.get("detail"))
    log.error("citizen-id answered %s (%s)", resp.status_code, slug or "no problem type")
    return _unavailable()


def _unavailable() -> ProblemError:
    return ProblemError(
        503,
        "citizen-registry-unavailable",
        "Không kết nối được Cơ sở dữ liệu quốc gia về dân cư, vui lòng thử lại sau",
        "The population database did not answer in time.",
        headers={"Retry-After": "5"},
    )


def _problem_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}
