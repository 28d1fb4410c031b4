"""Seed the demo data (the population registry), after `make migrate` (scripts/migrate.py, the one place
migrations run: `make setup` and `make run` run it first).

Safe to re-run: seeding adds only what is missing (a re-run of the 1,000,000-citizen registry takes a few seconds).
``MOTCUA_SEED_CITIZENS`` sets how many synthetic citizens.
"""

import asyncio
import os
import time

from citizen_id.seed import seed
from citizen_id.settings import Settings as CitizenIdSettings


async def main() -> None:
    started = time.perf_counter()
    count = int(os.environ.get("MOTCUA_SEED_CITIZENS", "1000000"))
    print(f"    citizen-id  population registry: {count:,} synthetic citizens + the demo ones (first run: ~30 s)")
    added = await seed(CitizenIdSettings().dsn, count, verbose=True)
    print(f"    citizen-id  population registry: {added:,} citizen(s) added ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    asyncio.run(main())
