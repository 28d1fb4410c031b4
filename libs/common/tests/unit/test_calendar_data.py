"""The shipped calendar data, the file format, the override file and the fallback to the ``holidays`` package."""

import re
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest

from motcua_common.legal_clock import DATA_DIR, LegalClock, WorkingCalendar, load_calendar_file
from motcua_common.settings import ServiceSettings

CAL = WorkingCalendar.default()
DATA_YEARS = (2025, 2026, 2027)


def every_day(year: int):
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def test_the_data_covers_2025_to_2027_and_says_how():
    assert {y: CAL.coverage(y) for y in DATA_YEARS} == {2025: "decided", 2026: "decided", 2027: "statutory"}
    assert CAL.coverage(2024) == "package" and CAL.coverage(2028) == "package"
    for year in DATA_YEARS:
        assert CAL.years[year].note.strip(), f"{year} has no note"
    assert "not found" in CAL.years[2027].note  # why 2027 holds the statutory days only


def test_every_entry_has_a_source_it_can_be_checked_against():
    """A source cites the Labour Code, or a document listed (number, date, title) in its year's ``documents``."""
    for year in DATA_YEARS:
        documents = {d["id"] for d in CAL.years[year].documents}
        assert documents, f"{year} lists no documents"
        for d in CAL.years[year].documents:
            assert d.get("title"), d
        for entry in CAL.entries(year):
            assert entry.name.strip() and entry.source.strip()
            assert re.search(r"[ăâđêôơưáàảãạếềểễệốồổỗộớờởỡợ]", entry.name.lower()), f"{entry.date}: name not Vietnamese"
            cited = [doc for doc in documents if doc in entry.source]
            assert "Bộ luật Lao động 2019" in entry.source or cited, (
                f"{entry.date}: {entry.source!r} cites no listed document"
            )


def test_statutory_days_of_every_year():
    """Labour Code 2019 Art. 112(1): 1/1, 30/4, 1/5, 2/9 are holidays whatever the weekday; from 2026, 24/11
    (Resolution 28/2026/QH16)."""
    for year in DATA_YEARS:
        for month, day in ((1, 1), (4, 30), (5, 1), (9, 2)):
            entry = CAL.entry(date(year, month, day))
            assert entry is not None and entry.kind == "holiday", (year, month, day)
    assert CAL.entry(date(2025, 11, 24)) is None
    assert CAL.entry(date(2026, 11, 24)).kind == "holiday"  # type: ignore[union-attr]
    assert CAL.entry(date(2027, 11, 24)).kind == "holiday"  # type: ignore[union-attr]


def test_weekdays_off_and_saturdays_worked_per_year():
    """The whole year, written out from the notices (see the data files' notes), against the data."""
    expected_off = {
        2025: [
            "01-01",
            "01-27",
            "01-28",
            "01-29",
            "01-30",
            "01-31",
            "04-07",
            "04-30",
            "05-01",
            "05-02",
            "09-01",
            "09-02",
        ],  # fmt: skip
        2026: [
            "01-01",
            "01-02",
            "02-16",
            "02-17",
            "02-18",
            "02-19",
            "02-20",
            "04-27",
            "04-30",
            "05-01",
            "08-31",
            "09-01",
            "09-02",
            "11-24",
        ],  # fmt: skip
        2027: [
            "01-01",
            "02-04",
            "02-05",
            "02-08",
            "02-09",
            "02-10",
            "04-16",
            "04-30",
            "05-03",
            "09-02",
            "09-03",
            "11-24",
        ],  # fmt: skip
    }
    expected_worked_weekend = {2025: ["04-26"], 2026: ["01-10", "08-22"], 2027: []}
    for year in DATA_YEARS:
        off = [f"{d:%m-%d}" for d in every_day(year) if d.weekday() < 5 and not CAL.is_working_day(d)]
        worked = [f"{d:%m-%d}" for d in every_day(year) if d.weekday() >= 5 and CAL.is_working_day(d)]
        assert off == expected_off[year], year
        assert worked == expected_worked_weekend[year], year


def test_where_the_data_overrides_the_package():
    """The decisions win over ``holidays`` 0.109: in 2025–2027 the two disagree on exactly the New Year 2026 swap
    (Công văn 12729/VPCP-KGVX), and both entries say so."""
    package = holidays.country_holidays("VN", years=DATA_YEARS)
    differ = [d for y in DATA_YEARS for d in every_day(y) if CAL.is_working_day(d) != package.is_working_day(d)]
    assert differ == [date(2026, 1, 2), date(2026, 1, 10)]
    for day in differ:
        entry = CAL.entry(day)
        assert entry is not None and "12729/VPCP-KGVX" in entry.source
        assert entry.note and "holidays package" in entry.note


def test_expected_days_of_2027_are_marked():
    expected = [e for e in CAL.entries(2027) if "dự kiến" in e.name]
    assert [e.date for e in expected] == [
        date(2027, 2, 4),
        date(2027, 2, 5),
        date(2027, 2, 8),
        date(2027, 2, 9),
        date(2027, 2, 10),
        date(2027, 9, 3),
    ]
    for e in expected:
        assert e.note and e.note.startswith("Expected") and "chưa ban hành" in e.source


