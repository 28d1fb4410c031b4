"""PostgreSQL access: pool creation, the request transaction, and the migrations runner."""

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Request

from .problems import DependencyUnavailable

log = logging.getLogger("motcua.db")
COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


def json_text(value: Any) -> str:
    """A value as JSON text for a ``json``/``jsonb`` parameter. orjson, not the standard library: every
    submission encodes and decodes several documents (the procedure definition, the applicant, the outbox event),
    which the issue 7 profile found to be 8% of intake's CPU with ``json``. Non-string keys are written as strings,
    as ``json.dumps`` does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json_text, decoder=orjson.loads, schema="pg_catalog")


class DatabaseUnavailable(DependencyUnavailable):
    def __init__(self, detail: str):
        super().__init__("database", detail)


# What an outage of the database looks like to a client: the server refused, reset or ended the session (a restart
# reports an ended session as InternalClientError or AdminShutdown on the next use), is starting or stopping, has too
# many clients, or the pool gave up waiting for a connection (TimeoutError). Errors of a statement itself (a
# constraint, a type) are not in it.
DATABASE_OUTAGE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    DatabaseUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,
)


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


class Connection(asyncpg.Connection):
    """A pooled connection that knows whether it holds session state the pool must undo before the next user:
    LISTEN registrations (:meth:`add_listener`), or whatever a caller declares with :meth:`keep_session_state`
    (a session-level advisory lock, a session ``SET``). Transaction-scoped state (``SET LOCAL``,
    ``pg_advisory_xact_lock``) ends with the transaction and needs nothing."""

    _session_state = False

    def keep_session_state(self) -> None:
        """Declare session-level state (an advisory lock, a ``SET``): the pool resets the session on release."""
        self._session_state = True

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._session_state = True
        await super().add_listener(channel, callback)


async def _reset_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg has already dropped the listener callbacks and rolled back an open
    transaction (``Connection._reset``, run before this hook); the full session reset (``UNLISTEN *``, ``RESET
    ALL``, ``pg_advisory_unlock_all()``, ``CLOSE ALL``: one more round trip and four statements for the server)
    is sent only for a connection that declared session state. asyncpg's default sends it on every release,
    which the issue 7 profile found to be 7% of intake's CPU (two releases per submission)."""
    if getattr(conn, "_session_state", True):  # a connection not of our class: reset it as asyncpg would
        await conn.execute(conn.get_reset_query())
        if isinstance(conn, Connection):
            conn._session_state = False


class Pool(asyncpg.Pool):
    """asyncpg's pool, with a default timeout for ``acquire()``: its own callers, ``pool.fetch()`` and the like
    (which acquire inside) and every other user wait at most ``acquire_timeout`` seconds for a connection, then get
    a TimeoutError (answered 503) instead of queueing without end behind a stuck or absent database."""

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> "asyncpg.pool.PoolAcquireContext":
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
        reset=_reset_session,
        loop=None,
        connection_class=Connection,
        record_class=asyncpg.Record,
        command_timeout=30,
        acquire_timeout=acquire_timeout,
    )
    return await pool


@asynccontextmanager
async def pooled_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection of ``pool`` (its ``acquire`` is bounded by db_acquire_timeout). If the server closes it under
    the caller (a restart, pg_terminate_backend), whatever the statement in flight raised (even asyncpg's
    InternalClientError) is :class:`DatabaseUnavailable`: the database went away, whatever the class. Requests
    answer that with 503, consumers retry it."""
    async with pool.acquire() as conn:
        try:
            yield conn
        except Exception as exc:
            if conn.is_closed() and not isinstance(exc, DependencyUnavailable):
                raise DatabaseUnavailable(f"connection lost: {type(exc).__name__}: {exc}") from exc
            raise


async def _request_transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with pooled_connection(request.app.state.pool) as conn, conn.transaction():
        yield conn


async def _request_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with pooled_connection(request.app.state.pool) as conn:
        yield conn


# One transaction per request, committed when the route function returns and *before* the response is
# sent (scope="function"): a 2xx is only ever sent for data that is already durable.
Conn = Annotated[asyncpg.Connection, Depends(_request_transaction, scope="function")]
# A pooled connection without BEGIN and COMMIT, two round trips fewer per request (issue 7: 10% of processing's CPU on
# its read routes, 19% of citizen-id's). A route that only reads takes ReadConn: nothing is lost, at READ COMMITTED
# (the isolation of every transaction here) each statement takes its own snapshot inside a transaction too. A route
# that locks or sets anything transaction-scoped (SET LOCAL, an advisory xact lock) takes Conn.
StatementConn = Annotated[asyncpg.Connection, Depends(_request_connection, scope="function")]
# The same connection, named for what a route does with it: a route whose writes are each one statement (atomic on
# its own and committed when it returns, so also before the response is sent) takes StatementConn; what must change
# together then goes in one statement (a data-modifying WITH) or in ``conn.transaction()``.
ReadConn = StatementConn


async def check_database(app: FastAPI) -> None:
    async with app.state.pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


# Migrations: a hand-written runner, kept on purpose. The maintained tools were weighed: yoyo-migrations reads plain
# SQL files but needs a synchronous DB-API driver (psycopg) beside asyncpg, and its stored hash is of the
# migration's id, not its text, so an edited file goes unnoticed; Alembic wants SQLAlchemy and Python revision
# scripts; Flyway, sqitch, dbmate and goose are JVM/Perl/Go programs outside the uv workspace. What we need is
# small: numbered plain .sql files, one transaction each, an advisory lock so concurrent runs are safe, and a
# SHA-256 per applied file so an edited migration is refused.

MIGRATIONS_LOCK = 727001  # advisory lock key (citizen-id's other keys live in their own namespace)
_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text);
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;
"""


