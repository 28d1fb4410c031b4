"""The legal clock of Một Cửa: Vietnam's working-day calendar and the arithmetic of legal times (issue 6).

One implementation for every service: intake uses it for the receipt and the appointment, processing for step
deadlines, supplement pauses and extensions. ``docs/calendar.md`` explains how it counts and where the data
comes from.

**Calendar.** A working day is Monday–Friday, minus public holidays and the days off the government swaps or
substitutes, plus the make-up working Saturdays it decrees. Each year's schedule is data
(``data/calendar/<year>.toml``, one entry per day, each citing its decision or official letter), because the
``holidays`` package lags these decisions (and sometimes guesses). A year the data declares is decided by the data
alone; a year the data does not declare falls back to ``holidays.country_holidays("VN")`` (Labour Code days with
lunar dates on the Vietnamese calendar, and the package's own substitutions), and :meth:`WorkingCalendar.coverage`
says so.

**Clock.** Pure arithmetic on timezone-aware datetimes (a naive one is a ``ValueError``), in office time: only the
office periods of working days count (default 08:00–12:00 and 13:00–17:00), so a budget in working hours skips
the lunch break, nights, weekends and holidays.

Hand-written on purpose: the business-time libraries (businesstimedelta, workalendar, numpy's busday_*) have fixed
week masks (no make-up working Saturdays) or no office periods; ``holidays`` is used for what it does well, the lunar
dates of years outside the data.
"""

import datetime as dt
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import holidays

from .procedures import TimeBudget

__all__ = [
    "CalendarEntry",
    "CalendarYear",
    "DEFAULT_OFFICE_HOURS",
    "DEFAULT_SAME_DAY_CUTOFF",
    "DATA_DIR",
    "EntryKind",
    "LegalClock",
    "OfficeHours",
    "SupplementClock",
    "TimeBudget",
    "VN_TZ",
    "WorkingCalendar",
    "YearStatus",
    "load_calendar_file",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATA_DIR = Path(__file__).parent / "data" / "calendar"

EntryKind = Literal["holiday", "day_off", "working_day"]
# decided: the government's schedule for the year is in the data; statutory: only the Labour Code's days (the
# year's schedule was not published or not found); package: no data, the ``holidays`` package decides.
YearStatus = Literal["decided", "statutory", "package"]
SupplementClock = Literal["pause", "restart"]

_ENTRY_KINDS: frozenset[str] = frozenset(get_args(EntryKind))
_FILE_STATUSES: frozenset[str] = frozenset({"decided", "statutory"})
_WEEKEND = (5, 6)  # Saturday, Sunday (Decision 188/1999/QĐ-TTg: the 40-hour week of public offices)
_MAX_SCAN_DAYS = 3660  # a budget needing more than ten years of calendar is a data error, not a loop


@dataclass(frozen=True)
class CalendarEntry:
    """A day that is not an ordinary weekday or weekend day.

    ``holiday``: a public holiday (Labour Code 2019 Art. 112), also when it falls on a weekend. ``day_off``: a
    weekday off that is not itself a holiday (a swap for a make-up Saturday, or a substitute for a holiday that fell
    on a weekend). ``working_day``: a day worked that would not be (a make-up Saturday)."""

    date: dt.date
    kind: EntryKind
    name: str  # in Vietnamese, as the citizen reads it
    source: str  # the decision or official letter (or the Labour Code article) that makes it so
    note: str | None = None

    @property
    def working(self) -> bool:
        return self.kind == "working_day"


@dataclass(frozen=True)
class CalendarYear:
    """What the data says about a year as a whole."""

    year: int
    status: YearStatus
    note: str = ""
    documents: tuple[Mapping[str, Any], ...] = ()
    replace: bool = False  # in an override file: drop the earlier files' entries of this year


def _check_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"{where}: 'date' must be a TOML date such as 2026-01-02, not {value!r}")
    return value


