"""The shipped catalogue and the rules over procedure definitions, without servers."""

import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from intake.domain import definition_problems, inter_agency_levels, processing_days, publish_refusal
from intake.main import MIGRATIONS
from intake.settings import Settings
from intake.versions import CatalogueError, read_shipped
from motcua_common.auth import Principal
from motcua_common.contracts import CATALOGUE_EVENTS, ProcedureVersionPublished
from motcua_common.events import build_event, parse_event
from motcua_common.legal_clock import LegalClock, WorkingCalendar
from motcua_common.procedures import ProcedureDefinition, TimeBudget

SHIPPED_DIR = Settings().catalogue_dir
SHIPPED = read_shipped(SHIPPED_DIR)
BY_CODE = {d.code: d for d in SHIPPED}
VN = ZoneInfo("Asia/Ho_Chi_Minh")
CLOCK = LegalClock(WorkingCalendar.default(), VN)


def test_every_shipped_file_is_a_valid_definition_named_after_its_code_and_version():
    files = sorted(SHIPPED_DIR.glob("*.json"))
    assert len(files) == len(SHIPPED) >= 15
    for path in files:
        definition = ProcedureDefinition.model_validate_json(path.read_text(encoding="utf-8"))
        assert path.name == f"{definition.code}.v{definition.version}.json"


@pytest.mark.parametrize("definition", SHIPPED, ids=lambda d: f"{d.code}.v{d.version}")
def test_every_shipped_definition_adds_up_and_says_where_it_comes_from(definition):
    assert definition.budget_mismatch() is None
    assert definition_problems(definition, BY_CODE) == []
    assert definition.legal_basis and definition.sources
    # what the engine relies on: the first step receives, every step's roles are officer roles
    assert definition.steps[0].key == "receive" and definition.steps[0].performer == "receiving_unit"
    assert {r for s in definition.steps for r in s.roles} <= {
        "receiving_officer",
        "specialist",
        "approver",
        "unit_head",
    }
    assert definition.effective_from == date(2025, 7, 1)
    # Vietnamese text is written with its diacritics (not ASCII-folded)
    assert re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", definition.name.lower())


def test_the_catalogue_covers_what_issue_6_asks_for():
    names = " | ".join(d.name for d in SHIPPED)
    for wanted in (
        "Đăng ký khai sinh",
        "Đăng ký kết hôn",
        "Đăng ký khai tử",
        "Xác nhận tình trạng hôn nhân",
        "Chứng thực bản sao",
        "Đăng ký thường trú",
        "Đăng ký tạm trú",
        "Phiếu lý lịch tư pháp",
        "giấy phép xây dựng",
        "Đăng ký thành lập doanh nghiệp",
        "xuất xứ hàng hóa (C/O) ưu đãi",
    ):
        assert wanted in names, wanted
    co = BY_CODE["MC-CO-UU-DAI"]
    assert co.level == "delegated" and co.budget.working_hours == 8
    # an inter-agency procedure: transferred to another level's step and back
    liaison = BY_CODE["1.007073"]
    police = liaison.step("remove_residence")
    assert inter_agency_levels(liaison) == ["commune_police"]
    assert police.performer == "commune_police" and police.actions["transfer"] == "issue"
    assert any(s.actions.get("transfer") == "remove_residence" for s in liaison.steps)
    # the two Project 06 bundles, each within 3 working days
    bundles = {d.code: d.bundle for d in SHIPPED if d.bundle is not None}
    assert set(bundles) == {"MC-LT-KHAI-SINH", "1.011537"}
    assert bundles["MC-LT-KHAI-SINH"].members == ("1.001193", "1.004222", "MC-BHYT-TRE-EM")
    assert bundles["1.011537"].members == ("1.000656", "MC-XOA-THUONG-TRU", "MC-MAI-TANG")
    assert all(b.budget == TimeBudget(working_days=3) for b in bundles.values())


def test_fee_for_applies_the_online_discount_only_online():
    residence = BY_CODE["1.004222"]
    assert residence.fee_for("online") == 10_000
    assert {residence.fee_for(c) for c in ("counter", "service_centre", "post")} == {20_000}
    company = BY_CODE["MC-DKDN-THANH-LAP"]
    assert (company.fee_for("online"), company.fee_for("counter")) == (0, 50_000)
    record = BY_CODE["MC-LY-LICH-TU-PHAP"]  # no online discount: the same fee everywhere
    assert record.fee_for("online") == record.fee_for("counter") == 200_000


def test_in_force_between_effective_dates():
    base = BY_CODE["1.004873"].model_dump()
    open_ended = ProcedureDefinition.model_validate(base)
    assert not open_ended.in_force(date(2025, 6, 30))
    assert open_ended.in_force(date(2025, 7, 1)) and open_ended.in_force(date(2030, 1, 1))
    ended = ProcedureDefinition.model_validate({**base, "effective_to": date(2026, 6, 30)})
    assert ended.in_force(date(2026, 6, 30)) and not ended.in_force(date(2026, 7, 1))


def test_budget_mismatch_names_the_difference():
    base = BY_CODE["1.004873"].model_dump()
    longer = ProcedureDefinition.model_validate({**base, "budget": {"working_days": 5}})
    assert longer.budget_mismatch() == "the steps' budgets add up to 3 working_days, the procedure's budget is 5"
    hours = ProcedureDefinition.model_validate({**base, "budget": {"working_hours": 24}})
    assert "not counted in working_hours" in (hours.budget_mismatch() or "")


