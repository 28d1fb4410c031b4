"""The bare baselines `make bench` measures the services against (scripts/bench_baseline.py), on the real
PostgreSQL: the bare app validates the same body as intake and inserts one row; its tracking select matches
processing's schema; the bare proxy forwards method, path, query, headers and body both ways."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from motcua_common.db import migrate
from motcua_common.settings import ServiceSettings
from motcua_common.testing import RUN_ID, drop_database, load_script, recreate_databases
from processing.main import MIGRATIONS as PROCESSING_MIGRATIONS

baseline = load_script(Path(__file__).resolve().parents[2] / "scripts" / "bench_baseline.py", "motcua_bench_baseline")

BODY = {"procedure_code": "1.004873", "channel": "online", "components": [{"code": "TK-XNHN", "file_name": "a.pdf"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def bare_db() -> AsyncIterator[str]:
    settings = ServiceSettings().model_copy(update={"database": f"test_{RUN_ID}_bench_bare"})
    await recreate_databases(settings, [settings.database])
    await migrate(settings.dsn, PROCESSING_MIGRATIONS)  # the tracking select reads processing's table
    conn = await asyncpg.connect(settings.dsn)
    try:
        await conn.execute(baseline.BARE_TABLE)
    finally:
        await conn.close()
    yield settings.dsn
    await drop_database(settings)


async def serve(app: Any) -> tuple[uvicorn.Server, Any, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):  # (4 s, as it was, were not always enough on a loaded machine)
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


async def test_bare_app_validates_like_intake_and_inserts_one_row(
    bare_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_BASELINE_DSN", bare_db)
    server, task, url = await serve(baseline.create_bare_app())
    try:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=60) as client:
            ok = await client.post("/api/v1/dossiers", json=BODY)
            bad = await client.post("/api/v1/dossiers", json={**BODY, "channel": "carrier-pigeon"})
            missing = await client.get(f"/api/v1/dossiers/{uuid.uuid4()}")
            not_an_id = await client.get("/api/v1/dossiers/H29-abc")
    finally:
        server.should_exit = True
        await task
    assert ok.status_code == 201, ok.text
    assert bad.status_code == 422
    assert missing.status_code == 404 and not_an_id.status_code == 422
    conn = await asyncpg.connect(bare_db)
    try:
        rows = await conn.fetch("SELECT id, body FROM bare_dossiers")
        await conn.prepare(baseline.TRACK_SQL)  # every column it reads exists in processing's schema
    finally:
        await conn.close()
    assert [str(r["id"]) for r in rows] == [ok.json()["id"]]
    assert '"procedure_code": "1.004873"' in rows[0]["body"]


async def test_bare_proxy_forwards_request_and_answer(bare_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_BASELINE_DSN", bare_db)
    upstream, up_task, up_url = await serve(baseline.create_bare_app())
    monkeypatch.setenv("BENCH_PROXY_UPSTREAM", up_url)
    proxy, proxy_task, proxy_url = await serve(baseline.create_proxy_app())
    try:
        async with httpx.AsyncClient(base_url=proxy_url, trust_env=False, timeout=60) as client:
            created = await client.post("/api/v1/dossiers?x=1", json=BODY, headers={"Idempotency-Key": "k"})
            refused = await client.post("/api/v1/dossiers", content=b"{", headers={"Content-Type": "application/json"})
    finally:
        for server, task in ((proxy, proxy_task), (upstream, up_task)):
            server.should_exit = True
            await task
    assert created.status_code == 201 and uuid.UUID(created.json()["id"])
    assert created.headers["content-type"] == "application/json"
    assert refused.status_code == 422
