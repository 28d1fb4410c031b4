"""Seed the demo data (the population registry; a history of dossiers in the statistics), after `make migrate`
(scripts/migrate.py, the one place migrations run: `make setup` and `make run` run it first).

Safe to re-run: seeding adds only what is missing (a re-run of the 1,000,000-citizen registry takes a few seconds).
``MOTCUA_SEED_CITIZENS`` sets how many synthetic citizens.
"""

import asyncio
import os
import time

import asyncpg

from citizen_id.seed import seed
from citizen_id.settings import Settings as CitizenIdSettings
from intake.settings import Settings as IntakeSettings
from intake.versions import read_shipped
from processing.measure.seed import demo_province, seed_history
from processing.settings import Settings as ProcessingSettings

DEMO_HISTORY = 4_000  # dossiers counted into the statistics over the last thirteen months (the dashboard's figures)


async def seed_statistics() -> None:
    """The dashboard's demo figures: a synthetic history counted straight into processing's statistics tables, only
    while they are empty (the projection's own counts are never mixed with it). The demo accounts' units (the commune
    and its police, the provincial centre) are among the units."""
    definitions = [d for d in read_shipped(IntakeSettings().catalogue_dir) if d.bundle is None]
    conn = await asyncpg.connect(ProcessingSettings().dsn)
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM measure_counts)"):
            print("    processing  statistics: already counted, not seeded again")
            return
        result = await seed_history(conn, province=demo_province(), definitions=definitions, total=DEMO_HISTORY)
        print(f"    processing  statistics: a history of {result.dossiers:,} dossiers ({result.count_rows:,} rows)")
    finally:
        await conn.close()


async def main() -> None:
    started = time.perf_counter()
    count = int(os.environ.get("MOTCUA_SEED_CITIZENS", "1000000"))
    print(f"    citizen-id  population registry: {count:,} synthetic citizens + the demo ones (first run: ~30 s)")
    added = await seed(CitizenIdSettings().dsn, count, verbose=True)
    print(f"    citizen-id  population registry: {added:,} citizen(s) added ({time.perf_counter() - started:.1f}s)")
    await seed_statistics()


if __name__ == "__main__":
    asyncio.run(main())
