from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from intake.domain import LegalClock, WorkingCalendar, dossier_code

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
CLOCK = LegalClock(CAL, VN)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 2, 17), False),  # Tết
        (date(2026, 4, 27), False),  # Hùng Kings day observed (26 Apr is a Sunday)
        (date(2026, 9, 2), False),  # National Day
        (date(2025, 4, 26), True),  # make-up working Saturday
        (date(2025, 5, 2), False),  # the day off it paid for
        (date(2026, 11, 24), False),  # Vietnam Cultural Day
    ],
)
def test_working_days_follow_the_national_calendar(day, working):
    assert CAL.is_working_day(day) is working


def test_overrides_add_days_off_and_working_days():
    cal = WorkingCalendar(days_off={date(2026, 11, 20)}, working_days={date(2026, 11, 21)})
    assert not cal.is_working_day(date(2026, 11, 20))
    assert cal.is_working_day(date(2026, 11, 21))


def test_add_working_days_skips_tet():
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    assert CAL.add_working_days(date(2026, 2, 13), 3) == date(2026, 2, 25)


def test_same_day_procedure_after_15_counts_next_working_day():
    friday_late = datetime(2026, 11, 20, 15, 30, tzinfo=VN)
    received = CLOCK.received_at(friday_late, 0)
    assert received == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    assert CLOCK.appointment(received, 0) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_same_day_procedure_before_15_is_due_today():
    wednesday = datetime(2026, 11, 18, 14, 59, tzinfo=VN)
    assert CLOCK.received_at(wednesday, 0) == wednesday
    assert CLOCK.appointment(wednesday, 0) == datetime(2026, 11, 18, 17, 0, tzinfo=VN)


def test_multi_day_procedure_uses_closing_time_as_cutoff():
    wednesday = datetime(2026, 11, 18, 16, 0, tzinfo=VN)
    assert CLOCK.received_at(wednesday, 3) == wednesday
    assert CLOCK.appointment(wednesday, 3) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_weekend_submission_starts_on_monday_and_utc_input_is_converted():
    saturday_utc = datetime(2026, 11, 21, 3, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Hà Nội
    assert CLOCK.received_at(saturday_utc, 7) == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    # 24 Nov 2026 (Vietnam Cultural Day) is a day off in the national calendar
    assert CLOCK.appointment(CLOCK.received_at(saturday_utc, 7), 7).date() == date(2026, 12, 3)


def test_custom_cutoff():
    clock = LegalClock(CAL, VN, same_day_cutoff=time(16, 0))
    at = datetime(2026, 11, 18, 15, 30, tzinfo=VN)
    assert clock.received_at(at, 0) == at


def test_dossier_code_format():
    assert dossier_code("000.26.01.H29", date(2026, 11, 21), 13) == "000.26.01.H29-261121-0013"
