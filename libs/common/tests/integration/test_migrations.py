"""Migrations are a step of their own (``make migrate``), with checksums: an applied migration that was edited is
refused, a database applied by the old runner (no checksums) is upgraded in place, and a service never migrates
at start: it checks that every migration of its own is applied, unchanged, and refuses to start otherwise."""

from pathlib import Path

import asyncpg
import pytest

from motcua_common.db import COMMON_MIGRATIONS, MigrationError, SchemaNotReady, check_schema, migrate
from motcua_common.runtime import Runtime
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_database, drop_database, per_run_settings

# the shared outbox/inbox migrations, applied before a service's own
COMMON = [f"common/{p.name}" for p in sorted(COMMON_MIGRATIONS.glob("*.sql"))]


@pytest.fixture
async def settings(request):
    s = per_run_settings(ServiceSettings, f"mig_{request.node.name[5:30]}")
    await drop_database(s)
    await create_database(s)
    yield s
    await drop_database(s)


def write(directory: Path, name: str, sql: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(sql, encoding="utf-8")
    return path


async def test_an_edited_applied_migration_is_refused(settings, tmp_path):
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    assert await migrate(settings.dsn, tmp_path) == [*COMMON, "0001_things.sql"]
    assert await migrate(settings.dsn, tmp_path) == []  # nothing to do the second time

    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id bigint PRIMARY KEY);")  # edited after it ran
    write(tmp_path, "0002_more.sql", "CREATE TABLE more (id int);")
    with pytest.raises(MigrationError, match=r"0001_things\.sql.*(edited|changed)"):
        await migrate(settings.dsn, tmp_path)
    conn = await asyncpg.connect(settings.dsn)
    try:  # refused before anything else was applied
        assert await conn.fetchval("SELECT to_regclass('more')") is None
    finally:
        await conn.close()


async def test_a_database_of_the_old_runner_is_upgraded_in_place(settings, tmp_path):
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    conn = await asyncpg.connect(settings.dsn)
    try:  # what the runner before checksums left behind
        await conn.execute(
            "CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
            "CREATE TABLE things (id int PRIMARY KEY);"
            "INSERT INTO schema_migrations (name) VALUES ('0001_things.sql')"
        )
        await migrate(settings.dsn)  # the common migrations, as the old runner would have applied them
        await conn.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
        # a service built for the new runner cannot tell whether the old files were edited: not ready
        with pytest.raises(SchemaNotReady, match="make migrate"):
            await check_schema(settings.dsn, tmp_path)

        write(tmp_path, "0002_more.sql", "CREATE TABLE more (id int);")
        assert await migrate(settings.dsn, tmp_path) == ["0002_more.sql"]  # 0001 is not run again
        checksums = dict(await conn.fetch("SELECT name, checksum FROM schema_migrations"))
        assert set(checksums) == {*COMMON, "0001_things.sql", "0002_more.sql"}
        assert all(len(c) == 64 for c in checksums.values()), checksums  # SHA-256, recorded on the first run
        await check_schema(settings.dsn, tmp_path)
        write(tmp_path, "0001_things.sql", "-- edited\nCREATE TABLE things (id int PRIMARY KEY);")
        with pytest.raises(MigrationError, match=r"0001_things\.sql"):
            await migrate(settings.dsn, tmp_path)
    finally:
        await conn.close()


async def test_a_service_does_not_migrate_and_refuses_to_start_without_its_migrations(settings, tmp_path):
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    await migrate(settings.dsn, tmp_path)
    write(tmp_path, "0002_more.sql", "CREATE TABLE more (id int);")  # a new release, not migrated yet

    runtime = Runtime(settings, migrations=tmp_path, relay=False)
    with pytest.raises(SchemaNotReady, match=r"0002_more\.sql.*not applied.*make migrate"):
        await runtime.start()
    await runtime.close()
    conn = await asyncpg.connect(settings.dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('more')") is None  # the service did not migrate
    finally:
        await conn.close()

    await migrate(settings.dsn, tmp_path)  # `make migrate`
    runtime = Runtime(settings, migrations=tmp_path, relay=False)
    await runtime.start()
    await runtime.close()


async def test_a_service_refuses_to_start_on_an_edited_migration(settings, tmp_path):
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    await migrate(settings.dsn, tmp_path)
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY, x int);")
    runtime = Runtime(settings, migrations=tmp_path, relay=False)
    with pytest.raises(SchemaNotReady, match=r"0001_things\.sql.*(edited|changed)"):
        await runtime.start()
    await runtime.close()
