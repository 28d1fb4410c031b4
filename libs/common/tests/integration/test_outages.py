"""When PostgreSQL goes away, a service answers 503 problem+json with Retry-After (never a 500 with a traceback),
waits a bounded time for a pool connection, says in /readyz that the database is what is missing, and recovers by
itself when the database is back.

The shared server is never restarted: the app gets a database of its own, which the test makes unavailable
(``ALLOW_CONNECTIONS false`` and its backends terminated), as a PostgreSQL restart does to every database."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from motcua_common.db import Conn, ReadConn, check_database
from motcua_common.http import create_app
from motcua_common.runtime import Runtime
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_database, drop_database, per_run_settings


def build_app(settings: ServiceSettings) -> FastAPI:
    runtime = Runtime(settings, relay=False)  # no Kafka: only the database matters here
    app = create_app(title="outage test", lifespan=runtime.lifespan, readiness=[check_database])

    @app.get("/value")
    async def value(conn: Conn) -> dict:
        return {"value": await conn.fetchval("SELECT 1")}

    @app.get("/slow")
    async def slow(conn: Conn) -> dict:
        await conn.execute("SELECT pg_sleep(30)")
        return {}

    @app.get("/read/value")
    async def read_value(conn: ReadConn) -> dict:
        return {"value": await conn.fetchval("SELECT 1"), "in_transaction": conn.is_in_transaction()}

    @app.get("/read/slow")
    async def read_slow(conn: ReadConn) -> dict:
        await conn.execute("SELECT pg_sleep(30)")
        return {}

    @app.get("/transaction")
    async def transaction(conn: Conn) -> dict:
        return {"in_transaction": conn.is_in_transaction()}

    return app


@pytest.fixture
async def outage_settings():
    # db_acquire_timeout: the tests' generous one (a new connection on a loaded machine can take the production 2 s);
    # the test of the bound sets its own
    settings = per_run_settings(ServiceSettings, "outage", db_pool_max=2)
    await create_database(settings)
    admin = await asyncpg.connect(settings.model_copy(update={"database": "postgres"}).dsn)
    yield settings, admin
    await admin.execute(f'ALTER DATABASE "{settings.database}" ALLOW_CONNECTIONS true')
    await admin.close()
    await drop_database(settings)


@asynccontextmanager
async def serving(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        # raise_app_exceptions=False: an unhandled error is seen as the 500 a real server would send
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
            yield c


@pytest.fixture
async def client(outage_settings):
    async with serving(outage_settings[0]) as c:
        yield c


async def take_database_away(admin: asyncpg.Connection, database: str) -> None:
    await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )


async def until_running(admin: asyncpg.Connection, database: str, count: int = 1) -> None:
    """Until ``count`` requests' ``pg_sleep`` statements run in ``database`` (a minute at most)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(30)%'"
        " AND pid <> pg_backend_pid()"
    )
    async with asyncio.timeout(60):
        while await admin.fetchval(query, database) < count:  # noqa: ASYNC110 - polls the server
            await asyncio.sleep(0.05)


def assert_unavailable(resp: httpx.Response) -> dict:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["retry-after"]) > 0
    body = resp.json()
    assert body["status"] == 503 and body["type"].endswith("/dependency-unavailable"), body
    return body


async def test_database_away_is_503_with_retry_after_then_recovers(outage_settings, client):
    settings, admin = outage_settings
    assert (await client.get("/value")).json() == {"value": 1}
    assert (await client.get("/readyz")).status_code == 200

    await take_database_away(admin, settings.database)
    for _ in range(3):  # the pool's idle connection was terminated; new ones are refused
        body = assert_unavailable(await asyncio.wait_for(client.get("/value"), 10))
        assert "database" in body["detail"]
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and "database" in ready.json()["failures"], ready.json()

    await admin.execute(f'ALTER DATABASE "{settings.database}" ALLOW_CONNECTIONS true')
    assert (await client.get("/value")).json() == {"value": 1}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_a_read_connection_sends_no_begin_and_a_conn_does(client):
    assert (await client.get("/read/value")).json() == {"value": 1, "in_transaction": False}
    assert (await client.get("/transaction")).json() == {"in_transaction": True}


async def test_database_away_is_503_on_a_read_connection_too(outage_settings, client):
    settings, admin = outage_settings
    assert (await client.get("/read/value")).status_code == 200
    await take_database_away(admin, settings.database)
    assert_unavailable(await asyncio.wait_for(client.get("/read/value"), 10))


@pytest.mark.parametrize("path", ["/slow", "/read/slow"])
async def test_connection_lost_in_the_middle_of_a_request_is_503(outage_settings, client, path):
    settings, admin = outage_settings
    slow = asyncio.create_task(client.get(path))
    await until_running(admin, settings.database)
    await take_database_away(admin, settings.database)
    assert_unavailable(await asyncio.wait_for(slow, 10))


async def test_waiting_for_a_pool_connection_is_bounded(outage_settings):
    # both pool connections busy: the next request gives up after db_acquire_timeout instead of queueing forever
    settings, admin = outage_settings
    async with serving(settings.model_copy(update={"db_acquire_timeout": 0.5})) as client:
        busy = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        try:
            await until_running(admin, settings.database, 2)
            assert_unavailable(await asyncio.wait_for(client.get("/value"), 10))
        finally:
            await admin.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                settings.database,
            )
            await asyncio.gather(*busy, return_exceptions=True)
