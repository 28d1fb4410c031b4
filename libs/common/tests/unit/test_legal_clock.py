"""The legal clock's rules (intake's former clock tests, now on the shared clock)."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from motcua_common.legal_clock import LegalClock, TimeBudget, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar.default()
CLOCK = LegalClock(CAL, VN)
SAME_DAY = TimeBudget(working_days=0)


def days(n: int) -> TimeBudget:
    return TimeBudget(working_days=n)


def test_same_day_procedure_after_15_counts_next_working_day():
    friday_late = datetime(2026, 11, 20, 15, 30, tzinfo=VN)
    received = CLOCK.received_at(friday_late, SAME_DAY)
    assert received == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    assert CLOCK.due_at(received, SAME_DAY) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_same_day_procedure_before_15_is_due_today():
    wednesday = datetime(2026, 11, 18, 14, 59, tzinfo=VN)
    assert CLOCK.received_at(wednesday, SAME_DAY) == wednesday
    assert CLOCK.due_at(wednesday, SAME_DAY) == datetime(2026, 11, 18, 17, 0, tzinfo=VN)


def test_multi_day_procedure_uses_closing_time_as_cutoff():
    wednesday = datetime(2026, 11, 18, 16, 0, tzinfo=VN)
    assert CLOCK.received_at(wednesday, days(3)) == wednesday
    assert CLOCK.due_at(wednesday, days(3)) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_weekend_submission_starts_on_monday_and_utc_input_is_converted():
    saturday_utc = datetime(2026, 11, 21, 3, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Hà Nội
    assert CLOCK.received_at(saturday_utc, days(7)) == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    # 24 Nov 2026 (Vietnamese Culture Day) is a day off
    assert CLOCK.due_at(CLOCK.received_at(saturday_utc, days(7)), days(7)).date() == date(2026, 12, 3)


def test_custom_cutoff():
    clock = LegalClock(CAL, VN, same_day_cutoff=time(16, 0))
    at = datetime(2026, 11, 18, 15, 30, tzinfo=VN)
    assert clock.received_at(at, SAME_DAY) == at


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        CLOCK.received_at(datetime(2026, 11, 18, 10, 0), SAME_DAY)