def test_definition_problems_of_bundles():
    bundle = BY_CODE["MC-LT-KHAI-SINH"].model_dump()
    unknown = ProcedureDefinition.model_validate(
        {**bundle, "bundle": {"members": ["1.001193", "9.999999"], "budget": {"working_days": 3}}}
    )
    assert definition_problems(unknown, BY_CODE) == ["bundle.members: no procedure '9.999999' in the catalogue"]
    nested = ProcedureDefinition.model_validate(
        {**bundle, "bundle": {"members": ["1.001193", "1.011537"], "budget": {"working_days": 3}}}
    )
    assert definition_problems(nested, BY_CODE) == ["bundle.members: '1.011537' is itself a bundle"]
    slower = ProcedureDefinition.model_validate(
        {**bundle, "bundle": {**bundle["bundle"], "budget": {"working_days": 5}}}
    )
    assert "bundle.budget" in definition_problems(slower, BY_CODE)[0]


def _write(directory: Path, name: str, definition: dict) -> None:
    (directory / name).write_text(json.dumps(definition, default=str), encoding="utf-8")


def test_read_shipped_refuses_misnamed_files_gaps_and_bad_budgets(tmp_path):
    base = BY_CODE["1.004873"].model_dump(mode="json")
    _write(tmp_path, "1.004873.v1.json", base)
    _write(tmp_path, "1.004873.v3.json", {**base, "version": 3})
    _write(tmp_path, "wrong-name.json", {**base, "code": "2.000001"})
    _write(tmp_path, "2.000002.v1.json", {**base, "code": "2.000002", "budget": {"working_days": 9}})
    with pytest.raises(CatalogueError) as caught:
        read_shipped(tmp_path)
    message = str(caught.value)
    assert "1.004873: shipped versions [1, 3] are not 1..n" in message
    assert "wrong-name.json: name it 2.000001.v1.json" in message
    assert "2.000002.v1: budget: the steps' budgets add up to 3 working_days" in message


def test_only_provincial_operators_publish():
    operator = Principal(
        kind="officer", subject="quan", client_id="app", unit_code="U", roles=frozenset({"provincial_operator"})
    )
    head = Principal(kind="officer", subject="son", client_id="app", unit_code="U", roles=frozenset({"unit_head"}))
    citizen = Principal(kind="citizen", subject="an", client_id="app", personal_id="001090001234")
    partner = Principal(kind="partner", subject="vcci", client_id="vcci", scopes=frozenset({"dossiers:read"}))
    assert publish_refusal(operator) is None
    assert all(publish_refusal(p) for p in (head, citizen, partner))


# --- The legal clock for hour budgets (2026-10-12..16 and 19 are ordinary working days) ---------------------------

HOURS = TimeBudget(working_hours=8)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=VN)


@pytest.mark.parametrize(
    ("submitted", "received", "due"),
    [
        (at(12, 10), at(12, 10), at(13, 10)),  # 2 h before lunch + 4 h after + 2 h the next morning
        (at(12, 8), at(12, 8), at(12, 17)),  # a whole working day
        (at(12, 12, 30), at(12, 12, 30), at(13, 12)),  # during lunch: counted from when the office reopens
        (at(12, 7), at(12, 7), at(12, 17)),  # before opening, on a working day: counted from the opening
        (at(16, 16), at(16, 16), at(19, 16)),  # Friday afternoon: over the weekend
        (at(16, 18), at(19, 8), at(19, 17)),  # Friday evening: received on Monday morning
    ],
)
def test_hour_budgets_count_office_hours_of_working_days(submitted, received, due):
    assert CLOCK.received_at(submitted, HOURS) == received
    assert CLOCK.due_at(received, HOURS) == due


def test_day_budgets_use_the_working_day_clock_and_the_1500_rule():
    same_day = TimeBudget(working_days=0)
    assert CLOCK.received_at(at(12, 15, 30), same_day) == at(13, 8)
    assert CLOCK.due_at(at(13, 8), same_day) == at(13, 17)
    assert CLOCK.due_at(at(12, 9), TimeBudget(working_days=3)) == at(15, 17)


def test_processing_days_rounds_hours_up_to_days():
    assert processing_days(TimeBudget(working_days=7)) == 7
    assert processing_days(TimeBudget(working_hours=8)) == 1
    assert processing_days(TimeBudget(working_hours=9)) == 2


# --- The units' areas in migration 0004 are the current administrative units of `vietnam-provinces` --------------


def test_unit_areas_are_current_administrative_units():
    sql = (MIGRATIONS / "0004_procedure_definitions.sql").read_text(encoding="utf-8")
    provinces = {int(x) for x in re.findall(r"province_code = (\d+)", sql)}
    provinces |= {int(x) for x in re.findall(r"'(?:province|commune|commune_police|delegated)', (\d+),", sql)}
    wards = {int(x) for x in re.findall(r"ward_code = (\d+)", sql)}
    assert provinces == {1} and wards == {70}
    assert Province.from_code(ProvinceCode(1)).name == "Thành phố Hà Nội"
    ward = Ward.from_code(WardCode(70))
    assert ward.name == "Phường Hoàn Kiếm" and ward.province_code == ProvinceCode(1)


# --- The event ------------------------------------------------------------------------------------------------


def test_the_version_published_event_carries_the_whole_definition():
    definition = BY_CODE["1.007073"]
    published = ProcedureVersionPublished(**definition.model_dump(), published_at=datetime(2026, 10, 12, 9, tzinfo=VN))
    event = build_event(published.in_sequence(definition.version), source="/motcua/intake", subject=definition.code)
    assert event.type in CATALOGUE_EVENTS and event.sequence == "0000000001"
    received = parse_event(event.model_dump_json().encode())
    data = ProcedureVersionPublished.model_validate({**received.data, "a_later_field": True})  # unknown fields ignored
    assert data.definition() == definition
    assert data.published_at == datetime(2026, 10, 12, 9, tzinfo=VN)
