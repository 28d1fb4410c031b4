"""The 0002 migration upgrades a database that already holds v1 data (forward-only)."""

import shutil
import uuid

import asyncpg
import pytest

from motcua_common import testing
from motcua_common.db import migrate
from notify.main import MIGRATIONS
from notify.settings import Settings

pytestmark = pytest.mark.integration


async def test_upgrade_from_v1_drops_personal_ids(tmp_path):
    settings = testing.per_run_settings(Settings, "notify-migrations")
    shutil.copy(MIGRATIONS / "0001_notifications.sql", tmp_path)
    await testing.create_database(settings, tmp_path)
    try:
        conn = await asyncpg.connect(settings.dsn)
        try:
            dossier_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO recipients (dossier_id, dossier_code, personal_id, full_name)"
                " VALUES ($1, 'C-1', '001090001234', 'Nguyễn Văn An')",
                dossier_id,
            )
            await conn.execute(
                "INSERT INTO notifications (id, dossier_id, dossier_code, event_id, event_type, channel, recipient,"
                " subject, body, status) VALUES ($1, $2, 'C-1', 'e1', 't', 'app', '001090001234', 's', 'b',"
                " 'delivered')",
                uuid.uuid4(),
                dossier_id,
            )
            assert await migrate(settings.dsn, MIGRATIONS) == ["0002_contacts_and_inbox.sql"]
            columns = {r[0] for r in await conn.fetch("SELECT column_name FROM information_schema.columns")}
            assert "personal_id" not in columns and {"recipient_subject", "read_at"} <= columns
            assert await conn.fetchval("SELECT recipient FROM notifications WHERE event_id = 'e1'") is None
            assert await conn.fetchval("SELECT count(*) FROM recipients") == 1
        finally:
            await conn.close()
    finally:
        await testing.drop_database(settings)
