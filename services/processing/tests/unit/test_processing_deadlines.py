"""The engine's date arithmetic on the one legal clock (motcua_common.legal_clock): receipt, pause, restart,
extension, due-soon. 7–17 December 2026 have no public holiday, so each vector can be counted by hand."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from motcua_common import sample_procedures
from motcua_common.legal_clock import LegalClock, WorkingCalendar
from processing.deadlines import Clock

HN = ZoneInfo("Asia/Ho_Chi_Minh")
CLOCK = Clock(LegalClock(WorkingCalendar.default()))
PAUSING = sample_procedures.standard(working_days=3, supplement_clock="pause")
RESTARTING = sample_procedures.standard(working_days=3, supplement_clock="restart")


def hn(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HN)


def test_receipt_starts_the_clock():
    # Monday 7 Dec 20:14 is after closing: received Tuesday 08:00, due the 3rd working day after, Friday 17:00.
    assert CLOCK.start(hn(7, 20, 14), PAUSING.budget) == (hn(8, 8), hn(11, 17))
    # Within office hours: from that instant; a same-day step is due at closing time that day.
    assert CLOCK.start(hn(8, 10), PAUSING.budget) == (hn(8, 10), hn(11, 17))
    assert CLOCK.step_due(hn(8, 10), PAUSING.step("receive")) == hn(8, 17)


def test_pause_gives_back_the_office_time_left():
    # Due Friday 11 17:00; paused Wednesday 9 10:00 with 2 + 4 + 8 + 8 = 22 office hours left. Resumed Monday 14
    # 09:00: Monday 3 + 4 = 7 h, Tuesday 8 h (15), Wednesday 16 4 h (19) then 3 h from 13:00: 16:00.
    due = CLOCK.resumed(hn(11, 17), hn(9, 10), hn(14, 9), PAUSING, PAUSING.budget)
    assert due == hn(16, 16)


def test_a_pause_after_the_due_date_gives_nothing_back():
    assert CLOCK.resumed(hn(11, 17), hn(14, 9), hn(14, 15), PAUSING, PAUSING.budget) == hn(11, 17)


def test_restart_counts_the_whole_time_again():
    # Supplemented Monday 14 09:00: the full 3 working days again, due Thursday 17 17:00.
    due = CLOCK.resumed(hn(11, 17), hn(9, 10), hn(14, 9), RESTARTING, RESTARTING.budget)
    assert due == hn(17, 17)


@pytest.mark.parametrize(
    ("new_due", "why"),
    [
        (hn(11, 17), "later"),  # not later than the current due date
        (hn(10, 17), "later"),
        (hn(12, 17), "working day"),  # Saturday
        (hn(13, 17), "working day"),  # Sunday
        (hn(14, 17), None),
        (hn(15, 9), None),
    ],
)
def test_an_extension_is_later_and_on_a_working_day(new_due, why):
    found = CLOCK.acceptable_extension(hn(11, 17), new_due)
    assert found is None if why is None else (found is not None and why in found)


def test_due_soon_opens_one_working_day_of_office_time_before():
    """From the earliest instant with at most the window of office time left (the clock counts back to it)."""
    # Friday 11 17:00 minus 8 office hours: Thursday 10 at closing; half a day: Friday at the lunch break's start;
    # two days: Wednesday 9 at closing; over a weekend, Monday 14 12:00: Friday 11 at the lunch break's start.
    assert CLOCK.due_soon_at(hn(11, 17), 1) == hn(10, 17)
    assert CLOCK.due_soon_at(hn(11, 17), 0.5) == hn(11, 12)
    assert CLOCK.due_soon_at(hn(11, 17), 2) == hn(9, 17)
    assert CLOCK.due_soon_at(hn(14, 12), 1) == hn(11, 12)
    for due, days in ((hn(11, 17), 1), (hn(14, 12), 1), (hn(16, 10), 0.25)):
        opens = CLOCK.due_soon_at(due, days)
        assert CLOCK.legal.working_seconds_between(opens, due) == days * 8 * 3600
