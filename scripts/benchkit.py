"""Pure helpers shared by the benchmarks (``make bench``): the ``BENCH`` line every figure ends with, CPU time and
resident memory read from ``/proc``, latency percentiles, and the table of latest figures against the goals at the
top of ``docs/benchmarks.md``. No servers here, so ``tests/bench`` checks them as unit tests.

Other benchmarks (``scripts/bench_notify.py``, ``scripts/bench_measure.py``…) print their figures with
:func:`bench_line` and put them in the doc's table with :func:`update_latest` (add their goals to ``GOALS``).
"""

import math
import os
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- the BENCH line -------------------------------------------------------------------------------------------------

Value = float | int | str | None


def _fmt(key: str, value: Value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if key.endswith("rps") or key.endswith("_mb") else f"{value:.2f}"
    return re.sub(r"\s+", "_", str(value)) or "-"


def bench_line(name: str, **fields: Value) -> str:
    """``BENCH name=<name> key=value…`` in the order given: one line per figure, compared across runs by a script.
    Requests per second and megabytes with one decimal, other floats with two, a missing value as ``nan``."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"figure names are lower-case words joined by _: {name!r}")
    return " ".join(["BENCH", f"name={name}", *(f"{k}={_fmt(k, v)}" for k, v in fields.items())])


def parse_bench_line(line: str) -> tuple[str, dict[str, float | str]]:
    """The figure name and fields of a ``BENCH`` line (numbers as floats, ``nan`` as NaN, the rest as text)."""
    words = line.split()
    if not words or words[0] != "BENCH":
        raise ValueError(f"not a BENCH line: {line!r}")
    fields: dict[str, float | str] = {}
    for word in words[1:]:
        key, sep, raw = word.partition("=")
        if not sep:
            raise ValueError(f"field without '=' in {line!r}: {word!r}")
        try:
            fields[key] = float(raw)
        except ValueError:
            fields[key] = raw
    name = fields.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"BENCH line without a name: {line!r}")
    return name, fields


# --- latencies ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    count: int
    p50: float  # milliseconds
    p99: float


def latency_ms(seconds: Iterable[float]) -> Latency:
    """p50 and p99 in milliseconds of latencies given in seconds (inclusive quantiles; NaN when there are none)."""
    values = sorted(x * 1000 for x in seconds)
    if not values:
        return Latency(0, math.nan, math.nan)
    if len(values) == 1:
        return Latency(1, values[0], values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Latency(len(values), cuts[49], cuts[98])


# --- /proc ----------------------------------------------------------------------------------------------------------


def stat_fields(text: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name (which may hold spaces and parentheses):
    index 0 is the state (field 3 of proc(5)), 1 the parent pid, 11–14 utime, stime, cutime, cstime in ticks."""
    return text.rsplit(")", 1)[1].split()


def stat_cpu_ticks(text: str, *, children: bool = True) -> int:
    """utime + stime (+ cutime + cstime of reaped children) in clock ticks, from a ``/proc/<pid>/stat`` line."""
    fields = stat_fields(text)
    return sum(int(x) for x in fields[11 : 15 if children else 13])


def stat_ppid(text: str) -> int:
    return int(stat_fields(text)[1])


def status_rss_kib(text: str) -> int | None:
    """VmRSS in KiB from a ``/proc/<pid>/status`` text (None for a kernel thread or a zombie)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """CPU seconds a live process has used (0 once it is gone)."""
    try:
        return stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text(), children=children) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mib(pid: int) -> float | None:
    try:
        kib = status_rss_kib(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return None if kib is None else kib / 1024


SMAPS_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ ([0-9a-f]+) \S+ \d+\s*(.*)$")


def smaps_pages(text: str) -> tuple[int, dict[tuple[str, str, int], int]]:
    """From a ``/proc/<pid>/smaps`` text: the KiB only this process maps (``Private_*``, mostly its heap), and its
    shared pages per mapping, keyed by (file, offset in the file, mapping size) so that the same library mapped by
    several processes has the same key (the addresses differ from one process to the next)."""
    private = 0
    shared: dict[tuple[str, str, int], int] = {}
    key: tuple[str, str, int] | None = None
    size = 0
    for line in text.splitlines():
        header = SMAPS_HEADER.match(line)
        if header:
            start, end = (int(x, 16) for x in line.split(" ", 1)[0].split("-"))
            size = end - start
            key = (header.group(2).strip(), header.group(1), size)
            continue
        field, _, rest = line.partition(":")
        if field in ("Private_Clean", "Private_Dirty"):
            private += int(rest.split()[0])
        elif field in ("Shared_Clean", "Shared_Dirty") and key is not None:
            shared[key] = shared.get(key, 0) + int(rest.split()[0])
    return private, shared


def together_kib(smaps: Iterable[str]) -> int:
    """Resident KiB of a group of processes, each page counted once: every process's private pages, plus each
    shared mapping (the Python libraries' code, mapped by every service) once, at the largest resident size any of
    them has of it. Summing VmRSS counts those shared pages once per process. The pages a mapping shares with a
    process outside the group still count whole here (unlike PSS, which would split them with it)."""
    total = 0
    shared: dict[tuple[str, str, int], int] = {}
    for text in smaps:
        private, pages = smaps_pages(text)
        total += private
        for key, kib in pages.items():
            shared[key] = max(shared.get(key, 0), kib)
    return total + sum(shared.values())


def together_mib(pids: Iterable[int]) -> float | None:
    """:func:`together_kib` of live processes, in MiB (None when one of them cannot be read)."""
    try:
        texts = [Path(f"/proc/{pid}/smaps").read_text() for pid in pids]
    except OSError:
        return None
    return together_kib(texts) / 1024


def children_of(parent: int, stats: Mapping[int, str]) -> list[int]:
    """The direct children of ``parent`` among ``stats`` (pid → its ``/proc/<pid>/stat`` line)."""
    out = []
    for pid, text in stats.items():
        try:
            if stat_ppid(text) == parent:
                out.append(pid)
        except (IndexError, ValueError):
            continue
    return out


def read_stats() -> dict[int, str]:
    stats = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stats[int(d.name)] = (d / "stat").read_text()
            except OSError:
                continue
    return stats


class CpuMeter:
    """CPU seconds per named group of processes, read from ``/proc`` at each :meth:`snapshot`.

    ``postmaster`` is this worktree's PostgreSQL server: its own time plus that of every live child (backends,
    walwriter, checkpointer…) plus what the children that ended left in its ``cutime``/``cstime``: all of PostgreSQL,
    and none of the other PostgreSQL servers that may share the machine."""

    def __init__(self, groups: Mapping[str, list[int]], postmaster: int | None = None):
        self.groups = dict(groups)
        self.postmaster = postmaster

    def snapshot(self) -> dict[str, float]:
        snap = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}
        if self.postmaster is not None:
            stats = read_stats()
            pids = [self.postmaster, *children_of(self.postmaster, stats)]
            snap["postgresql"] = sum(stat_cpu_ticks(stats[p]) for p in pids if p in stats) / CLK_TCK
        return snap


def cpu_ms_per_request(before: Mapping[str, float], after: Mapping[str, float], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request of each group between two snapshots, and their ``total``."""
    per = {k: max(after[k] - before.get(k, 0.0), 0.0) * 1000 / requests if requests else math.nan for k in after}
    per["total"] = sum(per.values())
    return per


def postmaster_pid(data_dir: Path) -> int | None:
    """The PostgreSQL server's pid: the first line of ``postmaster.pid`` in its data directory."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


# --- goals and the table at the top of docs/benchmarks.md -----------------------------------------------------------

Fields = Mapping[str, float | str]


def _num(fields: Fields, key: str) -> float:
    value = fields.get(key, math.nan)
    return value if isinstance(value, float) else math.nan


@dataclass(frozen=True)
class Goal:
    figure: str  # the BENCH name the row reads
    label: str
    goal: str
    shown: Callable[[Fields], str]
    met: Callable[[Fields], bool] | None  # None: no goal, shown for comparison


GOALS: list[Goal] = [
    Goal(
        "submit_gateway",
        "Submission through the gateway",
        "≥ 600/s with p99 ≤ 50 ms, or ≥ 0.5× the bare app",
        lambda f: (
            f"{_num(f, 'rps'):.0f}/s, p99 {_num(f, 'p99_ms'):.0f} ms, {_num(f, 'ratio'):.2f}× bare "
            f"({_num(f, 'baseline_rps'):.0f}/s)"
        ),
        lambda f: (_num(f, "rps") >= 600 and _num(f, "p99_ms") <= 50) or _num(f, "ratio") >= 0.5,
    ),
    Goal(
        "submit_gateway",
        "CPU per submission, all processes",
        "≤ 3.3 ms",
        lambda f: f"{_num(f, 'cpu_ms'):.1f} ms",
        lambda f: _num(f, "cpu_ms") <= 3.3,
    ),
    Goal(
        "gateway_share",
        "Gateway vs a bare proxy (same intake)",
        "(no goal: the gateway's cost)",
        lambda f: (
            f"{_num(f, 'ratio'):.2f}× the bare proxy's rate; gateway {_num(f, 'cpu_ms'):.1f} ms CPU, "
            f"bare proxy {_num(f, 'baseline_cpu_ms'):.1f} ms"
        ),
        None,
    ),
    Goal(
        "track",
        "Tracking a dossier, 1,000,000 stored",
        "≥ 2,000/s, p99 ≤ 15 ms",
        lambda f: f"{_num(f, 'rps'):.0f}/s, p99 {_num(f, 'p99_ms'):.1f} ms ({_num(f, 'ratio'):.2f}× a PK select)",
        lambda f: _num(f, "rps") >= 2000 and _num(f, "p99_ms") <= 15,
    ),
    Goal(
        "queue_officer",
        "Officer work queues, 1,000,000 / 100,000 open",
        "p99 ≤ 30 ms",
        lambda f: f"p99 {_num(f, 'p99_ms'):.1f} ms (worst query {_num(f, 'worst_p99_ms'):.1f} ms)",
        lambda f: _num(f, "worst_p99_ms") <= 30,
    ),
    Goal(
        "queue_citizen",
        "A citizen's own dossiers, same data",
        "p99 ≤ 30 ms",
        lambda f: f"p99 {_num(f, 'p99_ms'):.1f} ms (worst query {_num(f, 'worst_p99_ms'):.1f} ms)",
        lambda f: _num(f, "worst_p99_ms") <= 30,
    ),
    Goal(
        "event_latency",
        "Event committed → consumer done, 200/s",
        "p50 ≤ 10 ms, p99 ≤ 50 ms",
        lambda f: (
            f"p50 {_num(f, 'p50_ms'):.1f} ms, p99 {_num(f, 'p99_ms'):.1f} ms (bare Kafka "
            f"{_num(f, 'baseline_p50_ms'):.1f} / {_num(f, 'baseline_p99_ms'):.1f} ms)"
        ),
        lambda f: _num(f, "p50_ms") <= 10 and _num(f, "p99_ms") <= 50,
    ),
    Goal(
        "memory",
        "Resident memory, all Python services",
        "≤ 500 MB",
        lambda f: (
            f"{_num(f, 'together_mb'):.0f} MB together, shared library pages once ({_num(f, 'rss_mb'):.0f} MB "
            "summing each VmRSS)"
            if "together_mb" in f
            else f"{_num(f, 'rss_mb'):.0f} MB"
        ),
        lambda f: _num(f, "together_mb" if "together_mb" in f else "rss_mb") <= 500,
    ),
]

TABLE_START = "<!-- bench:latest:start -->"
TABLE_END = "<!-- bench:latest:end -->"
TABLE_HEAD = ["| figure | latest | goal | met | run |", "|---|---|---|---|---|"]


def goal_rows(figures: Mapping[str, Fields], run: str, goals: Iterable[Goal] = GOALS) -> dict[str, str]:
    """The table rows (keyed by label) for the goals whose figure was measured in this run."""
    rows = {}
    for g in goals:
        if g.figure in figures:
            f = figures[g.figure]
            met = "–" if g.met is None else ("yes" if g.met(f) else "**no**")
            rows[g.label] = f"| {g.label} | {g.shown(f)} | {g.goal} | {met} | {run} |"
    return rows


def update_latest(text: str, rows: Mapping[str, str], order: Iterable[str] | None = None) -> str:
    """``text`` (the doc) with the table between the markers updated: the given rows replace those of the same label,
    the others stay, in ``order`` (the goals' order by default), the table put under the title if there is none."""
    order = list(order if order is not None else dict.fromkeys(g.label for g in GOALS))
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    existing: dict[str, str] = {}
    if start != -1 and end > start:
        for line in text[start + len(TABLE_START) : end].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and cells[0] not in ("figure", "---", ""):
                existing[cells[0]] = line.strip()
    merged = {**existing, **rows}
    labels = [label for label in order if label in merged] + [label for label in merged if label not in order]
    block = "\n".join([TABLE_START, *TABLE_HEAD, *(merged[label] for label in labels), TABLE_END])
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(TABLE_END) :]
    lines = text.split("\n", 1)
    if lines[0].startswith("# "):
        rest = lines[1] if len(lines) > 1 else ""
        return f"{lines[0]}\n\nLatest figures against issue 7's goals:\n\n{block}\n{rest}"
    return f"{block}\n\n{text}"


def write_latest(path: Path, figures: Mapping[str, Fields], run: str) -> None:
    """Update the doc's table with this run's figures (``run``: when and which commit, shown in each row)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(update_latest(text, goal_rows(figures, run)), encoding="utf-8")
