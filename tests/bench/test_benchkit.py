"""The benchmark harness's pure helpers (scripts/benchkit.py): the BENCH line, /proc parsing, CPU per request,
percentiles and the doc's table of latest figures against the goals. No servers."""

import math
from pathlib import Path

import pytest

from motcua_common.testing import load_script

kit = load_script(Path(__file__).resolve().parents[2] / "scripts" / "benchkit.py", "motcua_benchkit")

# A real /proc/<pid>/stat line, with a command name holding a space and a parenthesis.
STAT = (
    "4242 (uvicorn (w) x) S 4100 4242 4100 0 -1 4194560 9000 0 0 0 "
    "1500 300 70 30 20 0 12 0 123456 456789012 25000 18446744073709551615"
)


def test_bench_line_has_the_issue_form_and_formats_each_kind_of_value() -> None:
    line = kit.bench_line(
        "submit_gateway", rps=612.345, p50_ms=8.0, p99_ms=41.256, cpu_ms=3.14159, baseline_rps=1000.0, ratio=0.6123
    )
    assert line == (
        "BENCH name=submit_gateway rps=612.3 p50_ms=8.00 p99_ms=41.26 cpu_ms=3.14 baseline_rps=1000.0 ratio=0.61"
    )
    assert kit.bench_line("memory", rss_mb=480.04, count=3, worst="a b", missing=None, x=math.nan) == (
        "BENCH name=memory rss_mb=480.0 count=3 worst=a_b missing=nan x=nan"
    )


def test_bench_line_refuses_a_name_a_script_could_not_read() -> None:
    with pytest.raises(ValueError):
        kit.bench_line("submit gateway", rps=1.0)


def test_parse_bench_line_reads_back_what_bench_line_wrote() -> None:
    line = kit.bench_line("track", rps=2100.5, p99_ms=12.5, worst="me_dossiers_first", missing=None)
    name, fields = kit.parse_bench_line(line)
    assert name == "track"
    assert fields["rps"] == 2100.5 and fields["p99_ms"] == 12.5 and fields["worst"] == "me_dossiers_first"
    assert isinstance(fields["missing"], float) and math.isnan(fields["missing"])
    for bad in ("rps=1", "BENCH rps=1", "BENCH name=x rps"):
        with pytest.raises(ValueError):
            kit.parse_bench_line(bad)


def test_stat_fields_survive_a_command_name_with_spaces_and_parentheses() -> None:
    assert kit.stat_fields(STAT)[0] == "S"
    assert kit.stat_ppid(STAT) == 4100
    assert kit.stat_cpu_ticks(STAT) == 1500 + 300 + 70 + 30
    assert kit.stat_cpu_ticks(STAT, children=False) == 1500 + 300


def test_status_rss_and_a_kernel_thread_without_one() -> None:
    assert kit.status_rss_kib("Name:\tpython\nVmPeak:\t 9000 kB\nVmRSS:\t  102400 kB\nThreads:\t4\n") == 102400
    assert kit.status_rss_kib("Name:\tkthreadd\nThreads:\t1\n") is None


def _smaps(*mappings: tuple[str, str, int, int, int]) -> str:
    """A /proc/<pid>/smaps text: (address range, path, shared clean KiB, private dirty KiB, private clean KiB)."""
    out = []
    for addresses, path, shared, dirty, clean in mappings:
        out += [
            f"{addresses} r-xp 00001000 fd:01 123 {path}".rstrip(),
            "Size:                100 kB",
            f"Rss:                 {shared + dirty + clean} kB",
            f"Shared_Clean:        {shared} kB",
            "Shared_Dirty:          0 kB",
            f"Private_Clean:       {clean} kB",
            f"Private_Dirty:       {dirty} kB",
        ]
    return "\n".join(out) + "\n"


def test_memory_together_counts_each_shared_library_page_once() -> None:
    # Two services mapping the same library at different addresses, each with a heap of its own.
    first = _smaps(("7f0000000000-7f0000019000", "/venv/lib/_core.so", 80, 0, 4), ("55d0-55f0", "[heap]", 0, 900, 0))
    second = _smaps(("7e1000000000-7e1000019000", "/venv/lib/_core.so", 96, 0, 0), ("5600-5620", "", 0, 700, 0))
    assert kit.smaps_pages(first) == (
        904,
        {("/venv/lib/_core.so", "00001000", 0x19000): 80, ("[heap]", "00001000", 0x20): 0},
    )
    # private 904 + 700, the library once at the larger of its two resident sizes; summing VmRSS would say 1,680
    assert kit.together_kib([first, second]) == 904 + 700 + 96
    assert kit.together_mib([2**31]) is None  # no such process


