"""Rate limits shared by every gateway replica: fixed-window counters in the gateway's own PostgreSQL database.

Every counted request adds one to each of its buckets for the current window in one statement
(``INSERT ... ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n``), so replicas share the counts without any
coordination of their own. Buckets (limits per minute in :class:`~gateway.settings.Settings`):

- ``citizen:<sub>`` / ``officer:<sub>``: a person, whatever app or device they use. The public app's
  ``client_id`` (``motcua-app``) is shared by every citizen, so people are limited one by one, not per app;
- ``client:<client_id>``: a partner system or a service (client-credentials tokens);
- ``ip:<address>``: calls without a token;
- ``lookup:<address>``: the public dossier lookup, stricter, on top of the caller's bucket: guessing codes;
- ``login:<address>``: the login form and the token endpoint, on top: guessing passwords.

Windows are aligned on multiples of the window length in unix time (the replicas' clocks, kept by NTP; a
skew of a few milliseconds only matters at a window edge). Old windows are deleted by a periodic loop in
every replica: the DELETE is idempotent, so replicas running it at once is harmless.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import Request

from motcua_common.auth import Principal
from motcua_common.db import check_schema, create_pool
from motcua_common.problems import ProblemError

from .routing import Route
from .settings import Settings

log = logging.getLogger("gateway.ratelimit")
MIGRATIONS = Path(__file__).parent / "migrations"

COUNT = """
INSERT INTO rate_counters (window_start, bucket, n)
SELECT $1, b, 1 FROM unnest($2::text[]) AS b
ON CONFLICT (window_start, bucket) DO UPDATE SET n = rate_counters.n + 1
RETURNING bucket, n
"""
CLEANUP_BATCH = 5000
CLEANUP = """
DELETE FROM rate_counters WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM rate_counters WHERE window_start < $1 LIMIT $2))
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int


def too_many_requests(retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        "too-many-requests",
        "Quá nhiều yêu cầu, vui lòng thử lại sau",
        f"The rate limit for this caller is used up; retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


def client_ip(request: Request, trusted_proxy_hops: int = 0) -> str:
    """The caller's address: the socket peer, or with ``trusted_proxy_hops`` proxies in front, the address the
    first of them saw (the entry of ``X-Forwarded-For`` just before the ones our proxies appended)."""
    peer = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    chain = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()]
    chain.append(peer)
    return chain[-trusted_proxy_hops - 1] if len(chain) > trusted_proxy_hops else chain[0]


