"""PostgreSQL access: pool creation, the request transaction, and the migrations runner."""

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, Request

log = logging.getLogger("motcua.db")
COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )


async def _request_transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        yield conn


# One transaction per request, committed when the route function returns and *before* the response is
# sent (scope="function"): a 2xx is only ever sent for data that is already durable.
Conn = Annotated[asyncpg.Connection, Depends(_request_transaction, scope="function")]


async def check_database(app: FastAPI) -> None:
    async with app.state.pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


async def apply_migrations(conn: asyncpg.Connection, *directories: Path) -> list[str]:
    """Apply ``NNNN_name.sql`` files not applied yet, in order, each in its own transaction.

    The common directory (outbox, inbox) always comes first. An advisory lock makes concurrent
    starts of several replicas safe: one applies, the others wait and then find nothing to do.
    """
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock(727001)")
    try:
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for directory in (COMMON_MIGRATIONS, *directories):
            prefix = "common/" if directory == COMMON_MIGRATIONS else ""
            for path in sorted(directory.glob("*.sql")):
                name = prefix + path.name
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                log.info("applied migration %s", name)
                applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(727001)")
    return applied


async def migrate(dsn: str, *directories: Path) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, *directories)
    finally:
        await conn.close()