def load_calendar_file(path: Path) -> tuple[list[CalendarYear], list[CalendarEntry]]:
    """Read one calendar file (format in ``docs/calendar.md``): ``[[year]]`` tables declare the years the file
    decides, ``[[day]]`` tables the entries. Every day must belong to a year the file declares."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(raw) - {"year", "day"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)} (expected [[year]] and [[day]])")
    years: list[CalendarYear] = []
    for y in raw.get("year", []):
        where = f"{path}: [[year]] {y.get('year')!r}"
        if not isinstance(y.get("year"), int) or y.get("status") not in _FILE_STATUSES:
            raise ValueError(f"{where}: needs an integer 'year' and a 'status' in {sorted(_FILE_STATUSES)}")
        extra = set(y) - {"year", "status", "note", "replace", "documents"}
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}")
        years.append(
            CalendarYear(
                y["year"], y["status"], y.get("note", ""), tuple(y.get("documents", ())), y.get("replace") is True
            )
        )
    declared = {y.year for y in years}
    entries: list[CalendarEntry] = []
    seen: set[dt.date] = set()
    for d in raw.get("day", []):
        day = _check_date(d.get("date"), f"{path}: [[day]]")
        where = f"{path}: [[day]] {day}"
        extra = set(d) - {"date", "kind", "name", "source", "note"}
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}")
        if d.get("kind") not in _ENTRY_KINDS:
            raise ValueError(f"{where}: 'kind' must be one of {sorted(_ENTRY_KINDS)}")
        for key in ("name", "source"):
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise ValueError(f"{where}: '{key}' is required")
        if day.year not in declared:
            raise ValueError(f"{where}: the file declares no [[year]] {day.year}")
        if day in seen:
            raise ValueError(f"{where}: listed twice")
        if d["kind"] == "day_off" and day.weekday() in _WEEKEND:
            raise ValueError(f"{where}: a day_off on a weekend changes nothing (a holiday on a weekend is 'holiday')")
        if d["kind"] == "working_day" and day.weekday() not in _WEEKEND:
            raise ValueError(f"{where}: a working_day must be a Saturday or Sunday (a make-up working day)")
        seen.add(day)
        entries.append(CalendarEntry(day, d["kind"], d["name"].strip(), d["source"].strip(), d.get("note") or None))
    return years, entries


class WorkingCalendar:
    """Working days in Vietnam's public offices.

    ``WorkingCalendar(entries, years)``: the entries decide the years listed in ``years`` (by default, every year an
    entry falls in); any other year falls back to the ``holidays`` package."""

    def __init__(self, entries: Iterable[CalendarEntry] = (), years: Iterable[CalendarYear] | None = None):
        self._entries: dict[dt.date, CalendarEntry] = {}
        for e in entries:
            if e.date in self._entries:
                raise ValueError(f"two calendar entries for {e.date}")
            self._entries[e.date] = e
        if years is None:
            years = [CalendarYear(y, "decided") for y in sorted({d.year for d in self._entries})]
        self._years: dict[int, CalendarYear] = {y.year: y for y in years}
        stray = sorted(d for d in self._entries if d.year not in self._years)
        if stray:
            raise ValueError(f"calendar entries in years the data does not declare: {stray[:3]}")
        # Years outside the data: the package's Vietnam calendar (Labour Code 2019 Art. 112, lunar dates in UTC+7,
        # its own substitutions). Filled lazily, one year at a time.
        self._package = holidays.country_holidays("VN", language="vi")

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> "WorkingCalendar":
        """Read calendar files in order; a later file overrides an earlier one: its ``[[year]]`` replaces that year's
        status and note (and, with ``replace = true``, drops the earlier entries of that year), its ``[[day]]``
        replaces the entry of the same date."""
        years: dict[int, CalendarYear] = {}
        entries: dict[dt.date, CalendarEntry] = {}
        for path in paths:
            file_years, file_entries = load_calendar_file(path)
            replace = {y.year for y in file_years if y.replace}
            entries = {d: e for d, e in entries.items() if d.year not in replace}
            years.update({y.year: y for y in file_years})
            entries.update({e.date: e for e in file_entries})
        return cls(entries.values(), years.values())

    @classmethod
    def default(cls, override: Path | None = None) -> "WorkingCalendar":
        """The shipped national data (``motcua_common/data/calendar/*.toml``), then ``override`` (a deployment's
        own file, ``MOTCUA_CALENDAR_FILE``) on top."""
        paths = sorted(DATA_DIR.glob("*.toml"))
        return cls.from_files([*paths, *([override] if override else [])])

    # --- queries ------------------------------------------------------------------------------------------------

    @property
    def years(self) -> dict[int, CalendarYear]:
        return dict(self._years)

    def coverage(self, year: int) -> YearStatus:
        """Who decides this year: the government's schedule in the data, the statutory days only, or the package."""
        known = self._years.get(year)
        return known.status if known else "package"

    def entries(self, year: int | None = None) -> list[CalendarEntry]:
        """The data's entries (of one year), in date order; a year outside the data gives the package's days."""
        if year is not None and year not in self._years:
            return [e for e in (self.entry(d) for d in self._package_days(year)) if e is not None]
        return sorted((e for e in self._entries.values() if year is None or e.date.year == year), key=_by_date)

    def entry(self, day: dt.date) -> CalendarEntry | None:
        """The day's entry, or None for an ordinary weekday or weekend day. Outside the data, built from the package
        (kind ``holiday``, or ``day_off`` for its substituted days), its source naming the package."""
        day = _as_date(day)
        if day.year in self._years:
            return self._entries.get(day)
        name = self._package.get(day)
        if name is None:
            return None
        substituted = "nghỉ bù" in name or "thay cho" in name
        return CalendarEntry(
            day,
            "day_off" if substituted and day.weekday() not in _WEEKEND else "holiday",
            name,
            f"holidays {_HOLIDAYS_VERSION} (Bộ luật Lao động 2019, Điều 112; tính theo âm lịch Việt Nam)",
            f"{day.year} is not in the calendar data: the holidays package decides (no government schedule checked)",
        )

    def is_working_day(self, day: dt.date) -> bool:
        day = _as_date(day)
        if day.year not in self._years:
            return self._package.is_working_day(day)
        e = self._entries.get(day)
        if e is not None:
            return e.working
        return day.weekday() not in _WEEKEND

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day after ``day``."""
        day = _as_date(day)
        for _ in range(_MAX_SCAN_DAYS):
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days after {day}")

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself for 0, whatever it is)."""
        if n < 0:
            raise ValueError("n must not be negative")
        day = _as_date(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days after ``a`` up to and including ``b`` (so ``add_working_days(a, n)`` is ``n`` days after
        ``a``); negative when ``b`` is before ``a``."""
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for i in range(1, (b - a).days + 1) if self.is_working_day(a + dt.timedelta(days=i)))

    def _package_days(self, year: int) -> list[dt.date]:
        return sorted(d for d in holidays.country_holidays("VN", years=year, language="vi"))


def _by_date(e: CalendarEntry) -> dt.date:
    return e.date


def _as_date(day: dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        raise ValueError("give a date, not a datetime (convert to the office's timezone first)")
    return day


_HOLIDAYS_VERSION = _package_version("holidays")


# --- Office hours and the clock -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeHours:
    """The periods of a working day during which the legal clock runs, in local time, in order."""

    periods: tuple[tuple[dt.time, dt.time], ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period")
        previous_end: dt.time | None = None
        for start, end in self.periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office hours are local times without a timezone")
            if not start < end or (previous_end is not None and start < previous_end):
                raise ValueError("office periods must be increasing and must not overlap")
            previous_end = end

    @classmethod
    def parse(cls, text: str) -> "OfficeHours":
        """``"08:00-12:00,13:00-17:00"``."""
        try:
            periods = tuple(
                (dt.time.fromisoformat(a.strip()), dt.time.fromisoformat(b.strip()))
                for a, b in (p.split("-") for p in text.split(","))
            )
        except ValueError as exc:
            raise ValueError(f"office hours {text!r}: expected periods such as 08:00-12:00,13:00-17:00") from exc
        return cls(periods)

    @property
    def opening(self) -> dt.time:
        return self.periods[0][0]

    @property
    def closing(self) -> dt.time:
        return self.periods[-1][1]

    @property
    def seconds_per_day(self) -> float:
        return sum(_seconds(end) - _seconds(start) for start, end in self.periods)

    def __str__(self) -> str:
        return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.periods)


def _non_negative(seconds: float) -> dt.timedelta:
    if seconds < 0:
        raise ValueError("an amount of office time must not be negative")
    return dt.timedelta(seconds=seconds)


def _seconds(t: dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


# Hành chính hours of most public offices: 8 hours a day, 40 a week (Decision 188/1999/QĐ-TTg); the exact periods
# are set by each province (many open at 07:00 or 07:30), so this is a default to configure (MOTCUA_OFFICE_HOURS).
DEFAULT_OFFICE_HOURS = OfficeHours(((dt.time(8, 0), dt.time(12, 0)), (dt.time(13, 0), dt.time(17, 0))))
# Same-day procedures: a dossier received after 15:00 counts as received the next working day (Decision
# 1872/QĐ-BTP; Decree 23/2015/NĐ-CP Art. 7 for certified copies).
DEFAULT_SAME_DAY_CUTOFF = dt.time(15, 0)


@dataclass(frozen=True)
class LegalClock:
    """The legal clock: when a dossier counts as received, when a budget runs out, and how a supplement request
    moves the due date. Pure: no I/O, timezone-aware datetimes in, datetimes in ``tz`` out."""

    calendar: WorkingCalendar
    tz: ZoneInfo = VN_TZ
    office_hours: OfficeHours = DEFAULT_OFFICE_HOURS
    same_day_cutoff: dt.time = DEFAULT_SAME_DAY_CUTOFF

    def __post_init__(self) -> None:
        if not self.office_hours.opening <= self.same_day_cutoff <= self.office_hours.closing:
            raise ValueError("the same-day cut-off must lie within office hours")

    # --- receipt and due dates ------------------------------------------------------------------------------------

    def received_at(self, submitted_at: dt.datetime, budget: TimeBudget) -> dt.datetime:
        """When the legal clock starts. A dossier that arrives on a non-working day, or after the cut-off (15:00 for
        a same-day procedure, Decision 1872/QĐ-BTP; office closing time otherwise), counts as received at the
        opening of the next working day; otherwise at the moment it arrived."""
        local = self._local(submitted_at)
        if self._in_time(local, self.same_day_cutoff if budget.same_day else self.office_hours.closing):
            return local
        return self._at(self.calendar.next_working_day(local.date()), self.office_hours.opening)

    def later_receipt_day(self, submitted_at: dt.datetime) -> dt.date | None:
        """The next working day, if a dossier submitted at ``submitted_at`` may count as received then rather than
        the day it arrived (:meth:`received_at`, for some procedure): it arrived on a day off or after the earliest
        cut-off, the same-day one (never after closing time). None: every procedure receives it the same day."""
        local = self._local(submitted_at)
        if self._in_time(local, self.same_day_cutoff):
            return None
        return self.calendar.next_working_day(local.date())

    def _in_time(self, local: dt.datetime, cutoff: dt.time) -> bool:
        """Arrived on a working day before ``cutoff``: received the same day."""
        return self.calendar.is_working_day(local.date()) and local.time() < cutoff

    def due_at(self, received_at: dt.datetime, budget: TimeBudget) -> dt.datetime:
        """When the budget runs out. Working days: closing time of the n-th working day after the day of receipt
        (the same day for 0); a receipt on a non-working day or after closing counts from the next working day.
        Working hours: that much office time after receipt."""
        local = self._local(received_at)
        if budget.working_hours is not None:
            return self.add_working_seconds(local, budget.working_hours * 3600)
        assert budget.working_days is not None
        day = local.date()
        if not self.calendar.is_working_day(day) or local.time() >= self.office_hours.closing:
            day = self.calendar.next_working_day(day)
        return self._at(self.calendar.add_working_days(day, budget.working_days), self.office_hours.closing)

    # --- office time ----------------------------------------------------------------------------------------------

    def working_seconds_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Office time from ``a`` to ``b`` in seconds (negative when ``b`` is before ``a``)."""
        a, b = self._local(a), self._local(b)
        if b < a:
            return -self.working_seconds_between(b, a)
        total = 0.0
        day = a.date()
        while day <= b.date():
            for start, end in self._periods(day):
                overlap = (min(end, b) - max(start, a)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += dt.timedelta(days=1)
        return total

    def add_working_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The instant at which ``seconds`` of office time have run from ``start`` (``start`` itself for 0). A result
        at the end of a period stays there (4 hours from 08:00 is 12:00, not 13:00)."""
        local, remaining = self._local(start), _non_negative(seconds)
        if not remaining:
            return local
        for begin, end in self._office_spans(local):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise ValueError(f"no room for {seconds} s of office time within {_MAX_SCAN_DAYS} days")

    def subtract_working_seconds(self, end: dt.datetime, seconds: float) -> dt.datetime:
        """The earliest instant from which at most ``seconds`` of office time are left before ``end`` (``end`` itself
        for 0). 8 hours before Wednesday 17:00 is Tuesday 17:00, not Wednesday 08:00: the night in between holds no
        office time."""
        local, remaining = self._local(end), _non_negative(seconds)
        if not remaining:
            return local
        for begin, finish in self._office_spans(local, backward=True):
            if remaining < finish - begin:
                return finish - remaining
            remaining -= finish - begin  # all of it: go on to the end of the office period before
        raise ValueError(f"no room for {seconds} s of office time within {_MAX_SCAN_DAYS} days")

    def budget_seconds(self, budget: TimeBudget) -> float:
        """A budget as office time (a working day is one day's office hours; a same-day budget is 0)."""
        if budget.working_hours is not None:
            return budget.working_hours * 3600.0
        assert budget.working_days is not None
        return budget.working_days * self.office_hours.seconds_per_day

    # --- supplements, due-soon ------------------------------------------------------------------------------------

    def resumed_due(
        self,
        due_at: dt.datetime,
        paused_at: dt.datetime,
        resumed_at: dt.datetime,
        rule: SupplementClock,
        budget: TimeBudget,
    ) -> dt.datetime:
        """The new due date once the applicant has supplemented.

        ``pause``: the office time that was left at ``paused_at`` runs on from ``resumed_at`` (a pause after the due
        date gives nothing back: the due date stays). ``restart``: the whole ``budget`` counts again, the supplement
        treated as a new receipt (so the 15:00 rule and the next-working-day rule apply to it)."""
        due_at, paused_at, resumed_at = self._local(due_at), self._local(paused_at), self._local(resumed_at)
        if resumed_at < paused_at:
            raise ValueError("resumed_at is before paused_at")
        if rule == "restart":
            return self.due_at(self.received_at(resumed_at, budget), budget)
        if rule != "pause":
            raise ValueError(f"unknown supplement rule {rule!r}")
        left = self.working_seconds_between(paused_at, due_at)
        if left <= 0:
            return due_at
        return self.add_working_seconds(resumed_at, left)

    def remaining_seconds(self, due_at: dt.datetime, now: dt.datetime) -> float:
        """Office time left until ``due_at`` (negative once overdue)."""
        return self.working_seconds_between(now, due_at)

    def is_overdue(self, due_at: dt.datetime, now: dt.datetime) -> bool:
        return self._local(now) > self._local(due_at)

    def due_soon_at(self, due_at: dt.datetime, within: dt.timedelta) -> dt.datetime:
        """The instant from which a dossier is due soon: ``within`` of office time before ``due_at``. Store it beside
        the due date and a due-soon scan is an index range query."""
        return self.subtract_working_seconds(due_at, within.total_seconds())

    def is_due_soon(self, due_at: dt.datetime, now: dt.datetime, within: dt.timedelta) -> bool:
        """Not yet overdue, with at most ``within`` of office time left."""
        return not self.is_overdue(due_at, now) and self._local(now) >= self.due_soon_at(due_at, within)

    def is_working_time(self, at: dt.datetime) -> bool:
        local = self._local(at)
        return any(start <= local < end for start, end in self._periods(local.date()))

    # --- helpers ---------------------------------------------------------------------------------------------------

    def _local(self, value: dt.datetime) -> dt.datetime:
        if not isinstance(value, dt.datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the legal clock takes timezone-aware datetimes only")
        return value.astimezone(self.tz)

    def _at(self, day: dt.date, t: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, t, self.tz)

    def _office_spans(self, origin: dt.datetime, backward: bool = False) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The office periods after ``origin`` (or before it, nearest first), cut at ``origin``, for at most
        ``_MAX_SCAN_DAYS`` days."""
        day, step = origin.date(), dt.timedelta(days=-1 if backward else 1)
        for _ in range(_MAX_SCAN_DAYS):
            periods = self._periods(day)
            for start, end in reversed(periods) if backward else periods:
                start, end = (start, min(end, origin)) if backward else (max(start, origin), end)
                if start < end:
                    yield start, end
            day += step

    def _periods(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if not self.calendar.is_working_day(day):
            return []
        return [(self._at(day, a), self._at(day, b)) for a, b in self.office_hours.periods]
