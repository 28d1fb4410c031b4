"""The deliverer: notify's own outbox of notifications, sent on their channels (providers.py).

Consumers only record ``queued`` rows. This loop claims due rows with ``FOR UPDATE SKIP LOCKED`` in a short
transaction that marks them ``sending`` and leases them (``next_attempt_at = now() + lease``), sends them with no
transaction open, then records each outcome as soon as its provider answered, with the attempt:

- accepted: e-mail is ``delivered`` (the SMTP server's answer is the receipt); SMS and OTT stay ``sending`` until
  the provider's delivery receipt arrives on the callback (``delivered``, or ``failed_permanent``);
- a temporary failure: ``failed_temporary``, retried with exponential backoff, ``failed_permanent`` after
  ``max_attempts``;
- a permanent refusal: ``failed_permanent`` at once;
- a 429: back to ``queued`` (the try does not count) and the whole channel waits for Retry-After;
- ``failed_permanent`` falls back to the next channel of the recipient's chain, or becomes a dead letter.

Exactly once per (event, recipient, channel): the row's unique key, and the provider call carries the row's
idempotency key, so a row re-sent after its sender died mid-send (the lease ran out) is recognised by the provider.
SMTP has no such key: once the server has accepted a message the sender keeps trying to record that (through a
database outage) until the lease is nearly over; only a sender killed between the SMTP answer and the commit sends
it again (with the same Message-ID, by which the receiving side can drop the copy).
Woken by ``LISTEN notify_delivery`` and also polling, so a missed notification only delays.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from opentelemetry import trace

from motcua_common.problems import DependencyUnavailable

from . import domain, repository, service
from .providers import Accepted, Channel, HttpChannel, RateLimited, SendError, SmtpChannel
from .settings import Settings

log = logging.getLogger("motcua.notify.sender")
_tracer = trace.get_tracer("motcua.notify.sender")

__all__ = ["Deliverer", "SendError"]

# What a database outage looks like from here (asyncpg reports a pooled connection the server terminated as an
# InternalClientError on its next use).
_DATABASE_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    DependencyUnavailable,
)

Outcome = Accepted | RateLimited | SendError


class Deliverer:
    def __init__(
        self, settings: Settings, pool: Callable[[], asyncpg.Pool], client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings, self._pool = settings, pool
        self._wake = asyncio.Event()
        self.smtp = SmtpChannel(settings)
        self._client = client
        self._channels: dict[str, Channel] = {"email": self.smtp}

    def build_message(self, row: Any) -> Any:
        return self.smtp.build_message(row)

    def channel(self, name: str) -> Channel:
        if name not in self._channels:
            if self._client is None:
                self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=self.settings.sender_batch_size))
            base = {"sms": self.settings.sms_provider_url, "ott": self.settings.ott_provider_url}[name]
            self._channels[name] = HttpChannel(name, base, self.settings, self._client)
        return self._channels[name]

    async def aclose(self) -> None:
        await self.smtp.sessions.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def send(self, row: Any) -> Outcome:
        with _tracer.start_as_current_span(
            f"notify send {row['channel']}",
            kind=trace.SpanKind.CLIENT,
            attributes={"motcua.dossier.code": row["dossier_code"], "messaging.message.id": row["event_id"]},
        ):
            try:
                async with asyncio.timeout(max(self.settings.smtp_timeout, self.settings.provider_timeout)):
                    return await self.channel(row["channel"]).send(row)
            except (SendError, RateLimited) as exc:
                return exc
            except Exception as exc:  # an adapter bug or an unforeseen error: retried, then given up
                return SendError(f"{type(exc).__name__}: {exc}", permanent=False)

    async def send_due(self) -> int:
        """One pass: claim, send and record a batch of due notifications; returns how many were claimed."""
        s, pool = self.settings, self._pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await repository.claim_due(conn, batch_size=s.sender_batch_size, lease_seconds=s.sender_lease)
        if not rows:
            return 0
        deadline = asyncio.get_running_loop().time() + s.sender_lease * 0.8
        # Each outcome is recorded as soon as its provider answered, not after the whole batch: the window in which
        # a killed sender has had a message accepted but not recorded is one database commit.
        results = await asyncio.gather(*(self._send_and_record(r, deadline) for r in rows), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(rows)

    async def _send_and_record(self, row: asyncpg.Record, deadline: float) -> None:
        started = datetime.now(UTC)
        outcome = await self.send(row)
        await self._record(row, outcome, started, deadline=deadline)

    async def _record(self, row: Any, outcome: Outcome, started: datetime, *, deadline: float) -> None:
        """Record one outcome, retrying through a database outage until ``deadline`` (before the lease ends and
        another pass could claim the row again): forgetting that the server accepted a message would send it
        twice."""
        loop = asyncio.get_running_loop()
        delay = 0.2
        while True:
            try:
                async with self._pool().acquire() as conn:
                    if isinstance(outcome, Accepted):  # the usual case: one statement, atomic by itself
                        await repository.record_accepted(
                            conn,
                            row,
                            started_at=started,
                            detail=outcome.detail,
                            provider_message_id=outcome.provider_message_id,
                            receipt=outcome.receipt,
                        )
                    else:
                        async with conn.transaction():
                            await self._record_once(conn, row, outcome, started)
                return
            except _DATABASE_DOWN as exc:
                if loop.time() + delay >= deadline:
                    log.error("could not record the outcome of %s before the lease ends: %s", row["id"], exc)
                    raise
                log.warning("recording a delivery outcome failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _record_once(
        self, conn: asyncpg.Connection, row: Any, outcome: RateLimited | SendError, started: datetime
    ) -> None:
        s = self.settings
        if isinstance(outcome, RateLimited):
            await repository.record_attempt(conn, row, started_at=started, outcome="rate_limited", detail=str(outcome))
            await repository.mark_rate_limited(conn, row["id"], row["channel"], outcome.retry_after)
            log.warning("%s provider rate limit: channel paused %.1fs", row["channel"], outcome.retry_after)
            return
        give_up = outcome.permanent or row["attempts"] >= s.max_attempts
        result = domain.FAILED_PERMANENT if give_up else domain.FAILED_TEMPORARY
        await repository.record_attempt(conn, row, started_at=started, outcome=result, detail=str(outcome))
        await repository.mark_failed_attempt(
            conn,
            row["id"],
            error=str(outcome),
            give_up=give_up,
            retry_in=domain.retry_delay(row["attempts"], s.retry_backoff_max),
        )
        log.log(
            logging.ERROR if give_up else logging.WARNING,
            "%s %s for %s, attempt %d%s: %s",
            row["channel"],
            row["id"],
            row["dossier_code"],
            row["attempts"],
            " (giving up)" if give_up else "",
            outcome,
        )
        if give_up:
            await service.after_permanent_failure(conn, row, str(outcome))

    async def run(self, stop: asyncio.Event) -> None:
        pool = self._pool()
        listener = await pool.acquire()
        wake = lambda *_: self._wake.set()  # noqa: E731
        try:
            await listener.add_listener("notify_delivery", wake)
            while not stop.is_set():
                self._wake.clear()  # before the pass, so a wake-up during it is not lost
                try:
                    claimed = await self.send_due()
                except _DATABASE_DOWN as exc:
                    log.warning("deliverer pass failed: %s", exc)
                    claimed = 0
                if claimed >= self.settings.sender_batch_size:
                    continue
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.settings.sender_poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            try:
                await listener.remove_listener("notify_delivery", wake)
            finally:
                await pool.release(listener)
