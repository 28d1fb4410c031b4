"""The email sender: the notify service's own outbox, delivered over SMTP.

Consumers only record ``pending`` email rows. This loop claims due rows with ``FOR UPDATE SKIP LOCKED``
in a short transaction that also leases them (``next_attempt_at = now() + lease``), sends them with no
transaction open, then records each outcome: ``sent``, or a failed try with exponential backoff, or
``failed`` after ``max_attempts`` (or at once when the server refuses the recipient or the message for
good, a 5xx). Replicas never send the same row concurrently. Once the SMTP server has accepted a message, the
sender keeps trying to record that (through a database outage) until the lease is nearly over, so a message is
not sent twice because PostgreSQL was down at the wrong moment; only a sender killed between the SMTP answer and
the record leaves its rows to be sent again when the lease ends (at least once: a resent message keeps its
Message-ID, by which the receiving side can drop the copy).
Woken by ``LISTEN notify_email`` and also polling, so a missed notification only delays.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
import asyncpg
from opentelemetry import trace

from motcua_common.problems import DependencyUnavailable

from . import domain, repository
from .settings import Settings

log = logging.getLogger("motcua.notify.sender")
_tracer = trace.get_tracer("motcua.notify.sender")


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


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def _is_permanent(exc: Exception) -> bool:
    """A 5xx refusal of the recipient or of the message will not change on retry; anything else might."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return False


class EmailSender:
    def __init__(self, settings: Settings, pool: Callable[[], asyncpg.Pool]):
        self.settings, self._pool = settings, pool
        self._wake = asyncio.Event()
        self._domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "motcua.gov.vn"

    def build_message(self, row: asyncpg.Record | dict) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = row["recipient"]
        # Pre-folded with email.header: the EmailMessage folder (CPython 3.11-3.13) drops the space
        # between two encoded words when it folds a long non-ASCII subject ("không được" -> "khôngđược").
        subject = row["subject"]
        charset = "us-ascii" if subject.isascii() else "utf-8"
        msg.set_raw("Subject", Header(subject, charset, header_name="Subject").encode())
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = f"<{row['id']}@{self._domain}>"
        msg["X-Motcua-Dossier-Code"] = row["dossier_code"]
        msg["X-Motcua-Event-Id"] = row["event_id"]
        msg.set_content(row["body"], charset="utf-8")
        return msg

    async def send(self, row: asyncpg.Record | dict) -> None:
        """Send one email; raises :class:`SendError` saying whether a retry could help."""
        s = self.settings
        try:
            msg = self.build_message(row)
        except (ValueError, TypeError) as exc:  # e.g. an address with a line break: never sendable
            raise SendError(f"invalid message: {exc}", permanent=True) from exc
        with _tracer.start_as_current_span(
            "notify send email",
            kind=trace.SpanKind.CLIENT,
            attributes={"motcua.dossier.code": row["dossier_code"], "messaging.message.id": row["event_id"]},
        ):
            try:
                async with asyncio.timeout(s.smtp_timeout):
                    await aiosmtplib.send(
                        msg,
                        hostname=s.smtp_host,
                        port=s.smtp_port,
                        timeout=s.smtp_timeout,
                        username=s.smtp_username,
                        password=s.smtp_password,
                    )
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise SendError(f"{type(exc).__name__}: {exc}", permanent=_is_permanent(exc)) from exc

    async def send_due(self) -> int:
        """One pass: claim, send and record a batch of due emails; returns how many were claimed."""
        s, pool = self.settings, self._pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await repository.claim_due_emails(conn, batch_size=s.sender_batch_size, lease_seconds=s.sender_lease)
        if not rows:
            return 0
        deadline = asyncio.get_running_loop().time() + s.sender_lease * 0.8
        # Each message's outcome is recorded as soon as the server answered it, not after the whole batch: the
        # window in which a killed sender has had a message accepted but not recorded (and so sends it again after
        # the lease) is one database commit, not the slowest send of the batch.
        results = await asyncio.gather(*(self._send_and_record(r, deadline) for r in rows), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(rows)

    async def _send_and_record(self, row: asyncpg.Record, deadline: float) -> None:
        try:
            await self.send(row)
            outcome: BaseException | None = None
        except Exception as exc:
            outcome = exc
        await self._record([row], [outcome], deadline=deadline)

    async def _record(self, rows: list, outcomes: list, *, deadline: float) -> None:
        """Record the outcomes of a batch, retrying through a database outage until ``deadline`` (before the
        lease ends and another pass could claim the rows again): forgetting that the server accepted a message
        would send it twice."""
        loop = asyncio.get_running_loop()
        delay = 0.2
        while True:
            try:
                await self._record_once(rows, outcomes)
                return
            except _DATABASE_DOWN as exc:
                if loop.time() + delay >= deadline:
                    log.error("could not record %d email outcome(s) before the lease ends: %s", len(rows), exc)
                    raise
                log.warning("recording email outcomes failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _record_once(self, rows: list, outcomes: list) -> None:
        s, pool = self.settings, self._pool()
        async with pool.acquire() as conn, conn.transaction():
            for row, outcome in zip(rows, outcomes, strict=True):
                if outcome is None:
                    await repository.mark_sent(conn, row["id"])
                    continue
                if not isinstance(outcome, SendError):
                    outcome = SendError(f"{type(outcome).__name__}: {outcome}", permanent=False)
                give_up = outcome.permanent or row["attempts"] >= s.max_attempts
                await repository.mark_failed_attempt(
                    conn,
                    row["id"],
                    error=str(outcome),
                    give_up=give_up,
                    retry_in=domain.retry_delay(row["attempts"], s.retry_backoff_max),
                )
                log.log(
                    logging.ERROR if give_up else logging.WARNING,
                    "email %s for %s, attempt %d%s: %s",
                    row["id"],
                    row["dossier_code"],
                    row["attempts"],
                    " (giving up)" if give_up else "",
                    outcome,
                )

    async def run(self, stop: asyncio.Event) -> None:
        pool = self._pool()
        listener = await pool.acquire()
        wake = lambda *_: self._wake.set()  # noqa: E731
        try:
            await listener.add_listener("notify_email", wake)
            while not stop.is_set():
                self._wake.clear()  # before the pass, so a wake-up during it is not lost
                try:
                    claimed = await self.send_due()
                except _DATABASE_DOWN as exc:
                    log.warning("email sender pass failed: %s", exc)
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
                await listener.remove_listener("notify_email", wake)
            finally:
                await pool.release(listener)
