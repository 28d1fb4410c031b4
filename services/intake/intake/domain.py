"""Pure intake rules: the legal clock (working days, the 15:00 rule), the dossier code."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays


class WorkingCalendar:
    """Working days in Vietnam: Monday-Friday, minus public holidays and substituted days off, plus
    official make-up working Saturdays. The national data comes from the ``holidays`` package (lunar
    dates computed in UTC+7); ``overrides`` adds what a province or a new decision changes."""

    def __init__(self, days_off: set[date] | None = None, working_days: set[date] | None = None):
        self._national = holidays.country_holidays("VN")
        self.days_off = days_off or set()
        self.working_days = working_days or set()

    @classmethod
    def from_file(cls, path: Path) -> "WorkingCalendar":
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            {date.fromisoformat(d) for d in raw.get("days_off", [])},
            {date.fromisoformat(d) for d in raw.get("working_days", [])},
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.days_off:
            return False
        return self._national.is_working_day(day)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        for _ in range(n):
            day = self.next_working_day(day)
        return day


@dataclass(frozen=True)
class LegalClock:
    calendar: WorkingCalendar
    tz: ZoneInfo
    office_open: time = time(8, 0)
    office_close: time = time(17, 0)
    same_day_cutoff: time = time(15, 0)

    def received_at(self, submitted_at: datetime, processing_days: int) -> datetime:
        """When the legal clock starts. A dossier that arrives on a non-working day, or after the cut-off
        (15:00 for same-day procedures, Decision 1872/QĐ-BTP; closing time otherwise), counts as received
        at the opening of the next working day."""
        local = submitted_at.astimezone(self.tz)
        cutoff = self.same_day_cutoff if processing_days == 0 else self.office_close
        if self.calendar.is_working_day(local.date()) and local.time() < cutoff:
            return local
        day = self.calendar.next_working_day(local.date())
        return datetime.combine(day, self.office_open, self.tz)

    def appointment(self, received_at: datetime, processing_days: int) -> datetime:
        """The result is due at closing time of the ``processing_days``-th working day after receipt
        (the same day for same-day procedures)."""
        local = received_at.astimezone(self.tz)
        due_day = self.calendar.add_working_days(local.date(), processing_days)
        return datetime.combine(due_day, self.office_close, self.tz)


def dossier_code(unit_code: str, day: date, sequence: int) -> str:
    """``<agency code>-<YYMMDD>-<sequence>``, as provincial systems show it (e.g. 38.98.H29-210519-0013)."""
    return f"{unit_code}-{day:%y%m%d}-{sequence:04d}"


def receipt_message(code: str, procedure_name: str, appointment_at: datetime, tz: ZoneInfo) -> str:
    local = appointment_at.astimezone(tz)
    return (
        f"Hồ sơ {code} ({procedure_name}) đã được tiếp nhận. Ngày hẹn trả kết quả: {local:%H:%M} ngày {local:%d/%m/%Y}."
    )
