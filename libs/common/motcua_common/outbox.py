"""Transactional outbox: ``enqueue`` writes the event in the caller's transaction; ``OutboxRelay``
publishes unpublished rows to Kafka and marks them published.

How the relay keeps its promises (docs/architecture.md, "Reliability"):

- **One active relay per service database.** Every replica runs a relay; the one whose dedicated session holds
  the advisory lock ``RELAY_LOCK`` (``pg_try_advisory_lock``) publishes, the others are on standby and try the
  lock every ``standby_interval`` seconds, so one takes over within a second or two when the holder's session
  ends (process killed, connection lost). The same session LISTENs for ``outbox`` notifications; when it
  dies (a PostgreSQL restart terminates it) the relay takes a new one, re-listens and competes again.
- **Per-key order.** Rows are published in ``(created_at, id)`` order per topic and key (Kafka keeps order per
  partition of one topic, and a key always lands in the same partition), each key's rows one after the other (the
  next only once the broker acknowledged the one before); keys go in parallel. A row is never claimed while an
  earlier row of its topic and key is parked, waiting for its retry time or leased.
- **Short leases, no held locks.** A pass claims rows in one short statement (``leased_by``/``leased_until``),
  publishes outside any transaction and records the outcome in another short transaction. A crashed relay's
  lease simply expires.
- **Poison rows.** A failure the row is to blame for (too large, unknown or forbidden topic, unserializable)
  is recorded on the row (``attempts``, ``failures``, ``last_error``, ``next_attempt_at`` with exponential
  backoff); after ``max_failures`` the row is parked (``parked_at``) until an operator retries it
  (``python -m motcua_common.outbox_admin``). A broker outage is nobody's row's fault: it is recorded but never
  parks anything. Other keys keep flowing; only the parked row's own key (on its topic) waits behind it.
- It never uses an id cursor: rows commit out of order, and a cursor would skip the late ones.
"""

import asyncio
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, UnknownTopicOrPartitionError
from prometheus_client import CollectorRegistry, Gauge

from .events import CLOUDEVENTS_CONTENT_TYPE, TYPE_HEADER, CloudEvent, EventData, build_event, event_payload
from .telemetry import current_trace_headers

log = logging.getLogger("motcua.outbox")

