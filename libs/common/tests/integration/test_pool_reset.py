"""The pool's reset on release (motcua_common.db): a connection that holds session state (LISTEN, a declared
session SET or advisory lock) or an open transaction comes back clean; a connection without any is handed back
without the extra round trip asyncpg's default reset sends on every release (issue 7)."""

import asyncpg
import pytest

from motcua_common.db import create_pool
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_database, drop_database, per_run_settings


@pytest.fixture
async def pool():
    settings = per_run_settings(ServiceSettings, "pool-reset")
    await create_database(settings)
    # one connection: every acquire gets it again
    pool = await create_pool(settings.dsn, min_size=1, max_size=1, acquire_timeout=settings.db_acquire_timeout)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_database(settings)


async def _queries_sent_on_release(pool: asyncpg.Pool, use) -> list[str]:
    sent: list[str] = []
    async with pool.acquire() as conn:
        await use(conn)
        conn.add_query_logger(lambda record: sent.append(record.query))
    return sent


async def test_a_plain_connection_is_released_without_a_reset_statement(pool):
    async def use(conn):
        async with conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = '5s'")  # transaction-scoped: gone at commit

    assert await _queries_sent_on_release(pool, use) == []
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"


async def test_a_listening_connection_is_reset(pool):
    async def use(conn):
        await conn.add_listener("pool_reset_test", lambda *_: None)
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 1

    sent = await _queries_sent_on_release(pool, use)
    assert any("UNLISTEN" in q for q in sent)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
    assert await _queries_sent_on_release(pool, lambda conn: conn.fetchval("SELECT 1")) == []


async def test_declared_session_state_is_reset(pool):
    async def use(conn):
        await conn.execute("SET application_name = 'pool-reset-test'")
        assert await conn.fetchval("SELECT pg_try_advisory_lock(727099)")
        conn.keep_session_state()

    await _queries_sent_on_release(pool, use)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") != "pool-reset-test"
        locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        assert await conn.fetchval(locks) == 0


async def test_an_open_transaction_is_rolled_back(pool):
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS pool_reset_t (n int)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO pool_reset_t VALUES (1)")
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pool_reset_t") == 0