class RateLimiter:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.window = max(1, settings.rate_window_seconds)
        self.clock = clock  # unix time; tests pin it so that a window edge never falls inside a test
        self.pool: asyncpg.Pool | None = None
        self._skip_until = 0.0
        self._unavailable: str | None = "not connected yet"
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ buckets
    def _per_window(self, per_minute: int) -> int:
        return max(1, round(per_minute * self.window / 60))

    def buckets(self, request: Request, route: Route, principal: Principal | None) -> list[Bucket]:
        s = self.settings
        ip = client_ip(request, s.trusted_proxy_hops)
        if principal is None:
            buckets = [Bucket(f"ip:{ip}", s.rate_anonymous_per_minute)]
        elif principal.kind == "citizen":
            buckets = [Bucket(f"citizen:{principal.subject}", s.rate_citizen_per_minute)]
        elif principal.kind == "officer":
            buckets = [Bucket(f"officer:{principal.subject}", s.rate_officer_per_minute)]
        else:
            buckets = [Bucket(f"client:{principal.client_id or principal.subject}", s.rate_client_per_minute)]
        if route.bucket == "lookup":
            buckets.append(Bucket(f"lookup:{ip}", s.rate_public_lookup_per_minute))
        elif route.bucket == "login":
            buckets.append(Bucket(f"login:{ip}", s.rate_login_per_minute))
        return [Bucket(b.key, self._per_window(b.limit)) for b in buckets]

    # ------------------------------------------------------------------ counting
    async def check(self, buckets: list[Bucket]) -> None:
        """Count one request in each bucket; raise 429 when any of them is over its limit.

        Fails OPEN: when the counter database is unreachable, slow or broken, the request goes through
        unlimited (with a warning in the log) instead of failing. Availability of the public services matters
        more than the limits, which only guard against abuse; the database is then skipped for
        ``rate_db_retry`` seconds so that every request does not pay for a timeout."""
        if not buckets or self.pool is None or time.monotonic() < self._skip_until:
            return
        now = self.clock()
        window_start = int(now // self.window) * self.window
        keys = sorted({b.key for b in buckets})  # one lock order for every replica: no deadlocks
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the statement in a task of its own
            async with asyncio.timeout(self.settings.rate_db_timeout):
                rows = await self.pool.fetch(COUNT, window_start, keys)
        except Exception as exc:  # any failure of the counter database: fail open (see above)
            self._skip_until = time.monotonic() + self.settings.rate_db_retry
            log.warning(
                "rate-limit counters unavailable, letting requests through unlimited for %.0f s: %r",
                self.settings.rate_db_retry,
                exc,
            )
            return
        counts = {r["bucket"]: r["n"] for r in rows}
        if any(counts.get(b.key, 0) > b.limit for b in buckets):
            raise too_many_requests(max(1, math.ceil(window_start + self.window - now)))

    async def cleanup(self) -> int:
        """Delete the windows before the previous one, in small batches. Returns the number of rows deleted."""
        if self.pool is None:
            return 0
        cutoff = int(self.clock() // self.window) * self.window - self.window
        deleted = 0
        while True:
            status = await self.pool.execute(CLEANUP, cutoff, CLEANUP_BATCH)
            n = int(status.split()[-1])
            deleted += n
            if n < CLEANUP_BATCH:
                return deleted

    async def ping(self) -> None:
        if self.pool is None:
            raise ConnectionError(f"rate-limit counter database not connected: {self._unavailable}")
        await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)

    # ------------------------------------------------------------------ life cycle
    async def _connect(self) -> None:
        s = self.settings
        # The counter table is migrated by `make migrate` (scripts/migrate.py), like every service's schema: the
        # gateway only checks it is there and unchanged (SchemaNotReady names what is missing: limits stay off)
        await asyncio.wait_for(check_schema(s.dsn, MIGRATIONS), 10)
        # min_size=0: no background reconnect loop of the pool while the database is away (connections are made
        # on demand; a failed request fails open)
        self.pool = await asyncio.wait_for(create_pool(s.dsn, min_size=0, max_size=s.db_pool_max), 10)

    async def _try_connect(self) -> None:
        try:
            await self._connect()
            self._unavailable = None
            log.info("rate-limit counters in database %s", self.settings.database)
        except Exception as exc:  # the gateway starts and serves without limits until the database is there
            self._unavailable = f"{type(exc).__name__}: {exc}"
            log.warning("rate-limit counter database not reachable, limits are off until it is: %s", self._unavailable)

    async def _run(self) -> None:
        while not self._stop.is_set():
            if self.pool is None:
                await self._try_connect()
                wait = self.settings.rate_db_retry if self.pool is None else self.settings.rate_cleanup_interval
            else:
                try:
                    deleted = await self.cleanup()
                    if deleted:
                        log.debug("deleted %d old rate-limit counters", deleted)
                except Exception as exc:  # retried on the next round
                    log.warning("cannot delete old rate-limit counters: %r", exc)
                wait = self.settings.rate_cleanup_interval
            try:
                await asyncio.wait_for(self._stop.wait(), wait)
            except TimeoutError:
                pass

    async def start(self) -> None:
        await self._try_connect()  # once now, so a healthy system has limits from its first request
        self._task = asyncio.create_task(self._run(), name="rate-limit-maintenance")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.pool is not None:
            await self.pool.close()
