"""Benchmark the public statistics queries (issue 9) on the counters of 1,000,000 dossiers.

``uv run --frozen python scripts/bench_measure.py`` (``--help`` for the options), after ``make migrate``. The script
works in a database of its own (``bench_measure_processing``, dropped and recreated), applies processing's
migrations, counts a synthetic history of ``--dossiers`` dossiers over ``--days`` days into the statistics tables
with COPY (``processing.measure.seed``: the province of ``processing.seed``, the shipped procedures), then times each
query as the API runs it (the service function on a pool, without HTTP), sequentially: ``--warmup`` runs, then
``--runs`` measured. Prints one ``BENCH name=statistics_… p50_ms=… p99_ms=…`` line per query, then the plan of the
heaviest SQL. ``make run``'s data is untouched.
"""

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from intake.settings import Settings as IntakeSettings
from intake.versions import read_shipped
from motcua_common.db import migrate
from motcua_common.legal_clock import VN_TZ
from motcua_common.testing import recreate_databases
from processing.main import MIGRATIONS
from processing.measure import service
from processing.measure.seed import seed_history
from processing.seed import Province
from processing.settings import Settings

DATABASE = "bench_measure_processing"


async def timed(
    conn: asyncpg.Connection, run: Callable[[asyncpg.Connection], Awaitable[Any]], n: int, warm: int
) -> tuple[float, float]:
    for _ in range(warm):
        await run(conn)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await run(conn)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


async def main(args: argparse.Namespace) -> None:
    settings = Settings().model_copy(update={"database": DATABASE})
    if not args.reuse:
        await recreate_databases(settings, [DATABASE])
        await migrate(settings.dsn, MIGRATIONS)
    definitions = [d for d in read_shipped(IntakeSettings().catalogue_dir) if d.bundle is None]
    province = Province.build(args.communes)
    today = dt.datetime.now(VN_TZ).date()
    conn = await asyncpg.connect(settings.dsn)
    try:
        t = time.perf_counter()
        if args.reuse:  # the last run's counters, the indexes as the migrations now define them
            for statement in (MIGRATIONS / "0006_measure.sql").read_text().split(";"):
                if "CREATE INDEX" in statement:
                    await conn.execute(statement)
            await conn.execute("VACUUM ANALYZE measure_counts")
            await conn.execute("VACUUM ANALYZE rating_counts")
            rows = await conn.fetchval("SELECT count(*) FROM measure_counts")
            print(f"==> reusing {rows:,} counter rows of the last run ({time.perf_counter() - t:.1f}s)", flush=True)
        else:
            result = await seed_history(
                conn,
                province=province,
                definitions=definitions,
                total=args.dossiers,
                history_days=args.days,
                today=today,
            )
            print(
                f"==> seeded {result.dossiers:,} dossiers over {args.days} days: {result.count_rows:,} counter rows, "
                f"{result.rating_rows:,} rating rows, {len(province.all_units())} units "
                f"({time.perf_counter() - t:.1f}s)",
                flush=True,
            )
        busiest = province.communes[0].code
        last_year = today.replace(year=today.year - 1)
        queries: dict[str, Callable[[asyncpg.Connection], Awaitable[Any]]] = {
            "statistics_month_units": lambda c: service.statistics(
                c, period="month", day=today, kind="unit", unit=None, procedure=None, limit=50, cursor=None
            ),
            "statistics_year_units": lambda c: service.statistics(
                c, period="year", day=today, kind="unit", unit=None, procedure=None, limit=50, cursor=None
            ),
            "statistics_day_units": lambda c: service.statistics(
                c, period="day", day=today, kind="unit", unit=None, procedure=None, limit=50, cursor=None
            ),
            "statistics_month_one_unit_procedure": lambda c: service.statistics(
                c, period="month", day=today, kind="unit", unit=busiest, procedure="1.001193", limit=50, cursor=None
            ),
            "statistics_quarter_centres": lambda c: service.statistics(
                c, period="quarter", day=today, kind="centre", unit=None, procedure=None, limit=50, cursor=None
            ),
            "ranking_month_on_time_rate": lambda c: service.ranking(
                c, period="month", day=today, kind="unit", by="on_time_rate", procedure=None
            ),
            "ranking_year_satisfaction": lambda c: service.ranking(
                c, period="year", day=today, kind="unit", by="satisfaction", procedure=None
            ),
            "unit_series_12_months": lambda c: service.series(c, busiest, period="month", first=last_year, last=today),
            "unit_index_quarter": lambda c: service.index(c, busiest, period="quarter", day=today),
            "units": service.units,
        }
        for name, run in queries.items():
            if args.only and not any(o in name for o in args.only):
                continue
            p50, p99 = await timed(conn, run, args.runs, args.warmup)
            print(f"BENCH name=measure_{name} p50_ms={p50:.2f} p99_ms={p99:.2f} runs={args.runs}", flush=True)
        plan = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT unit_code, sum(received_online) FROM measure_counts WHERE kind = 'unit'"
            " AND procedure_code = '*' AND ((grain = 'month' AND bucket <= $1)) GROUP BY unit_code",
            today,
        )
        print("==> plan of the stocks' running sum (every unit, every month so far):")
        for row in plan:
            print("    " + row[0])
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=1_000_000, help="dossiers counted (default 1,000,000)")
    parser.add_argument("--days", type=int, default=730, help="history in days (default 730)")
    parser.add_argument("--communes", type=int, default=150, help="commune units (default 150)")
    parser.add_argument("--runs", type=int, default=200, help="measured runs per query (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up runs per query (default 20)")
    parser.add_argument("--reuse", action="store_true", help="time the last run's database again (no new seed)")
    parser.add_argument("--only", nargs="*", default=[], help="only the queries whose name contains one of these")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
