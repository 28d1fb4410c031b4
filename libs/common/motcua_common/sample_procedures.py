"""Procedure definitions shaped like the catalogue's, for tests of the engine and of the services (the catalogue
itself is intake's: these are not published by anyone but tests).

- :func:`standard` — the four steps every one-stop procedure has (receive, appraise, issue, return) in the
  competent unit, as processing ran every dossier before issue 6;
- :func:`inter_agency` — liên thông: received at the receiving unit, appraised by the competent unit, which may
  transfer it to another agency (e.g. the commune police) and get it back, approved, issued, returned.
"""

from datetime import UTC, date, datetime

from .principal import APPROVER, RECEIVING_OFFICER, SPECIALIST, UNIT_HEAD
from .procedures import ProcedureDefinition

_COMMON = {
    "field": "Hộ tịch",
    "legal_basis": "Luật Hộ tịch 2014; Nghị định 123/2015/NĐ-CP",
    "sources": ("test data shaped like the national catalogue",),
    "effective_from": date(2025, 7, 1),
    "channels": ("online", "counter", "service_centre", "post"),
    "result_delivery": ("online", "counter", "post"),
    "fee": {"amount_vnd": 0},
}


def standard(
    code: str = "1.001193",
    version: int = 1,
    *,
    name: str = "Đăng ký khai sinh",
    level: str = "commune",
    working_days: int = 3,
    supplement_clock: str = "pause",
    max_requests: int = 2,
) -> ProcedureDefinition:
    return ProcedureDefinition.model_validate(
        {
            **_COMMON,
            "code": code,
            "version": version,
            "name": name,
            "level": level,
            "online_level": "full",
            "budget": {"working_days": working_days},
            "supplement": {"clock": supplement_clock, "max_requests": max_requests},
            "steps": [
                {
                    "key": "receive",
                    "name": "Tiếp nhận hồ sơ",
                    "performer": "competent_unit",
                    "roles": [RECEIVING_OFFICER, UNIT_HEAD],
                    "budget": {"working_days": 0},
                    "actions": {"receive": "appraise", "refuse": None, "request_supplement": None},
                },
                {
                    "key": "appraise",
                    "name": "Thẩm định, xử lý hồ sơ",
                    "performer": "competent_unit",
                    "roles": [APPROVER, UNIT_HEAD],
                    "budget": {"working_days": max(working_days - 1, 0)},
                    "actions": {"approve": "issue", "reject": None, "request_supplement": None},
                },
                {
                    "key": "issue",
                    "name": "Ban hành kết quả",
                    "performer": "competent_unit",
                    "roles": [SPECIALIST, APPROVER, UNIT_HEAD],
                    "budget": {"working_days": 1},
                    "actions": {"issue_result": "return"},
                },
                {
                    "key": "return",
                    "name": "Trả kết quả",
                    "performer": "competent_unit",
                    "roles": [RECEIVING_OFFICER, UNIT_HEAD],
                    "budget": {"working_days": 0},
                    "actions": {"return_result": None},
                },
            ],
        }
    )


def inter_agency(
    code: str = "1.004222",
    version: int = 1,
    *,
    name: str = "Đăng ký thường trú",
    working_days: int = 7,
    supplement_clock: str = "pause",
    max_requests: int = 1,
) -> ProcedureDefinition:
    """Received at the receiving unit (the centre, or the competent unit for online dossiers), appraised by a
    specialist of the competent unit who may transfer it to a commune police unit for a check and gets it back,
    approved by an approver, issued, and returned by the receiving unit."""
    return ProcedureDefinition.model_validate(
        {
            **_COMMON,
            "code": code,
            "version": version,
            "name": name,
            "field": "Đăng ký, quản lý cư trú",
            "legal_basis": "Luật Cư trú 2020",
            "level": "commune",
            "online_level": "partial",
            "fee": {"amount_vnd": 20000, "online_amount_vnd": 10000},
            "budget": {"working_days": working_days},
            "supplement": {"clock": supplement_clock, "max_requests": max_requests},
            "steps": [
                {
                    "key": "receive",
                    "name": "Tiếp nhận hồ sơ",
                    "performer": "receiving_unit",
                    "roles": [RECEIVING_OFFICER],
                    "budget": {"working_days": 0},
                    "actions": {"receive": "appraise", "refuse": None},
                },
                {
                    "key": "appraise",
                    "name": "Thẩm định hồ sơ",
                    "performer": "competent_unit",
                    "roles": [SPECIALIST],
                    "budget": {"working_days": 3},
                    "actions": {
                        "forward": "approve",
                        "transfer": "police_check",
                        "request_supplement": None,
                    },
                },
                {
                    "key": "police_check",
                    "name": "Xác minh tại cơ quan công an",
                    "performer": "commune_police",
                    "roles": [SPECIALIST, UNIT_HEAD],
                    "budget": {"working_days": 2},
                    "actions": {"forward": "appraise"},
                },
                {
                    "key": "approve",
                    "name": "Phê duyệt",
                    "performer": "competent_unit",
                    "roles": [APPROVER],
                    "budget": {"working_days": 1},
                    "actions": {"approve": "issue", "reject": None},
                },
                {
                    "key": "issue",
                    "name": "Ban hành kết quả",
                    "performer": "competent_unit",
                    "roles": [SPECIALIST, APPROVER],
                    "budget": {"working_days": 1},
                    "actions": {"issue_result": "return"},
                },
                {
                    "key": "return",
                    "name": "Trả kết quả",
                    "performer": "receiving_unit",
                    "roles": [RECEIVING_OFFICER],
                    "budget": {"working_days": 0},
                    "actions": {"return_result": None},
                },
            ],
        }
    )


def published(definition: ProcedureDefinition, at: datetime | None = None) -> dict:
    """The data of the ``procedure.version_published`` event announcing ``definition``."""
    return {**definition.model_dump(mode="json"), "published_at": (at or datetime.now(UTC)).isoformat()}
