"""The one place intake asks the legal clock (``motcua_common.legal_clock``, shared with processing): when a dossier
counts as received and when its result is due, for a procedure's time budget (working days, or working hours for
procedures counted in hours such as the certificate of origin)."""

import math
from datetime import datetime

from motcua_common.legal_clock import DEFAULT_OFFICE_HOURS, LegalClock
from motcua_common.procedures import TimeBudget


def received_at(clock: LegalClock, submitted_at: datetime, budget: TimeBudget) -> datetime:
    """When the legal clock starts for a dossier submitted at ``submitted_at`` (the 15:00 rule for same-day
    procedures; the next office period for an hour budget)."""
    return clock.received_at(submitted_at, budget)


def due_at(clock: LegalClock, received: datetime, budget: TimeBudget) -> datetime:
    """When the result is due: closing time of the N-th working day after receipt, or N office hours later."""
    return clock.due_at(received, budget)


def processing_days(budget: TimeBudget) -> int:
    """The budget in whole working days, for the ``processing_days`` field older readers use (an hour budget is
    rounded up to whole days of the default office hours: a label, never used to compute a date)."""
    if budget.working_days is not None:
        return budget.working_days
    assert budget.working_hours is not None  # a TimeBudget has exactly one of the two
    return math.ceil(budget.working_hours * 3600 / DEFAULT_OFFICE_HOURS.seconds_per_day)
