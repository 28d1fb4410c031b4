"""The legal clock against hand-written vectors.

Every expected value below was worked out by hand from the published schedules, never computed with the library:
- 2026: Công văn 12729/VPCP-KGVX (25/12/2025): 01–04/01 off, Fri 02/01 swapped for Sat 10/01; Thông báo 9441/TB-BNV
  (16/10/2025): Tết 14–22/02 (weekdays off Mon 16 – Fri 20), National Day 29/08–02/09 with Mon 31/08 swapped for
  Sat 22/08; Labour Code 2019 Art. 111(3): the Hùng Kings' day (Sun 26/04) made up on Mon 27/04; 30/04 Thu and
  01/05 Fri; Resolution 28/2026/QH16: Tue 24/11 Vietnamese Culture Day.
- 2027 (statutory days; docs/calendar.md): Fri 01/01; Tết expected Thu 04/02 – Wed 10/02 (weekdays 4, 5, 8, 9, 10);
  Fri 16/04 Hùng Kings; Fri 30/04; Sat 01/05 made up on Mon 03/05; Thu 02/09 and Fri 03/09; Wed 24/11.
- Office hours: the default 08:00–12:00 and 13:00–17:00; the 15:00 cut-off of Decision 1872/QĐ-BTP.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from motcua_common.legal_clock import LegalClock, OfficeHours, TimeBudget, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar.default()
CLOCK = LegalClock(CAL, VN)
SAME_DAY = TimeBudget(working_days=0)
HOUR = 3600


def days(n: int) -> TimeBudget:
    return TimeBudget(working_days=n)


def hours(n: int) -> TimeBudget:
    return TimeBudget(working_hours=n)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN)


# --- working days -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 12, 31), True),  # Wednesday before New Year
        (date(2026, 1, 1), False),  # New Year
        (date(2026, 1, 2), False),  # swapped off (12729/VPCP-KGVX)
        (date(2026, 1, 5), True),
        (date(2026, 1, 10), True),  # Saturday worked (12729/VPCP-KGVX)
        (date(2026, 1, 11), False),
        (date(2026, 2, 13), True),  # Friday before Tết
        (date(2026, 2, 16), False),  # Tết, 29 tháng Chạp
        (date(2026, 2, 20), False),  # Tết, mùng 4
        (date(2026, 2, 23), True),
        (date(2026, 4, 27), False),  # Hùng Kings made up (Sunday 26/04)
        (date(2026, 4, 30), False),
        (date(2026, 5, 1), False),
        (date(2026, 5, 4), True),
        (date(2026, 8, 22), True),  # Saturday worked (9441/TB-BNV)
        (date(2026, 8, 31), False),  # swapped off (9441/TB-BNV)
        (date(2026, 9, 1), False),
        (date(2026, 9, 2), False),
        (date(2026, 9, 3), True),
        (date(2026, 11, 23), True),  # the proposed swap of 23/11 is not decided
        (date(2026, 11, 24), False),  # Vietnamese Culture Day
        (date(2027, 1, 1), False),
        (date(2027, 1, 4), True),
        (date(2027, 2, 3), True),
        (date(2027, 2, 4), False),  # Tết 2027 (expected)
        (date(2027, 2, 10), False),
        (date(2027, 2, 11), True),
        (date(2027, 4, 16), False),  # Hùng Kings 2027
        (date(2027, 5, 3), False),  # 1/5 on a Saturday, made up
        (date(2027, 9, 3), False),  # second National Day day (expected)
        (date(2027, 11, 24), False),
        (date(2025, 4, 26), True),  # Saturday worked (6150/TB-BLĐTBXH)
        (date(2025, 5, 2), False),
    ],
)
def test_working_days(day, working):
    assert CAL.is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 12, 31), 1, date(2026, 1, 5)),  # year boundary, New Year with its swap
        (date(2026, 1, 9), 1, date(2026, 1, 10)),  # the make-up Saturday counts
        (date(2026, 1, 9), 2, date(2026, 1, 12)),
        (date(2026, 2, 13), 1, date(2026, 2, 23)),  # across Tết 2026
        (date(2026, 2, 13), 3, date(2026, 2, 25)),
        (date(2026, 4, 24), 1, date(2026, 4, 28)),  # across Hùng Kings made up on Monday
        (date(2026, 4, 29), 1, date(2026, 5, 4)),  # across 30/4 – 1/5
        (date(2026, 8, 21), 1, date(2026, 8, 22)),  # Saturday 22/08 worked
        (date(2026, 8, 28), 1, date(2026, 9, 3)),  # across 31/08 – 02/09
        (date(2026, 11, 23), 1, date(2026, 11, 25)),  # across Culture Day
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # year boundary into 2027
        (date(2027, 2, 3), 1, date(2027, 2, 11)),  # across Tết 2027
        (date(2027, 4, 29), 1, date(2027, 5, 4)),  # across 30/4 – 1/5 – 3/5 of 2027
        (date(2027, 9, 1), 1, date(2027, 9, 6)),  # across 2/9 – 3/9 of 2027
        (date(2026, 11, 18), 0, date(2026, 11, 18)),
    ],
)
def test_add_working_days(start, n, expected):
    assert CAL.add_working_days(start, n) == expected


def test_next_working_day_and_counting():
    assert CAL.next_working_day(date(2026, 2, 14)) == date(2026, 2, 23)  # from inside Tết
    # after 13/02 up to 27/02 2026: 23, 24, 25, 26, 27
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 27)) == 5
    # January 2026: 22 weekdays, minus 1 and 2 January, plus Saturday 10 January
    assert CAL.working_days_between(date(2025, 12, 31), date(2026, 1, 31)) == 21
    assert CAL.working_days_between(date(2026, 1, 31), date(2025, 12, 31)) == -21
    assert CAL.working_days_between(date(2026, 1, 5), date(2026, 1, 5)) == 0


# --- receipt: the 15:00 rule and closing time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "budget", "received", "due"),
    [
        # same-day procedures: before 15:00 today, after it the next working day
        (at(2026, 11, 18, 14, 59, 59), SAME_DAY, at(2026, 11, 18, 14, 59, 59), at(2026, 11, 18, 17)),
        (at(2026, 11, 18, 15), SAME_DAY, at(2026, 11, 19, 8), at(2026, 11, 19, 17)),
        (at(2025, 12, 31, 15, 30), SAME_DAY, at(2026, 1, 5, 8), at(2026, 1, 5, 17)),  # over New Year and its swap
        (at(2026, 1, 9, 15, 30), SAME_DAY, at(2026, 1, 10, 8), at(2026, 1, 10, 17)),  # to the make-up Saturday
        (at(2026, 1, 10, 10), SAME_DAY, at(2026, 1, 10, 10), at(2026, 1, 10, 17)),  # on the make-up Saturday
        (at(2026, 2, 13, 15, 1), SAME_DAY, at(2026, 2, 23, 8), at(2026, 2, 23, 17)),  # over Tết 2026
        (at(2026, 11, 23, 16), SAME_DAY, at(2026, 11, 25, 8), at(2026, 11, 25, 17)),  # over Culture Day
        (at(2027, 2, 3, 15, 30), SAME_DAY, at(2027, 2, 11, 8), at(2027, 2, 11, 17)),  # over Tết 2027
        # longer procedures: closing time is the cut-off
        (at(2026, 11, 18, 16), days(3), at(2026, 11, 18, 16), at(2026, 11, 23, 17)),
        (at(2026, 2, 13, 10), days(3), at(2026, 2, 13, 10), at(2026, 2, 25, 17)),
        (at(2026, 4, 28, 9), days(5), at(2026, 4, 28, 9), at(2026, 5, 7, 17)),  # 29/4, 4, 5, 6, 7/5
        (at(2026, 8, 27, 16), days(2), at(2026, 8, 27, 16), at(2026, 9, 3, 17)),  # 28/8, 3/9
        (at(2026, 8, 27, 17, 30), days(2), at(2026, 8, 28, 8), at(2026, 9, 4, 17)),  # after closing: 3/9, 4/9
        (at(2026, 11, 21, 10), days(7), at(2026, 11, 23, 8), at(2026, 12, 3, 17)),  # Saturday; 24/11 off
        (at(2026, 12, 31, 16, 59), days(1), at(2026, 12, 31, 16, 59), at(2027, 1, 4, 17)),
        (at(2026, 12, 31, 16, 59), days(2), at(2026, 12, 31, 16, 59), at(2027, 1, 5, 17)),
        (at(2027, 2, 3, 9), days(3), at(2027, 2, 3, 9), at(2027, 2, 15, 17)),  # 11, 12, 15/2
        (at(2027, 4, 29, 10), days(2), at(2027, 4, 29, 10), at(2027, 5, 5, 17)),  # 4/5, 5/5
        (at(2027, 9, 1, 10), days(1), at(2027, 9, 1, 10), at(2027, 9, 6, 17)),
        (at(2026, 12, 1, 6, 30), days(1), at(2026, 12, 1, 6, 30), at(2026, 12, 2, 17)),  # before opening: kept
    ],
)
def test_receipt_and_due_date(submitted, budget, received, due):
    assert CLOCK.received_at(submitted, budget) == received
    assert CLOCK.due_at(received, budget) == due


def test_utc_input_is_converted_and_output_is_local():
    saturday_utc = datetime(2026, 11, 21, 3, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Hà Nội
    received = CLOCK.received_at(saturday_utc, days(7))
    assert received == at(2026, 11, 23, 8) and received.tzinfo == VN
    assert CLOCK.received_at(datetime(2026, 11, 18, 7, 59, tzinfo=ZoneInfo("UTC")), SAME_DAY) == at(
        2026, 11, 18, 14, 59
    )
    assert CLOCK.received_at(datetime(2026, 11, 18, 8, 0, tzinfo=ZoneInfo("UTC")), SAME_DAY) == at(2026, 11, 19, 8)


def test_due_at_on_a_non_working_day_counts_from_the_next_working_day():
    # a receipt time that did not come from received_at (a Sunday) still counts from Monday 23/11
    assert CLOCK.due_at(at(2026, 11, 22, 10), days(1)) == at(2026, 11, 25, 17)
    assert CLOCK.due_at(at(2026, 11, 22, 10), SAME_DAY) == at(2026, 11, 23, 17)


def test_custom_cutoff():
    clock = LegalClock(CAL, VN, same_day_cutoff=time(16, 0))
    assert clock.received_at(at(2026, 11, 18, 15, 30), SAME_DAY) == at(2026, 11, 18, 15, 30)


# --- working hours: lunch, nights, weekends, holidays -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "budget", "due"),
    [
        (at(2026, 12, 1, 8), hours(4), at(2026, 12, 1, 12)),  # the morning exactly: 12:00, not 13:00
        (at(2026, 12, 1, 11, 30), hours(1), at(2026, 12, 1, 13, 30)),  # across lunch
        (at(2026, 12, 1, 12, 30), hours(1), at(2026, 12, 1, 14)),  # starting in the lunch break
        (at(2026, 12, 1, 6), hours(8), at(2026, 12, 1, 17)),  # before opening
        (at(2026, 12, 1, 16), hours(2), at(2026, 12, 2, 9)),  # across the night
        (at(2026, 11, 23, 10), hours(8), at(2026, 11, 25, 10)),  # Mon 6 h, Culture Day, Wed 2 h
        (at(2026, 1, 9, 15), hours(4), at(2026, 1, 10, 10)),  # into the make-up Saturday
        (at(2026, 2, 13, 9), hours(16), at(2026, 2, 24, 9)),  # Fri 7 h, Tết, Mon 8 h, Tue 1 h
        (at(2026, 12, 31, 11), hours(2), at(2026, 12, 31, 14)),
        (at(2026, 12, 31, 16), hours(4), at(2027, 1, 4, 11)),  # year boundary, New Year 2027, weekend
        (at(2026, 11, 21, 10), hours(1), at(2026, 11, 23, 9)),  # a Saturday
    ],
)
def test_working_hours_budget(start, budget, due):
    assert CLOCK.due_at(start, budget) == due


@pytest.mark.parametrize(
    ("a", "b", "seconds"),
    [
        (at(2026, 12, 1, 11), at(2026, 12, 1, 14), 2 * HOUR),  # lunch does not count
        (at(2026, 2, 13, 16), at(2026, 2, 23, 9), 2 * HOUR),  # across Tết
        (at(2026, 1, 9, 17), at(2026, 1, 12, 8), 8 * HOUR),  # the make-up Saturday counts in full
        (at(2026, 11, 21, 0), at(2026, 11, 22, 23, 59), 0),  # a weekend
        (at(2026, 12, 1, 14), at(2026, 12, 1, 11), -2 * HOUR),
    ],
)
def test_working_seconds_between(a, b, seconds):
    assert CLOCK.working_seconds_between(a, b) == seconds


def test_subtract_working_seconds_goes_back_to_the_earliest_instant():
    assert CLOCK.subtract_working_seconds(at(2026, 12, 1, 14), 2 * HOUR) == at(2026, 12, 1, 11)
    # 8 h before Wednesday 25/11 17:00 is Monday 17:00: Tuesday is Culture Day and the night has no office time
    assert CLOCK.subtract_working_seconds(at(2026, 11, 25, 17), 8 * HOUR) == at(2026, 11, 23, 17)
    assert CLOCK.subtract_working_seconds(at(2026, 11, 25, 17), 0) == at(2026, 11, 25, 17)


def test_other_office_hours():
    # e.g. a province working 07:30–11:30 and 13:30–17:00 (7.5 h a day)
    office = OfficeHours.parse("07:30-11:30, 13:30-17:00")
    assert office.seconds_per_day == 7.5 * HOUR and str(office) == "07:30-11:30,13:30-17:00"
    clock = LegalClock(CAL, VN, office)
    assert clock.due_at(at(2026, 12, 7, 7, 30), hours(8)) == at(2026, 12, 8, 8)
    assert clock.received_at(at(2026, 12, 5, 9), days(1)) == at(2026, 12, 7, 7, 30)  # Saturday → Monday opening
    assert clock.due_at(at(2026, 12, 7, 9), days(1)) == at(2026, 12, 8, 17)


@pytest.mark.parametrize("text", ["", "8-12", "08:00-12:00,11:00-17:00", "12:00-08:00", "08:00-12:00;13:00-17:00"])
def test_bad_office_hours_are_refused(text):
    with pytest.raises(ValueError):
        OfficeHours.parse(text)


def test_cutoff_outside_office_hours_is_refused():
    with pytest.raises(ValueError):
        LegalClock(CAL, VN, same_day_cutoff=time(18, 0))


# --- supplements: pause and restart -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "paused", "resumed", "new_due"),
    [
        # 22 h left at the pause (Wed 6 h, Thu 8, Fri 8); from Mon 09:00: Mon 7, Wed 8 (Tue is Culture Day), Thu 7
        (at(2026, 11, 20, 17), at(2026, 11, 18, 10), at(2026, 11, 23, 9), at(2026, 11, 26, 16)),
        # paused after closing with Friday left (8 h), resumed inside Tết: Monday 23/02 in full
        (at(2026, 2, 13, 17), at(2026, 2, 12, 17, 30), at(2026, 2, 14, 10), at(2026, 2, 23, 17)),
        # 1 h left on Thu 31/12/2026; resumed on a Saturday after New Year 2027: Monday 04/01 08:00 + 1 h
        (at(2026, 12, 31, 17), at(2026, 12, 31, 16), at(2027, 1, 2, 9), at(2027, 1, 4, 9)),
        # resumed at once: nothing changes
        (at(2026, 11, 20, 17), at(2026, 11, 18, 10), at(2026, 11, 18, 10), at(2026, 11, 20, 17)),
        # paused once already overdue: the due date stays
        (at(2026, 11, 20, 17), at(2026, 11, 23, 9), at(2026, 11, 26, 9), at(2026, 11, 20, 17)),
    ],
)
def test_pause_continues_the_remaining_office_time(due, paused, resumed, new_due):
    assert CLOCK.resumed_due(due, paused, resumed, "pause", days(5)) == new_due


@pytest.mark.parametrize(
    ("resumed", "budget", "new_due"),
    [
        (at(2026, 8, 27, 10), days(5), at(2026, 9, 8, 17)),  # 28/8, 3, 4, 7, 8/9
        (at(2026, 1, 9, 15, 30), SAME_DAY, at(2026, 1, 10, 17)),  # 15:00 rule, then the make-up Saturday
        (at(2026, 12, 30, 14), hours(8), at(2026, 12, 31, 14)),  # Wed 3 h, Thu 5 h
        (at(2026, 12, 31, 17, 30), days(1), at(2027, 1, 5, 17)),  # after closing: counts from Mon 04/01
    ],
)
def test_restart_counts_the_whole_budget_again(resumed, budget, new_due):
    paused = resumed - timedelta(days=3)
    assert CLOCK.resumed_due(resumed + timedelta(days=1), paused, resumed, "restart", budget) == new_due


def test_resume_before_pause_and_unknown_rule_are_refused():
    with pytest.raises(ValueError):
        CLOCK.resumed_due(at(2026, 11, 20, 17), at(2026, 11, 18, 10), at(2026, 11, 17, 10), "pause", days(1))
    with pytest.raises(ValueError):
        CLOCK.resumed_due(at(2026, 11, 20, 17), at(2026, 11, 18, 10), at(2026, 11, 19, 10), "stop", days(1))  # type: ignore[arg-type]


# --- due soon, overdue -----------------------------------------------------------------------------------------------


def test_due_soon_and_overdue():
    due = at(2026, 11, 25, 17)
    within = timedelta(hours=8)
    assert CLOCK.due_soon_at(due, within) == at(2026, 11, 23, 17)
    assert not CLOCK.is_due_soon(due, at(2026, 11, 23, 16, 59), within)
    assert CLOCK.is_due_soon(due, at(2026, 11, 23, 17), within)
    assert CLOCK.is_due_soon(due, at(2026, 11, 24, 10), within)  # Culture Day: still 8 h left
    assert CLOCK.is_due_soon(due, due, within) and not CLOCK.is_overdue(due, due)
    assert CLOCK.is_overdue(due, due + timedelta(seconds=1))
    assert not CLOCK.is_due_soon(due, due + timedelta(seconds=1), within)
    assert CLOCK.remaining_seconds(due, at(2026, 11, 24, 10)) == 8 * HOUR
    # two working days before Fri 04/09/2026 17:00 reach back over 31/08 – 02/09 to Fri 28/08 17:00
    assert CLOCK.due_soon_at(at(2026, 9, 4, 17), timedelta(hours=16)) == at(2026, 8, 28, 17)


def test_budget_seconds_and_working_time():
    assert CLOCK.budget_seconds(days(3)) == 24 * HOUR
    assert CLOCK.budget_seconds(hours(5)) == 5 * HOUR
    assert CLOCK.budget_seconds(SAME_DAY) == 0
    assert CLOCK.is_working_time(at(2026, 1, 10, 9))  # make-up Saturday
    assert not CLOCK.is_working_time(at(2026, 1, 2, 9))  # swapped off
    assert not CLOCK.is_working_time(at(2026, 12, 1, 12, 30))  # lunch


# --- inputs --------------------------------------------------------------------------------------------------------


def test_naive_datetimes_and_datetimes_for_dates_are_refused():
    with pytest.raises(ValueError):
        CLOCK.received_at(datetime(2026, 11, 18, 10, 0), SAME_DAY)
    with pytest.raises(ValueError):
        CLOCK.working_seconds_between(at(2026, 11, 18), datetime(2026, 11, 19))
    with pytest.raises(ValueError):
        CLOCK.add_working_seconds(at(2026, 11, 18), -1)
    with pytest.raises(ValueError):
        CAL.is_working_day(datetime(2026, 11, 18, 10, tzinfo=VN))
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 11, 18), -1)


@pytest.mark.parametrize(
    "arrived",
    [at(2026, 1, 5, 9), at(2026, 1, 5, 14, 59), at(2026, 1, 5, 15), at(2026, 1, 5, 16, 30), at(2026, 1, 5, 18),
     at(2026, 1, 3, 10), at(2026, 1, 1, 10), at(2026, 1, 4, 23, 59)],
)  # fmt: skip
def test_a_dossier_is_received_on_the_day_it_arrives_or_on_its_later_receipt_day(arrived):
    """later_receipt_day names the only other day received_at can give, for any procedure (intake reads the version
    in force on that day with its first statement)."""
    later = CLOCK.later_receipt_day(arrived)
    for budget in (SAME_DAY, days(3), hours(8)):
        received = CLOCK.received_at(arrived, budget).date()
        assert received == arrived.date() or received == later
    if later is not None:
        assert CLOCK.received_at(arrived, SAME_DAY).date() == later
