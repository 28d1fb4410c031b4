"""The migrations upgrade a database that already holds cases (forward-only): 0002 from v1 cases, 0005 from 0004."""

import shutil
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from motcua_common import sample_procedures, testing
from motcua_common.db import migrate
from processing.main import MIGRATIONS
from processing.settings import Settings

pytestmark = pytest.mark.integration


async def test_upgrade_from_v1_drops_applicant_personal_data(tmp_path):
    settings = testing.per_run_settings(Settings, "processing-migrations")
    shutil.copy(MIGRATIONS / "0001_cases.sql", tmp_path)
    await testing.create_database(settings, tmp_path)
    try:
        conn = await asyncpg.connect(settings.dsn)
        try:
            now = datetime.now(UTC)
            await conn.execute(
                "INSERT INTO dossiers (id, code, procedure_code, procedure_name, procedure_version, channel,"
                " applicant_personal_id, applicant_name, unit_code, unit_name, status, received_at, due_at)"
                " VALUES ($1, 'C-1', 'p', 'P', 1, 'online', '001090001234', 'Nguyễn Văn An', 'U', 'Unit',"
                " 'submitted', $2, $2)",
                uuid.uuid4(),
                now,
            )
            assert await migrate(settings.dsn, MIGRATIONS) == [
                "0002_identity.sql",
                "0003_event_sequence.sql",
                "0004_engine.sql",
                "0005_work_queue.sql",
                "0006_measure.sql",
            ]
            columns = {
                r[0]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'dossiers'"
                )
            }
            assert not {"applicant_name", "applicant_personal_id"} & columns
            assert {"applicant_subject", "applicant_tax_code", "submitter_subject", "receiving_unit_code"} <= columns
            assert await conn.fetchval("SELECT count(*) FROM dossiers WHERE code = 'C-1'") == 1
            # 0003: a case that has had no action yet has published its first event only (submitted = 1).
            assert await conn.fetchval("SELECT event_sequence FROM dossiers WHERE code = 'C-1'") == 1
            # 0004: the case is held by its competent unit, and its legal due date is its due date.
            row = await conn.fetchrow("SELECT * FROM dossiers WHERE code = 'C-1'")
            assert (row["current_unit_code"], row["current_unit_name"], row["involved_units"]) == ("U", "Unit", ["U"])
            assert row["legal_due_at"] == row["due_at"] and row["paused_at"] is None
        finally:
            await conn.close()
    finally:
        await testing.drop_database(settings)


async def test_0005_gives_open_dossiers_the_roles_of_their_step(tmp_path):
    settings = testing.per_run_settings(Settings, "processing-migrations-0005")
    for name in ("0001_cases.sql", "0002_identity.sql", "0003_event_sequence.sql", "0004_engine.sql"):
        shutil.copy(MIGRATIONS / name, tmp_path)
    await testing.create_database(settings, tmp_path)
    try:
        conn = await asyncpg.connect(settings.dsn)
        try:
            definition = sample_procedures.standard()
            now = datetime.now(UTC)
            await conn.execute(
                "INSERT INTO procedure_versions (code, version, definition, published_at)"
                " VALUES ($1, $2, $3::jsonb, $4)",
                definition.code,
                definition.version,
                definition.model_dump_json(),
                now,
            )
            for code, status, step in (("C-1", "processing", "appraise"), ("C-2", "completed", None)):
                await conn.execute(
                    "INSERT INTO dossiers (id, code, procedure_code, procedure_name, procedure_version, channel,"
                    " unit_code, unit_name, status, received_at, due_at, current_step, current_unit_code,"
                    " current_unit_name, legal_due_at)"
                    " VALUES ($1, $2, $3, 'P', 1, 'online', 'U', 'Unit', $4, $5, $5, $6, 'U', 'Unit', $5)",
                    uuid.uuid4(),
                    code,
                    definition.code,
                    status,
                    now,
                    step,
                )
            assert await migrate(settings.dsn, MIGRATIONS) == ["0005_work_queue.sql", "0006_measure.sql"]
            roles = dict(await conn.fetch("SELECT code, current_roles FROM dossiers ORDER BY code"))
            assert roles == {"C-1": list(definition.step("appraise").roles), "C-2": []}
        finally:
            await conn.close()
    finally:
        await testing.drop_database(settings)
