"""Outbound HTTP: the national population database (citizen-id)."""

import logging
from typing import Any

import httpx

from motcua_common.problems import ProblemError

log = logging.getLogger("intake.clients")
PREFILL_FIELDS = ["full_name", "date_of_birth", "sex", "permanent_address", "email", "phone"]


class CitizenRegistry:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def prefill(self, personal_id: str, purpose: str, request_id: str | None) -> dict[str, Any]:
        """Verify the applicant and fetch what the state already knows, stating the purpose."""
        headers = {"x-request-id": request_id} if request_id else {}
        try:
            resp = await self.client.post(
                "/api/v1/identity/prefill",
                headers=headers,
                json={
                    "personal_id": personal_id,
                    "purpose": purpose,
                    "requested_by": "intake",
                    "fields": PREFILL_FIELDS,
                },
            )
        except httpx.HTTPError as exc:
            log.warning("citizen-id unreachable: %r", exc)
            raise _unavailable() from exc
        if resp.status_code == 200:
            return resp.json()["person"]
        problem = _problem_body(resp)
        if resp.status_code == 404:
            raise ProblemError(
                422,
                "applicant-not-found",
                "Không tìm thấy người nộp hồ sơ trong Cơ sở dữ liệu quốc gia về dân cư",
                f"No citizen with personal id {personal_id} in the population database.",
            )
        if resp.status_code == 409:
            raise ProblemError(
                422, "applicant-not-active", "Số định danh cá nhân không còn hiệu lực", problem.get("detail")
            )
        if resp.status_code == 422 and problem.get("type", "").endswith("/invalid-personal-id"):
            raise ProblemError(422, "invalid-personal-id", "Số định danh cá nhân không hợp lệ", problem.get("detail"))
        log.error("citizen-id answered %s: %s", resp.status_code, resp.text[:300])
        raise _unavailable()


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
