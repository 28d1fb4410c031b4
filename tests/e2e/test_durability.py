"""Nothing acknowledged is lost: intake answers 201 while Kafka is unreachable, is killed with SIGKILL,
and after a restart its outbox still delivers the event, which processing turns into a case once."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from intake.main import prepare_database
from motcua_common.testing import create_database, drop_database

from .conftest import DLQ, TOPIC, eventually, free_port

ROOT = Path(__file__).resolve().parents[2]


def start_intake(settings, port: int, kafka: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "INTAKE_DATABASE": settings.database,
        "INTAKE_CITIZEN_ID_URL": settings.citizen_id_url,
        # the tests' generous timeouts (motcua_common.testing.TEST_TIMEOUTS), as the in-process services have them
        "INTAKE_CITIZEN_ID_TIMEOUT": str(settings.citizen_id_timeout),
        "INTAKE_DB_ACQUIRE_TIMEOUT": str(settings.db_acquire_timeout),
        "MOTCUA_DOSSIER_TOPIC": TOPIC,
        "MOTCUA_DLQ_TOPIC": DLQ,
        "MOTCUA_KAFKA_BOOTSTRAP": kafka,
        "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "MOTCUA_PERSONAL_TOPIC": settings.personal_topic,
        "MOTCUA_CATALOGUE_TOPIC": settings.catalogue_topic,
        "MOTCUA_ISSUER": settings.issuer,
        "MOTCUA_JWKS_URL": settings.jwks_url,
        "MOTCUA_TOKEN_URL": settings.token_url,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "intake.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


async def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            assert proc.poll() is None, "intake exited"
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def test_a_dossier_acknowledged_before_a_kill_is_still_processed(system, api, actors):
    an = actors["citizen An"]
    base = system.settings["intake"]
    settings = base.model_copy(update={"database": base.database + "_crash"})
    await create_database(settings)
    await prepare_database(settings)
    # This second intake has its own database: start its daily series far from the main one so the two
    # never hand out the same dossier code.
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    conn = await asyncpg.connect(settings.dsn)
    await conn.execute("INSERT INTO dossier_sequences VALUES ('000.26.01.H29', $1, 8000)", today)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dead_kafka = f"127.0.0.1:{free_port()}"  # nothing listens there
    proc = start_intake(settings, port, dead_kafka)
    try:
        await wait_healthy(url, proc)
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            resp = await client.post(
                "/api/v1/dossiers",
                headers={**an, "Idempotency-Key": str(uuid.uuid4())},
                json={"procedure_code": "1.004873"},
            )
        assert resp.status_code == 201, resp.text
        code = resp.json()["code"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        pending = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND payload->>'subject' = $1", code
        )
        assert pending == 2, "the events (submitted, contact) wait in the outbox, committed with the dossier"

        proc = start_intake(settings, port, base.kafka_bootstrap)
        await wait_healthy(url, proc)

        async def published():
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")

        await eventually(published)

        async def opened():
            view = await api.get(f"/api/v1/dossiers/{code}", headers=an)
            return view.json() if view.status_code == 200 else None

        view = await eventually(opened)
        assert view["status"] == "submitted" and view["code"] == code
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        await conn.close()
        await drop_database(settings)
