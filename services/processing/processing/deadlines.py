"""Every date the engine needs, computed by the one legal clock (:mod:`motcua_common.legal_clock`): when the clock
starts, a step's and the dossier's due date, the due date after a supplement pause or restart, whether a new
appointment is acceptable, whether a dossier is due soon. Pure: no I/O, no working-day arithmetic of its own."""

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
