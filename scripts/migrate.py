"""`make migrate`: apply every service's migrations (the one place they run; services only check them at start).

Each service's database (its settings, from the same environment the services read) is created if missing, then
its new ``NNNN_*.sql`` files are applied in order, the common ones first, each file's SHA-256 recorded. An applied
migration whose file was edited stops the run (exit 1) with the file named: fix it by restoring the file and
putting the change in a new migration. Safe to re-run and to run from several places at once (advisory lock).

Then intake's shipped procedure versions (``services/intake/intake/catalogue/*.json``) are loaded: each version not
stored yet is stored and announced once; a stored version that differs from its file stops the run (exit 1), as
an edited migration does.
"""

import asyncio
import sys

import asyncpg

from citizen_id.main import MIGRATIONS as CITIZEN_ID_MIGRATIONS
from citizen_id.settings import Settings as CitizenIdSettings
from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
from gateway.settings import Settings as GatewaySettings
from intake.main import MIGRATIONS as INTAKE_MIGRATIONS
from intake.settings import Settings as IntakeSettings
from intake.versions import CatalogueError, load_catalogue
from motcua_common.db import MigrationError, migrate
from motcua_common.settings import ServiceSettings
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


async def ensure_database(settings: ServiceSettings) -> bool:
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", settings.database):
            return False
        try:
            await admin.execute('CREATE DATABASE "{}"'.format(settings.database.replace('"', '""')))
        except asyncpg.DuplicateDatabaseError:
            return False  # created by a concurrent run
        return True
    finally:
        await admin.close()


async def main() -> int:
    for name, settings_cls, directory in SERVICES:
        settings = settings_cls()
        created = await ensure_database(settings)
        try:
            applied = await migrate(settings.dsn, directory)
        except MigrationError as exc:
            print(f"    {name:<11} {settings.database}: REFUSED: {exc}", file=sys.stderr)
            return 1
        state = f"applied {len(applied)} migration(s)" if applied else "up to date"
        print(f"    {name:<11} {settings.database}: " + ("created, " if created else "") + state)
    intake = IntakeSettings()
    try:
        loaded = await load_catalogue(intake.dsn, topic=intake.catalogue_topic, directory=intake.catalogue_dir)
    except CatalogueError as exc:
        print(f"    intake      procedure catalogue: REFUSED: {exc}", file=sys.stderr)
        return 1
    print(
        f"    intake      procedure catalogue: {len(loaded)} version(s) stored and announced"
        if loaded
        else "    intake      procedure catalogue: up to date"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