def test_children_of_finds_only_direct_children() -> None:
    stats = {
        10: "10 (postgres) S 1 10 10 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1 1",
        11: "11 (postgres) S 10 10 10 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1 1",
        12: "12 (postgres) S 10 10 10 0 -1 0 0 0 0 0 2 2 0 0 20 0 1 0 1 1 1 1",
        13: "13 (psql) S 11 10 10 0 -1 0 0 0 0 0 3 3 0 0 20 0 1 0 1 1 1 1",
        14: "garbage",
    }
    assert sorted(kit.children_of(10, stats)) == [11, 12]


def test_cpu_ms_per_request_per_group_and_total() -> None:
    per = kit.cpu_ms_per_request({"gateway": 1.0, "intake": 2.0}, {"gateway": 1.5, "intake": 3.0, "kafka": 0.2}, 100)
    assert per == pytest.approx({"gateway": 5.0, "intake": 10.0, "kafka": 2.0, "total": 17.0})
    # a counter that went backwards (a process replaced) counts as nothing, not as negative time
    assert kit.cpu_ms_per_request({"x": 2.0}, {"x": 1.0}, 10)["total"] == 0.0
    assert math.isnan(kit.cpu_ms_per_request({}, {"x": 1.0}, 0)["x"])


def test_cpu_meter_reads_this_process() -> None:
    import os

    meter = kit.CpuMeter({"me": [os.getpid()]})
    before = meter.snapshot()["me"]
    sum(i * i for i in range(300_000))
    assert meter.snapshot()["me"] >= before > 0


def test_latency_percentiles_in_milliseconds() -> None:
    lat = kit.latency_ms([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert lat.count == 100
    assert lat.p50 == pytest.approx(50.5)
    assert lat.p99 == pytest.approx(99.01)
    assert math.isnan(kit.latency_ms([]).p50)
    assert kit.latency_ms([0.004]).p99 == pytest.approx(4.0)


FIGURES = {
    "submit_gateway": {"rps": 650.0, "p99_ms": 40.0, "ratio": 0.4, "baseline_rps": 1600.0, "cpu_ms": 4.0},
    "memory": {"rss_mb": 480.0},
}


def test_goal_rows_say_which_goals_are_met() -> None:
    rows = kit.goal_rows(FIGURES, "run A")
    assert "yes" in rows["Submission through the gateway"]  # 650/s with p99 40 ms meets it without the ratio
    assert "**no**" in rows["CPU per submission, all processes"]  # 4.0 > 3.3 ms
    assert "yes" in rows["Resident memory, all Python services"]
    assert "Tracking a dossier, 1,000,000 stored" not in rows  # not measured in this run
    # with the figure counting shared pages once, that one decides; the summed VmRSS is shown beside it
    memory = kit.goal_rows({"memory": {"rss_mb": 537.0, "together_mb": 455.0}}, "run B")
    assert "455 MB together" in memory["Resident memory, all Python services"]
    assert "537 MB summing each VmRSS" in memory["Resident memory, all Python services"]
    assert "yes" in memory["Resident memory, all Python services"]
    assert (
        "**no**"
        in kit.goal_rows({"memory": {"rss_mb": 480.0, "together_mb": 501.0}}, "run C")[
            "Resident memory, all Python services"
        ]
    )


def test_update_latest_creates_then_replaces_only_the_rows_measured() -> None:
    doc = "# Benchmarks\n\nIntro.\n\n## old run\n"
    first = kit.update_latest(doc, kit.goal_rows(FIGURES, "run A"))
    assert first.startswith("# Benchmarks\n")
    assert first.count(kit.TABLE_START) == 1 and "## old run" in first and "Intro." in first
    track = {"track": {"rps": 2500.0, "p99_ms": 9.0, "ratio": 0.5}}
    second = kit.update_latest(first, kit.goal_rows(track, "run B"))
    assert second.count(kit.TABLE_START) == 1
    table = second[second.index(kit.TABLE_START) : second.index(kit.TABLE_END)]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "figure" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        "Submission through the gateway",
        "CPU per submission, all processes",
        "Tracking a dossier, 1,000,000 stored",
        "Resident memory, all Python services",
    ]  # the goals' order, the earlier run's rows kept
    assert "run A" in rows[0] and "run B" in rows[2]
    third = kit.update_latest(second, kit.goal_rows({"memory": {"rss_mb": 700.0}}, "run C"))
    assert "700 MB" in third and "480 MB" not in third
