"""Apply every service's migrations and seed the demo data (the population registry).

Safe to re-run: applied migrations are skipped and seeding adds only what is missing (a re-run of the
1,000,000-citizen registry takes a few seconds). ``MOTCUA_SEED_CITIZENS`` sets how many synthetic citizens. The
services also migrate on start-up; doing it here first makes `make run` fail early and clearly.
"""

import asyncio
import os
import time

from citizen_id.main import MIGRATIONS as CITIZEN_ID_MIGRATIONS
from citizen_id.seed import seed
from citizen_id.settings import Settings as CitizenIdSettings
from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
from gateway.settings import Settings as GatewaySettings
from intake.main import MIGRATIONS as INTAKE_MIGRATIONS
from intake.settings import Settings as IntakeSettings
from motcua_common.db import migrate
from notify.main import MIGRATIONS as NOTIFY_MIGRATIONS
from notify.settings import Settings as NotifySettings
from processing.main import MIGRATIONS as PROCESSING_MIGRATIONS
from processing.settings import Settings as ProcessingSettings

SERVICES = [
    ("intake", IntakeSettings, INTAKE_MIGRATIONS),
    ("processing", ProcessingSettings, PROCESSING_MIGRATIONS),
    ("citizen-id", CitizenIdSettings, CITIZEN_ID_MIGRATIONS),
    ("notify", NotifySettings, NOTIFY_MIGRATIONS),
    ("gateway", GatewaySettings, GATEWAY_MIGRATIONS),
]


async def main() -> None:
    for name, settings_cls, directory in SERVICES:
        settings = settings_cls()
        applied = await migrate(settings.dsn, directory)
        print(
            f"    {name:<11} {settings.database}: "
            + (f"applied {len(applied)} migration(s)" if applied else "up to date")
        )
    started = time.perf_counter()
    count = int(os.environ.get("MOTCUA_SEED_CITIZENS", "1000000"))
    print(f"    citizen-id  population registry: {count:,} synthetic citizens + the demo ones (first run: ~30 s)")
    added = await seed(CitizenIdSettings().dsn, count, verbose=True)
    print(f"    citizen-id  population registry: {added:,} citizen(s) added ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    asyncio.run(main())
