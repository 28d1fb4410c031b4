"""The one place intake asks the legal clock: when a dossier counts as received and when its result is due, for a
procedure's time budget (working days, or working hours for procedures counted in hours such as the certificate
of origin). Everything else in intake calls these two functions, so the clock behind them can be swapped in one
place (issue 6 moves the clock to ``motcua_common.legal_clock``).

Working hours are counted in the office periods of each working day: morning from opening to the lunch break,
afternoon from its end to closing (08:00-12:00 and 13:00-17:00 by default: eight hours a day, the civil service's
working day). The lunch break is a default, not yet a setting.
"""

import math
from datetime import datetime, time, timedelta

from motcua_common.procedures import TimeBudget

from .domain import LegalClock

LUNCH = (time(12, 0), time(13, 0))
HOURS_PER_DAY = 8  # for `processing_days` of an hour budget (older consumers read whole days)


def _periods(clock: LegalClock, day: datetime) -> list[tuple[datetime, datetime]]:
    at = lambda t: datetime.combine(day.date(), t, clock.tz)  # noqa: E731 - a local shorthand
    return [(at(clock.office_open), at(LUNCH[0])), (at(LUNCH[1]), at(clock.office_close))]


def _next_working_moment(clock: LegalClock, moment: datetime) -> datetime:
    """``moment`` if it falls in office hours of a working day, else the start of the next office period."""
    local = moment.astimezone(clock.tz)
    while True:
        if clock.calendar.is_working_day(local.date()):
            for start, end in _periods(clock, local):
                if local < end:
                    return max(local, start)
        local = datetime.combine(clock.calendar.next_working_day(local.date()), time(0), clock.tz)


def received_at(clock: LegalClock, submitted_at: datetime, budget: TimeBudget) -> datetime:
    """When the legal clock starts for a dossier submitted at ``submitted_at`` (the 15:00 rule for same-day
    procedures; the next office period for an hour budget)."""
    if budget.working_days is not None:
        return clock.received_at(submitted_at, budget.working_days)
    return _next_working_moment(clock, submitted_at)


def due_at(clock: LegalClock, received: datetime, budget: TimeBudget) -> datetime:
    """When the result is due: closing time of the N-th working day after receipt, or N working hours later."""
    if budget.working_days is not None:
        return clock.appointment(received, budget.working_days)
    assert budget.working_hours is not None  # a TimeBudget has exactly one of the two
    remaining = timedelta(hours=budget.working_hours)
    moment = _next_working_moment(clock, received)
    while True:
        for start, end in _periods(clock, moment):
            if end <= moment:
                continue
            begin = max(moment, start)
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        moment = datetime.combine(clock.calendar.next_working_day(moment.date()), clock.office_open, clock.tz)


def processing_days(budget: TimeBudget) -> int:
    """The budget in whole working days, for the ``processing_days`` field older readers use (an hour budget is
    rounded up to days of ``HOURS_PER_DAY`` hours)."""
    if budget.working_days is not None:
        return budget.working_days
    assert budget.working_hours is not None
    return math.ceil(budget.working_hours / HOURS_PER_DAY)
