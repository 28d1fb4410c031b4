"""Unit tests of the pure rules: personal id parsing and composition, the legacy province table,
the access-log cursor, and the deterministic citizen generator (no database)."""

import pytest
from vietnam_provinces import Province, ProvinceCode

from citizen_id.domain import (
    LEGACY_PROVINCES,
    InvalidPersonalIdError,
    format_address,
    gender_century_digit,
    make_personal_id,
    parse_personal_id,
)


@pytest.mark.parametrize(
    ("pid", "province", "sex", "year", "serial"),
    [
        ("001090001234", "Hà Nội", "male", 1990, "001234"),
        ("079195005678", "Thành phố Hồ Chí Minh", "female", 1995, "005678"),
        ("048200001111", "Đà Nẵng", "male", 2000, "001111"),
        ("092301002222", "Cần Thơ", "female", 2001, "002222"),
        ("096499999999", "Cà Mau", "male", 2199, "999999"),
        ("002500000000", "Hà Giang", "female", 2100, "000000"),
        ("036045000999", "Nam Định", "male", 1945, "000999"),
    ],
)
def test_parse_valid_ids(pid, province, sex, year, serial):
    parsed = parse_personal_id(pid)
    assert parsed.personal_id == pid
    assert parsed.province_code == pid[:3]
    assert parsed.province_name == province
    assert (parsed.sex, parsed.birth_year, parsed.serial) == (sex, year, serial)


@pytest.mark.parametrize(
    ("pid", "message"),
    [
        ("", "exactly 12 digits; got 0"),
        ("00109000123", "exactly 12 digits; got 11"),
        ("0010900012345", "exactly 12 digits; got 13"),
        ("001 90001234", "only the digits"),
        ("00109000123a", "only the digits"),
        ("٠٠١٠٩٠٠٠١٢٣٤", "only the digits"),  # Arabic-Indic digits are str.isdigit() but not ids
        ("-01090001234", "only the digits"),
        ("000090001234", "unknown province code '000'"),
        ("003090001234", "unknown province code '003'"),
        ("097090001234", "unknown province code '097'"),
        ("100090001234", "unknown province code '100'"),
        ("001690001234", "invalid gender-century digit 6"),
        ("001790001234", "invalid gender-century digit 7"),
        ("001890001234", "invalid gender-century digit 8"),
        ("001990001234", "invalid gender-century digit 9"),
    ],
)
def test_parse_rejects_malformed_ids_with_the_broken_rule(pid, message):
    with pytest.raises(InvalidPersonalIdError, match=message):
        parse_personal_id(pid)


def test_parse_rejects_non_strings_and_is_a_value_error():
    with pytest.raises(ValueError, match="must be a string"):
        parse_personal_id(1090001234)  # type: ignore[arg-type]


def test_legacy_province_table_has_the_63_codes_and_maps_to_current_units():
    assert len(LEGACY_PROVINCES) == 63
    assert len({p.name for p in LEGACY_PROVINCES.values()}) == 63
    for code, province in LEGACY_PROVINCES.items():
        assert code == province.code and len(code) == 3 and code.startswith("0") and code.isdigit()
    current = {int(p.code) for p in Province.iter_all()}
    assert len(current) == 34
    assert {p.current_code for p in LEGACY_PROVINCES.values()} == current
    # A province that was not merged keeps its code; one that absorbed others keeps its own code too.
    for code in ("001", "079", "048", "092", "096", "038", "004"):
        assert LEGACY_PROVINCES[code].current_code == int(code)
    assert LEGACY_PROVINCES["074"].current_code == int(ProvinceCode.P_79)  # Bình Dương -> TP HCM


@pytest.mark.parametrize(
    ("sex", "year", "digit"),
    [
        ("male", 1900, 0),
        ("female", 1999, 1),
        ("male", 2000, 2),
        ("female", 2099, 3),
        ("male", 2100, 4),
        ("female", 2199, 5),
    ],
)
def test_gender_century_digit(sex, year, digit):
    assert gender_century_digit(sex, year) == digit


@pytest.mark.parametrize("year", [1899, 2200])
def test_gender_century_digit_rejects_years_ids_cannot_encode(year):
    with pytest.raises(InvalidPersonalIdError, match="outside 1900-2199"):
        gender_century_digit("male", year)


def test_make_personal_id_round_trips_for_every_province_sex_and_century():
    for code in LEGACY_PROVINCES:
        for sex in ("male", "female"):
            for year in (1900, 1957, 1999, 2000, 2024, 2100, 2199):
                pid = make_personal_id(code, sex, year, 4321)
                parsed = parse_personal_id(pid)
                assert (parsed.province_code, parsed.sex, parsed.birth_year, parsed.serial) == (
                    code,
                    sex,
                    year,
                    "004321",
                )


def test_make_personal_id_builds_the_demo_ids():
    assert make_personal_id("001", "male", 1990, 1234) == "001090001234"
    assert make_personal_id(79, "female", 1995, 5678) == "079195005678"
    assert make_personal_id("048", "male", 2000, 1111) == "048200001111"
    assert make_personal_id(92, "female", 2001, 2222) == "092301002222"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("003", "male", 1990, 1), "unknown legacy province code"),
        (("01", "male", 1990, 1), "unknown legacy province code"),
        ((97, "male", 1990, 1), "unknown legacy province code"),
        (("001", "other", 1990, 1), "sex must be"),
        (("001", "male", 1899, 1), "outside"),
        (("001", "male", 1990, -1), "serial must be"),
        (("001", "male", 1990, 1_000_000), "serial must be"),
    ],
)
def test_make_personal_id_rejects_bad_parts(args, message):
    with pytest.raises(InvalidPersonalIdError, match=message):
        make_personal_id(*args)


def test_format_address_uses_tinh_for_provinces_and_city_names_as_they_are():
    assert format_address("Thôn 3", "Xã Quang Long", "Cao Bằng") == "Thôn 3, Xã Quang Long, tỉnh Cao Bằng"
    assert (
        format_address("Số 12, đường Lê Lợi", "Phường Hoàn Kiếm", "Thành phố Hà Nội")
        == "Số 12, đường Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội"
    )