class MigrationError(RuntimeError):
    """The runner refuses to go on: an applied migration's file no longer matches what was applied."""


class SchemaNotReady(RuntimeError):
    """A service's database lacks migrations of the running code (or they were edited): run ``make migrate``."""


def migration_files(*directories: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` of every migration, in the order they apply: the common ones (``common/…``) first."""
    files = []
    for directory in (COMMON_MIGRATIONS, *directories):
        prefix = "common/" if directory == COMMON_MIGRATIONS else ""
        files += [(prefix + path.name, path) for path in sorted(directory.glob("*.sql"))]
    return files


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edited(name: str, path: Path) -> str:
    return (
        f"migration {name} ({path}) was edited after it was applied: its SHA-256 differs from the one recorded "
        "in schema_migrations. Applied migrations are never edited: restore the file and put the change in a new "
        "numbered migration."
    )


async def apply_migrations(conn: asyncpg.Connection, *directories: Path) -> list[str]:
    """Apply ``NNNN_name.sql`` files not applied yet, in order, each in its own transaction, recording each
    file's SHA-256. Refuses (:class:`MigrationError`, nothing applied) when an applied file was edited.

    The common directory (outbox, inbox) always comes first. An advisory lock makes concurrent runs safe: one
    applies, the others wait and then find nothing to do. A table left by the runner before checksums is
    upgraded in place: the checksums of its applied files are recorded on the first run.
    """
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
    try:
        await conn.execute(_TABLE)
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        files = migration_files(*directories)
        for name, path in files:
            if name in done and done[name] is not None and done[name] != checksum(path):
                raise MigrationError(_edited(name, path))
        for name, path in files:
            if name in done:
                if done[name] is None:  # applied by the runner before checksums: trust the file as it is now
                    await conn.execute(
                        "UPDATE schema_migrations SET checksum = $2 WHERE name = $1", name, checksum(path)
                    )
                    log.info("recorded the checksum of %s (applied before checksums were kept)", name)
                continue
            async with conn.transaction():
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum(path)
                )
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK)
    return applied


async def migrate(dsn: str, *directories: Path) -> list[str]:
    """Run the migrations (``make migrate``; services never do it at start). Returns the names applied."""
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, *directories)
    finally:
        await conn.close()


async def schema_problems(conn: asyncpg.Connection, *directories: Path) -> list[str]:
    """What keeps this code from running on the database: every migration file (common ones included) must be
    applied, with the checksum of the file as it is now. Empty when all is well."""
    try:
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        return ["no migration was ever applied to this database (no schema_migrations table)"]
    except asyncpg.UndefinedColumnError:
        return ["the migrations were applied by the runner before checksums: run it once more to record them"]
    done = {r["name"]: r["checksum"] for r in rows}
    problems = []
    for name, path in migration_files(*directories):
        if name not in done:
            problems.append(f"migration {name} is not applied")
        elif done[name] is None:
            problems.append(f"migration {name} has no checksum recorded yet")
        elif done[name] != checksum(path):
            problems.append(_edited(name, path))
    return problems


async def check_schema(dsn: str, *directories: Path) -> None:
    """Raise :class:`SchemaNotReady` with a message that says what is wrong and what to do, unless the
    database holds exactly the migrations of this code."""
    conn = await asyncpg.connect(dsn)
    try:
        problems = await schema_problems(conn, *directories)
    finally:
        await conn.close()
    if problems:
        database = dsn.rsplit("/", 1)[-1]
        raise SchemaNotReady(
            f"database {database} is not at this code's schema version: "
            + "; ".join(problems)
            + ". Migrations are a step of their own: run `make migrate` (scripts/migrate.py) first."
        )