def test_years_outside_the_data_fall_back_to_the_package():
    assert not CAL.is_working_day(date(2028, 1, 1))  # New Year on a Saturday…
    assert not CAL.is_working_day(date(2028, 1, 3))  # …made up on Monday (Labour Code Art. 111(3))
    assert CAL.is_working_day(date(2028, 1, 4))
    assert not CAL.is_working_day(date(2024, 2, 12))  # Tết Giáp Thìn (package)
    entry = CAL.entry(date(2028, 9, 2))
    assert entry is not None and entry.kind == "holiday" and entry.source.startswith("holidays ")
    assert entry.note and "not in the calendar data" in entry.note
    assert CAL.entries(2028) and all(e.source.startswith("holidays ") for e in CAL.entries(2028))
    assert CAL.add_working_days(date(2027, 12, 31), 1) == date(2028, 1, 4)  # data year into a package year


# --- the file format -------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "override.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def day(when: str, kind: str = "day_off", source: str = "y", name: str = "x") -> str:
    return f'[[day]]\ndate = {when}\nkind = "{kind}"\nname = "{name}"\nsource = "{source}"\n'


PROVINCE = "Quyết định của UBND tỉnh (ví dụ)"
OVERRIDE = (
    '[[year]]\nyear = 2026\nstatus = "decided"\nnote = "a province\'s own day"\n'
    + day("2026-11-23", "day_off", PROVINCE, "Nghỉ hoán đổi dịp Ngày Văn hóa Việt Nam (thử nghiệm)")
    + day("2026-11-28", "working_day", PROVINCE, "Làm bù cho ngày 23/11/2026 (thử nghiệm)")
    + '[[year]]\nyear = 2028\nstatus = "statutory"\n'
    + day("2028-01-03", "day_off", "Thử nghiệm", "Ngày nghỉ thử nghiệm")
)


def test_an_override_file_adds_to_and_replaces_the_shipped_data(tmp_path):
    cal = WorkingCalendar.default(write(tmp_path, OVERRIDE))
    assert not cal.is_working_day(date(2026, 11, 23)) and cal.is_working_day(date(2026, 11, 28))
    assert not cal.is_working_day(date(2026, 11, 24))  # the shipped entries of 2026 are kept
    assert cal.years[2026].note == "a province's own day"
    # 2028 is now decided by the data alone: no package holidays that year
    assert cal.coverage(2028) == "statutory"
    assert not cal.is_working_day(date(2028, 1, 3)) and cal.is_working_day(date(2028, 1, 31))
    assert cal.entry(date(2028, 1, 1)) is None  # not in the override: the package no longer speaks for 2028


def test_replace_drops_the_earlier_entries_of_the_year(tmp_path):
    text = OVERRIDE.replace('status = "decided"\n', 'status = "decided"\nreplace = true\n', 1)
    cal = WorkingCalendar.default(write(tmp_path, text))
    assert cal.is_working_day(date(2026, 11, 24))  # the shipped 24/11 was dropped with the rest of 2026
    assert cal.is_working_day(date(2026, 2, 17))


def test_the_setting_reaches_the_clock(tmp_path, monkeypatch):
    path = write(tmp_path, OVERRIDE)
    monkeypatch.setenv("MOTCUA_CALENDAR_FILE", str(path))
    monkeypatch.setenv("MOTCUA_OFFICE_HOURS", "07:30-11:30,13:30-17:00")
    settings = ServiceSettings()
    assert settings.calendar_file == path
    clock = settings.legal_clock()
    assert isinstance(clock, LegalClock)
    assert not clock.calendar.is_working_day(date(2026, 11, 23))
    assert str(clock.office_hours) == "07:30-11:30,13:30-17:00"
    assert ServiceSettings(calendar_file=None).legal_clock().calendar.is_working_day(date(2026, 11, 23))


YEAR_2026 = '[[year]]\nyear = 2026\nstatus = "decided"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (YEAR_2026 + day("2026-01-05", source=""), "'source' is required"),
        (YEAR_2026 + day("2027-01-05"), "declares no [[year]] 2027"),
        (YEAR_2026 + day("2026-01-03"), "weekend"),
        (YEAR_2026 + day("2026-01-05", kind="working_day"), "Saturday or Sunday"),
        (YEAR_2026 + day("2026-01-05T08:00:00"), "TOML date"),
        (YEAR_2026 + day("2026-01-05", kind="off"), "'kind'"),
        (YEAR_2026 + day("2026-01-05") + day("2026-01-05", kind="holiday"), "twice"),
        ('[[year]]\nyear = 2026\nstatus = "maybe"\n', "status"),
        (YEAR_2026 + 'source = "x"\n', "unknown keys"),
        ("[[days]]\n", "unknown top-level"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_calendar_file(write(tmp_path, text))


def test_the_shipped_files_load_one_by_one():
    files = sorted(DATA_DIR.glob("*.toml"))
    assert [f.stem for f in files] == ["2025", "2026", "2027"]
    for path in files:
        years, entries = load_calendar_file(path)
        assert [y.year for y in years] == [int(path.stem)]
        assert all(e.date.year == int(path.stem) for e in entries)