RELAY_LOCK = 727002  # advisory lock key of the active relay (per database); 727001 is the migrations' lock
# What a database outage looks like: asyncpg reports a session the server ended (a restart) as an
# InternalClientError on its next use, besides the usual connection errors.
_DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_CONTENT_TYPE = CLOUDEVENTS_CONTENT_TYPE.encode()
RelayState = Literal["starting", "standby", "active", "listening", "disconnected", "stopped"]


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row, ready to insert: :func:`outbox_row` builds it, :func:`enqueue` inserts it alone, and a caller
    that writes its state change and its events in one statement inserts several with :func:`insert_rows_sql`."""

    id: uuid.UUID
    topic: str
    key: str
    event_type: str
    payload: dict[str, Any]
    headers: dict[str, str]
    event: CloudEvent | None = None  # the model, when the row was built from one (:func:`outbox_row`)


def outbox_row(data: EventData, *, topic: str, key: str, source: str, subject: str | None = None) -> OutboxRow:
    """``data`` as a CloudEvent outbox row, with the current trace context (``traceparent``, ``tracestate``)."""
    event = build_event(data, source=source, subject=subject)
    trace_headers = current_trace_headers()
    event.traceparent = trace_headers.get("traceparent")
    event.tracestate = trace_headers.get("tracestate")
    payload = event.model_dump(mode="json", exclude_none=True)
    return OutboxRow(uuid.UUID(event.id), topic, key, event.type, payload, trace_headers, event)


def json_row(
    event_type: str,
    data: dict[str, Any],
    *,
    topic: str,
    key: str,
    source: str,
    subject: str | None = None,
    sequence: int | None = None,
) -> OutboxRow:
    """:func:`outbox_row` for a ``data`` already JSON-ready (as ``model_dump(mode="json")`` gives it, and valid for
    ``event_type``'s contract: nothing checks it here), without building models (issue 7): the same payload."""
    trace_headers = current_trace_headers()
    payload = event_payload(
        event_type, data, source=source, subject=subject, sequence=sequence, trace_headers=trace_headers
    )
    return OutboxRow(uuid.UUID(payload["id"]), topic, key, event_type, payload, trace_headers)


_INSERT_COLUMNS = "INSERT INTO outbox (id, topic, key, event_type, payload, headers)"
_INSERT_ONE = f"{_INSERT_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6)"


def insert_rows_sql(first: int, *, when: str = "true") -> str:
    """An ``INSERT`` of the rows passed as the six arrays of :func:`row_arrays`, parameters ``$first`` to
    ``$first + 5``, in their order, if ``when`` holds: to put in a data-modifying ``WITH`` of the caller's own
    statement (the events in the same transaction as the change, without a round trip per row; ``when`` can make
    them depend on the change, e.g. ``EXISTS (SELECT 1 FROM inserted)``). The outbox trigger notifies the relay."""
    p = [f"${first + i}" for i in range(6)]
    return (
        f"{_INSERT_COLUMNS} SELECT r.id, r.topic, r.key, r.event_type, r.payload, r.headers"
        f" FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[], {p[4]}::jsonb[],"
        f" {p[5]}::jsonb[]) WITH ORDINALITY AS r(id, topic, key, event_type, payload, headers, n)"
        f" WHERE {when} ORDER BY r.n"
    )


_INSERT_MANY = insert_rows_sql(1)


def row_arrays(rows: Sequence[OutboxRow]) -> list[list[Any]]:
    """The parameters of :func:`insert_rows_sql`: one array per column."""
    return [
        [r.id for r in rows],
        [r.topic for r in rows],
        [r.key for r in rows],
        [r.event_type for r in rows],
        [r.payload for r in rows],
        [r.headers for r in rows],
    ]


async def enqueue(
    conn: asyncpg.Connection,
    data: EventData,
    *,
    topic: str,
    key: str,
    source: str,
    subject: str | None = None,
) -> CloudEvent:
    """Store ``data`` as a CloudEvent in the outbox, inside the caller's transaction."""
    row = outbox_row(data, topic=topic, key=key, source=source, subject=subject)
    await insert_row(conn, row)
    assert row.event is not None
    return row.event


async def insert_row(conn: asyncpg.Connection, row: OutboxRow) -> None:
    """Insert one :func:`outbox_row`, inside the caller's transaction."""
    await conn.execute(_INSERT_ONE, row.id, row.topic, row.key, row.event_type, row.payload, row.headers)


async def insert_rows(conn: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
    """Insert ``rows`` in one statement, in their order, inside the caller's transaction."""
    if len(rows) == 1:
        await insert_row(conn, rows[0])
    elif rows:
        await conn.execute(_INSERT_MANY, *row_arrays(rows))


# --- SQL (the relay's and the operator's) -------------------------------------------------------------------

# A (topic, key) is held while one of its unpublished rows is parked, waiting for its retry time or leased. The
# predicate repeats the partial index outbox_held's (migration 0002) so the probe uses it.
_HELD = (
    "h.key = c.key AND h.topic = c.topic AND h.published_at IS NULL"
    " AND (h.parked_at IS NOT NULL OR h.next_attempt_at IS NOT NULL OR h.leased_until IS NOT NULL)"
    " AND (h.parked_at IS NOT NULL OR h.next_attempt_at > now() OR h.leased_until > now())"
)
# The oldest unpublished rows of (topic, key)s that are not held. They are a prefix of each such key's unpublished
# rows (every earlier row of the key is unpublished, not held, and older: so it is picked first), which is what
# keeps per-key order.
_CLAIM = f"""
UPDATE outbox o SET leased_by = $2, leased_until = now() + $3 * interval '1 second'
FROM (
    SELECT c.id FROM outbox c
    WHERE c.published_at IS NULL AND c.parked_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox h WHERE {_HELD})
    ORDER BY c.created_at, c.id
    LIMIT $1
    FOR UPDATE
) pick
WHERE o.id = pick.id
RETURNING o.id, o.topic, o.key, o.event_type, o.payload, o.headers, o.created_at
"""
_PUBLISHED = (
    "UPDATE outbox SET published_at = now(), attempts = attempts + 1, leased_by = NULL, leased_until = NULL,"
    " next_attempt_at = NULL WHERE id = ANY($1::uuid[]) AND published_at IS NULL"
)
# A failure the row is to blame for: backoff base * 2^(failures so far), capped; parked at max_failures.
_FAILED = """
UPDATE outbox SET attempts = attempts + 1, failures = failures + 1, last_error = $2,
    leased_by = NULL, leased_until = NULL,
    next_attempt_at = now() + least($3 * power(2, failures), $4) * interval '1 second',
    parked_at = CASE WHEN failures + 1 >= $5 THEN now() END
WHERE id = $1 AND published_at IS NULL
RETURNING failures, parked_at IS NOT NULL AS parked
"""
# A broker outage: recorded, not counted towards parking, retried on the next pass.
_NOT_SENT = (
    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, leased_by = NULL, leased_until = NULL"
    " WHERE id = $1 AND published_at IS NULL"
)
_RELEASE = (
    "UPDATE outbox SET leased_by = NULL, leased_until = NULL"
    " WHERE id = ANY($1::uuid[]) AND leased_by = $2 AND published_at IS NULL"
)
_LAG = """
SELECT count(*) FILTER (WHERE parked_at IS NULL) AS unpublished,
       count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)::float8 AS oldest
FROM outbox WHERE published_at IS NULL
"""


async def list_stuck(conn: asyncpg.Connection, *, limit: int = 100) -> list[asyncpg.Record]:
    """Unpublished rows that failed at least once (parked ones first), with how many later rows of their topic and
    key wait behind them."""
    return await conn.fetch(
        "SELECT o.id, o.topic, o.key, o.event_type, o.created_at, o.attempts, o.failures, o.last_error,"
        " o.next_attempt_at, o.parked_at,"
        " (SELECT count(*) FROM outbox l WHERE l.key = o.key AND l.topic = o.topic AND l.published_at IS NULL"
        "   AND (l.created_at, l.id) > (o.created_at, o.id)) AS blocked_behind"
        " FROM outbox o WHERE o.published_at IS NULL AND (o.parked_at IS NOT NULL OR o.last_error IS NOT NULL)"
        " ORDER BY o.parked_at IS NULL, o.created_at, o.id LIMIT $1",
        limit,
    )


async def retry(conn: asyncpg.Connection, row_id: uuid.UUID) -> bool:
    """Make a parked or waiting row eligible again now (its failure count restarts) and wake the relay."""
    done = await conn.fetchval(
        "UPDATE outbox SET parked_at = NULL, failures = 0, next_attempt_at = NULL"
        " WHERE id = $1 AND published_at IS NULL RETURNING true",
        row_id,
    )
    if done:
        await conn.execute("SELECT pg_notify('outbox', 'retry')")
    return bool(done)


async def retry_all(conn: asyncpg.Connection) -> int:
    """Retry every parked row; returns how many."""
    n = await conn.fetchval(
        "WITH r AS (UPDATE outbox SET parked_at = NULL, failures = 0, next_attempt_at = NULL"
        " WHERE published_at IS NULL AND parked_at IS NOT NULL RETURNING 1) SELECT count(*) FROM r"
    )
    if n:
        await conn.execute("SELECT pg_notify('outbox', 'retry')")
    return n


# --- the relay ---------------------------------------------------------------------------------------------


class OutboxMetrics:
    """Outbox lag gauges, in the app's own registry (served on ``/metrics``). One set per registry: an app whose
    lifespan runs again (a restarted relay) reuses its gauges instead of registering them twice."""

    _by_registry: "weakref.WeakKeyDictionary[CollectorRegistry, OutboxMetrics]" = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, registry: CollectorRegistry) -> "OutboxMetrics":
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]

    def __init__(self, registry: CollectorRegistry | None):
        self.unpublished = Gauge(
            "outbox_unpublished_rows", "Outbox rows not yet published (parked rows excluded)", registry=registry
        )
        self.parked = Gauge("outbox_parked_rows", "Outbox rows parked after repeated failures", registry=registry)
        self.oldest = Gauge(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished, not parked, outbox row (0 when none)",
            registry=registry,
        )


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        max_passes: int = 4,
        poll_interval: float = 1.0,
        standby_interval: float = 1.0,
        reconnect_delay: float = 0.5,
        lease_seconds: float = 30.0,
        send_timeout: float = 5.0,
        max_failures: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        metrics_interval: float = 1.0,
        registry: CollectorRegistry | None = None,
    ):
        self.pool, self.producer = pool, producer
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.max_passes = max_passes  # batches published at once (claimed one after the other)
        self.standby_interval, self.reconnect_delay = standby_interval, reconnect_delay
        self.lease_seconds, self.send_timeout = lease_seconds, send_timeout
        self.max_failures, self.backoff_base, self.backoff_max = max_failures, backoff_base, backoff_max
        self.metrics_interval = metrics_interval
        self.metrics = OutboxMetrics.of(registry) if registry is not None else None
        self.name = f"relay-{uuid.uuid4().hex[:12]}"
        self.state: RelayState = "starting"
        self.session_pid: int | None = None  # backend pid of the session holding the lock and the LISTEN
        self._wake = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._next_due: float | None = None  # loop time of the earliest retry this relay scheduled
        self._metrics_at = 0.0

    # -- state, readiness -----------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.state in ("active", "listening")

    def _set_state(self, state: RelayState) -> None:
        if state != self.state:
            log.info("outbox relay %s: %s -> %s", self.name, self.state, state)
            self.state = state
            self._state_changed.set()

    def check_listening(self) -> None:
        """Raise unless this relay has a live session: listening (active) or ready to take over (standby)."""
        if self.state not in ("listening", "standby"):
            raise ConnectionError(f"outbox relay not listening for notifications ({self.state})")

    async def wait_state(self, *states: RelayState) -> None:
        """Wait until the relay is in one of ``states`` (tests, readiness probes)."""
        while self.state not in states:
            self._state_changed.clear()
            await self._state_changed.wait()

    # -- loops ----------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                except _DB_ERRORS as exc:
                    log.warning("outbox relay %s lost its database session: %s; reconnecting", self.name, exc)
                if stop.is_set():
                    break
                self._set_state("disconnected")
                await _wait_any(stop, seconds=self.reconnect_delay)
        finally:
            self._set_state("stopped")

    async def _session(self, stop: asyncio.Event) -> None:
        """One database session: compete for the lock, then publish while it is held and alive."""
        lost = asyncio.Event()
        conn = await self.pool.acquire(timeout=10)

        def on_close(_conn: object) -> None:
            lost.set()

        def on_notify(*_: Any) -> None:
            self._wake.set()

        conn.add_termination_listener(on_close)
        try:
            self.session_pid = conn.get_server_pid()
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK, timeout=5):
                self._set_state("standby")
                await self._refresh_metrics()
                await _wait_any(stop, lost, seconds=self.standby_interval)
                if stop.is_set():
                    return
                if lost.is_set():
                    raise ConnectionError("session connection closed")
            self._set_state("active")
            await conn.add_listener("outbox", on_notify)
            self._set_state("listening")
            await self._publish_while(stop, lost, conn)
        finally:
            self.session_pid = None
            try:
                conn.remove_termination_listener(on_close)
                if not conn.is_closed():
                    await conn.remove_listener("outbox", on_notify)
                    await conn.execute("SELECT pg_advisory_unlock_all()", timeout=5)
            except _DB_ERRORS:  # InterfaceError among them
                pass  # a connection the server closed is already detached by the pool: nothing to undo
            try:
                await self.pool.release(conn, timeout=5)
            except _DB_ERRORS:
                conn.terminate()

    async def _publish_while(self, stop: asyncio.Event, lost: asyncio.Event, conn: asyncpg.Connection) -> None:
        """Claim batches one after the other and publish each in a task of its own, up to ``max_passes`` at once.

        Passes overlap so that a new row does not wait for the previous batch's acknowledgements and settling (at
        200 events per second that wait was most of the commit-to-consumer latency). Order per key still holds:
        claims run only here, one at a time, and a claimed row is leased, which holds its key, so no later claim
        takes a row of a key that is still in flight. A finished pass wakes this loop, since its keys' next rows
        may now be claimed."""
        passes: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                if lost.is_set():
                    raise ConnectionError("session connection closed")
                # Cleared before the claim: a NOTIFY that arrives meanwhile wakes the next wait at once.
                self._wake.clear()
                claimed = 0
                if len(passes) < self.max_passes:
                    try:
                        rows = await self._claim()
                    except _DB_ERRORS as exc:
                        log.warning("outbox relay claim failed: %s", exc)
                        rows = []
                    if rows:
                        claimed = len(rows)
                        task = asyncio.create_task(self._publish_pass(rows))
                        passes.add(task)
                        task.add_done_callback(functools.partial(self._pass_done, passes))
                await self._refresh_metrics()
                if claimed >= self.batch_size and len(passes) < self.max_passes:
                    continue
                woke = await _wait_any(stop, lost, self._wake, seconds=self._idle_timeout())
                if not woke and not stop.is_set():
                    # A quiet poll: make sure the session (lock, LISTEN) is still alive; a dead one raises.
                    await conn.fetchval("SELECT 1", timeout=5)
        except asyncio.CancelledError:
            for task in passes:  # each records its unacknowledged rows as not sent (shielded) and ends
                task.cancel()
            raise
        finally:
            # Passes settle their rows themselves (shielded); wait for them so the lock is released after.
            if passes:
                await asyncio.gather(*passes, return_exceptions=True)

    def _pass_done(self, passes: set["asyncio.Task[int]"], task: "asyncio.Task[int]") -> None:
        passes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("outbox relay pass failed: %s", task.exception())
        self._wake.set()

    def _idle_timeout(self) -> float:
        timeout = self.poll_interval
        if self._next_due is not None:
            timeout = max(0.0, min(timeout, self._next_due - asyncio.get_running_loop().time()))
            self._next_due = None
        return timeout

    async def _refresh_metrics(self) -> None:
        if self.metrics is None or time.monotonic() - self._metrics_at < self.metrics_interval:
            return
        try:
            row = await self.pool.fetchrow(_LAG, timeout=5)
        except _DB_ERRORS as exc:
            log.debug("outbox lag query failed: %s", exc)
            return
        self._metrics_at = time.monotonic()
        self.metrics.unpublished.set(row["unpublished"])
        self.metrics.parked.set(row["parked"])
        self.metrics.oldest.set(row["oldest"])

    # -- one pass -------------------------------------------------------------------------------------------

    async def publish_batch(self) -> int:
        """Claim, publish and settle one batch; returns how many rows were published (a full batch: go on)."""
        rows = await self._claim()
        return await self._publish_pass(rows) if rows else 0

    async def _claim(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(_CLAIM, self.batch_size, self.name, self.lease_seconds)

    async def _publish_pass(self, rows: list[asyncpg.Record]) -> int:
        """Publish claimed rows (each key's rows in order, keys in parallel) and settle them."""
        chains: dict[tuple[str, str], list[asyncpg.Record]] = {}
        for row in sorted(rows, key=lambda r: (r["created_at"], r["id"])):
            chains.setdefault((row["topic"], row["key"]), []).append(row)
        published: list[uuid.UUID] = []
        failed: list[tuple[asyncpg.Record, BaseException]] = []

        async def chain(key_rows: list[asyncpg.Record]) -> None:
            for row in key_rows:  # one after the other: a later row only once the earlier one is acknowledged
                try:
                    await self._send(row)
                except Exception as exc:  # any failure is recorded on the row; the key stops here
                    failed.append((row, exc))
                    return
                except asyncio.CancelledError:
                    failed.append((row, TimeoutError("not acknowledged before the relay stopped or the deadline")))
                    raise
                published.append(row["id"])

        # Publishing must end well inside the lease, or another relay could claim the rows after it expires.
        deadline = self.lease_seconds - max(2.0, self.lease_seconds * 0.2)
        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*(chain(c) for c in chains.values()))
        except TimeoutError:
            log.warning("outbox relay pass overran %.0fs; the rest is retried", deadline)
        finally:
            await asyncio.shield(self._settle(rows, published, failed))
        return len(published)

    async def _send(self, row: asyncpg.Record) -> None:
        headers = [("content-type", _CONTENT_TYPE), (TYPE_HEADER, row["event_type"].encode())]
        headers += [(k, str(v).encode()) for k, v in (row["headers"] or {}).items()]
        # send() waits for the topic's metadata (an unknown topic: up to the request timeout): bounded here.
        ack = await asyncio.wait_for(
            self.producer.send(row["topic"], orjson.dumps(row["payload"]), key=row["key"].encode(), headers=headers),
            self.send_timeout,
        )
        await ack

    async def _settle(
        self,
        rows: list[asyncpg.Record],
        published: list[uuid.UUID],
        failed: list[tuple[asyncpg.Record, BaseException]],
    ) -> None:
        done = set(published) | {row["id"] for row, _ in failed}
        untouched = [r["id"] for r in rows if r["id"] not in done]
        if not failed and not untouched:  # the usual pass: one statement, no BEGIN and COMMIT around it
            if published:
                async with self.pool.acquire(timeout=10) as conn:
                    await conn.execute(_PUBLISHED, published)
            return
        blame = await self._blame(failed)
        async with self.pool.acquire(timeout=10) as conn, conn.transaction():
            if published:
                await conn.execute(_PUBLISHED, published)
            for (row, exc), blamed in zip(failed, blame, strict=True):
                error = f"{type(exc).__name__}: {exc}"[:1000]
                if blamed:
                    failures, parked = await conn.fetchrow(
                        _FAILED, row["id"], error, self.backoff_base, self.backoff_max, self.max_failures
                    )
                    due = asyncio.get_running_loop().time() + min(
                        self.backoff_base * 2 ** (failures - 1), self.backoff_max
                    )
                    self._next_due = due if self._next_due is None else min(self._next_due, due)
                    log.warning(
                        "outbox row %s (%s, key %s) %s: %s",
                        row["id"],
                        row["topic"],
                        row["key"],
                        "PARKED" if parked else f"failed {failures}x",
                        error,
                    )
                else:
                    await conn.execute(_NOT_SENT, row["id"], error)
                    log.warning("outbox row %s not published (broker unavailable?): %s", row["id"], error)
            if untouched:
                await conn.execute(_RELEASE, untouched, self.name)

    async def _blame(self, failed: Iterable[tuple[asyncpg.Record, BaseException]]) -> list[bool]:
        """For each failure: is the row to blame (counts towards parking) or the broker (an outage)?"""
        failed = list(failed)
        topics: set[str] | None = None
        if any(_maybe_outage(exc) for _, exc in failed):
            try:  # is the broker there, and which topics does it have?
                metadata = await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
                topics = set(metadata.topics())
            except Exception:  # unreachable, whatever the error: an outage blames no row
                topics = None
        return [(not _maybe_outage(exc)) or (topics is not None and row["topic"] not in topics) for row, exc in failed]


def _maybe_outage(exc: BaseException) -> bool:
    """Errors a broker outage also causes (timeouts, lost connections, unknown topic while metadata is missing).
    Anything else (message too large, forbidden topic, serialization) is the row's own fault."""
    if isinstance(exc, (TimeoutError, KafkaTimeoutError, UnknownTopicOrPartitionError)):
        return True
    return isinstance(exc, KafkaError) and exc.retriable


async def _wait_any(*events: asyncio.Event, seconds: float) -> bool:
    """Wait until one of ``events`` is set or ``seconds`` pass; True if an event was set."""
    if any(e.is_set() for e in events):
        return True
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return bool(done)
