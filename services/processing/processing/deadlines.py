"""Every date the engine needs, computed by the one legal clock (:mod:`motcua_common.legal_clock`): when the clock
starts, a step's and the dossier's due date, the due date after a supplement pause or restart, whether a new
appointment is acceptable, whether a dossier is due soon, how much office time a dossier took and when it is likely
to be done. Pure: no I/O, no working-day arithmetic of its own."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from motcua_common.legal_clock import LegalClock
from motcua_common.procedures import ProcedureDefinition, StepDefinition, TimeBudget

# Vietnamese reasons kept with each change of the due date (shown on the citizen's timeline).
DUE_REASONS = {
    "received": "Hồ sơ được tiếp nhận: bắt đầu tính thời hạn giải quyết",
    "paused": "Tạm dừng tính thời hạn trong thời gian chờ bổ sung hồ sơ",
    "resumed": "Tiếp tục tính thời hạn sau khi hồ sơ được bổ sung",
    "restarted": "Tính lại thời hạn từ đầu sau khi hồ sơ được bổ sung",
}


@dataclass(frozen=True)
class Clock:
    """The legal clock bound to the engine's questions."""

    legal: LegalClock

    def start(self, at: datetime, budget: TimeBudget) -> tuple[datetime, datetime]:
        """(when the legal clock starts, the due date) for a dossier received at ``at``."""
        started = self.legal.received_at(at, budget)
        return started, self.legal.due_at(started, budget)

    def step_due(self, entered_at: datetime, step: StepDefinition) -> datetime:
        """When a step entered at ``entered_at`` is due, by the step's own budget."""
        return self.legal.due_at(self.legal.received_at(entered_at, step.budget), step.budget)

    def resumed(
        self,
        due_at: datetime,
        paused_at: datetime,
        resumed_at: datetime,
        definition: ProcedureDefinition,
        budget: TimeBudget,
    ) -> datetime:
        """The due date once the applicant has supplemented: the working time left at the pause counted again from
        ``resumed_at`` (rule ``pause``), or the whole ``budget`` from ``resumed_at`` (rule ``restart``)."""
        return self.legal.resumed_due(due_at, paused_at, resumed_at, definition.supplement.clock, budget)

    def acceptable_extension(self, current_due: datetime, new_due: datetime) -> str | None:
        """Why ``new_due`` cannot be the new appointment, or None: it must be later than the current due date and
        fall on a working day."""
        if new_due <= current_due:
            return "The new due date must be later than the current one."
        if not self.legal.calendar.is_working_day(new_due.astimezone(self.legal.tz).date()):
            return "The new due date must fall on a working day."
        return None

    def due_soon_at(self, due_at: datetime, window_working_days: float) -> datetime:
        """When a dossier due at ``due_at`` becomes due soon: ``window_working_days`` of office time before."""
        seconds = window_working_days * self.legal.office_hours.seconds_per_day
        return self.legal.due_soon_at(due_at, timedelta(seconds=seconds))

    def due_soon_until(self, now: datetime, window_working_days: float) -> datetime:
        """The latest due date that is due soon at ``now``: a dossier due at ``d >= now`` is due soon exactly when
        ``d <= due_soon_until(now)``, the same rule as ``due_soon_at(d) <= now`` (at most the window of office time
        left), turned into a range of due dates an index reads. It is the instant the window's office time runs out
        after ``now``, or, when that falls at the end of an office period, the start of the next one (a due date in
        the break in between still has only the window left)."""
        seconds = window_working_days * self.legal.office_hours.seconds_per_day
        tick = timedelta(microseconds=1)  # timestamps' resolution
        return self.legal.add_working_seconds(now, seconds + tick.total_seconds()) - tick

    def office_seconds(self, start: datetime, end: datetime, pauses: Iterable[tuple[datetime, datetime]]) -> float:
        """Office time from ``start`` to ``end`` without the office time of ``pauses`` (the applicant's supplement
        waits, each (requested, supplemented)), clipped to [start, end]."""
        total = self.legal.working_seconds_between(start, end)
        for paused, resumed in pauses:
            a, b = max(paused, start), min(resumed, end)
            if a < b:
                total -= self.legal.working_seconds_between(a, b)
        return max(total, 0.0)

    def predicted_completion(
        self,
        started: datetime,
        pauses: Iterable[tuple[datetime, datetime]],
        now: datetime,
        typical_seconds: float,
    ) -> tuple[datetime, bool]:
        """(When a dossier started at ``started`` is likely to be done, whether that is already past at ``now``):
        ``typical_seconds`` of office time after ``started``, plus the office time of its supplement waits so far (a
        wait still open counts until ``now``). The answer moves only while the dossier waits for the applicant."""
        waited = 0.0
        for paused, resumed in pauses:
            a, b = max(paused, started), min(resumed, now)
            if a < b:
                waited += self.legal.working_seconds_between(a, b)
        at = self.legal.add_working_seconds(started, typical_seconds + waited)
        return at, at < now

    def working_days(self, seconds: float) -> float:
        """Office time as working days (a working day is one day's office hours)."""
        return seconds / self.legal.office_hours.seconds_per_day
