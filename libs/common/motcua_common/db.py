"""PostgreSQL access: pool creation, the request transaction, and the migrations runner."""

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request

from .problems import DependencyUnavailable

log = logging.getLogger("motcua.db")
COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class DatabaseUnavailable(DependencyUnavailable):
    def __init__(self, detail: str):
        super().__init__("database", detail)


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """The pool's way to open a connection: any failure to reach the server (refused, reset, the server starting
    or stopping, the database closed to connections, too many clients…) is :class:`DatabaseUnavailable`, which the
    apps answer with 503 + Retry-After."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
            raise  # a configuration error, not an outage
        raise DatabaseUnavailable(f"cannot connect: {type(exc).__name__}: {exc}") from exc


class Pool(asyncpg.Pool):
    """asyncpg's pool, with a default timeout for ``acquire()``: its own callers, ``pool.fetch()`` and the like
    (which acquire inside) and every other user wait at most ``acquire_timeout`` seconds for a connection, then get
    a TimeoutError (answered 503) instead of queueing without end behind a stuck or absent database."""

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None):  # noqa: ANN201 - asyncpg's PoolAcquireContext
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, acquire_timeout: float | None = 2.0
) -> asyncpg.Pool:
    # What asyncpg.create_pool does, with our subclass (create_pool takes no pool class)
    pool = Pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=_connect,
        setup=None,
        init=_init_connection,
        reset=None,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        command_timeout=30,
        acquire_timeout=acquire_timeout,
    )
    return await pool


async def _request_transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool  # a Pool: acquire() is bounded by db_acquire_timeout
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                yield conn
        except Exception as exc:
            # A connection the server closed under us (a restart, pg_terminate_backend) fails with whatever the
            # protocol was doing, even asyncpg's InternalClientError: the database went away, whatever the class.
            if conn.is_closed() and not isinstance(exc, DependencyUnavailable):
                raise DatabaseUnavailable(f"connection lost: {type(exc).__name__}: {exc}") from exc
            raise


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
