"""The 0002 and 0003 migrations upgrade a database that already holds v1 data (forward-only)."""

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
            await conn.execute(
                "INSERT INTO notifications (id, dossier_id, dossier_code, event_id, event_type, channel, recipient,"
                " subject, body, status, sent_at) VALUES"
                " ($1, $2, 'C-1', 'm1', 't', 'email', 'an@example.vn', 's', 'b', 'sent', now()),"
                " ($3, $2, 'C-1', 'm2', 't', 'email', 'an@example.vn', 's', 'b', 'pending', NULL),"
                " ($4, $2, 'C-1', 'm3', 't', 'email', 'an@example.vn', 's', 'b', 'failed', NULL)",
                uuid.uuid4(),
                dossier_id,
                uuid.uuid4(),
                uuid.uuid4(),
            )
            assert await migrate(settings.dsn, MIGRATIONS) == [
                "0002_contacts_and_inbox.sql",
                "0003_channels_and_delivery.sql",
            ]
            statuses = await conn.fetch(
                "SELECT event_id, status, idempotency_key = id AS keyed, delivered_at IS NOT NULL AS proven"
                " FROM notifications WHERE channel = 'email' ORDER BY event_id"
            )
            assert [tuple(r) for r in statuses] == [
                ("m1", "delivered", True, True),
                ("m2", "queued", True, False),
                ("m3", "failed_permanent", True, False),
            ]
            columns = {r[0] for r in await conn.fetch("SELECT column_name FROM information_schema.columns")}
            assert "personal_id" not in columns and {"recipient_subject", "read_at"} <= columns
            assert await conn.fetchval("SELECT recipient FROM notifications WHERE event_id = 'e1'") is None
            assert await conn.fetchval("SELECT count(*) FROM recipients") == 1
        finally:
            await conn.close()
    finally:
        await testing.drop_database(settings)
