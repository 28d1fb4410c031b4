"""Channel adapters: how a notification leaves the platform.

- ``email``: SMTP (aiosmtplib). The server's acceptance is the proof of delivery (there is no receipt later).
- ``sms`` and ``ott`` (a Zalo-style OTT message, addressed by phone number): an HTTP provider (httpx),
  ``POST {base}/messages`` with an ``Idempotency-Key`` header (the notification's key, so a resend after a crash
  is recognised by the provider), answering ``202 {"message_id"}``; the provider later posts a delivery receipt to
  notify's callback. A 429 slows the channel (Retry-After), another 4xx is a permanent refusal, a 5xx, a timeout
  or a network error a temporary failure.

Each adapter returns :class:`Accepted` or raises :class:`SendError` / :class:`RateLimited`.
"""

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email._policybase import Compat32
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Protocol

import aiosmtplib
import httpx

from .settings import Settings
from .templates import strip_diacritics


def sign(secret: str, body: bytes) -> str:
    """The signature of a provider's callback: hex HMAC-SHA256 of the raw body under the shared secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Accepted:
    provider_message_id: str | None
    detail: str
    receipt: dict[str, Any] | None  # the proof of delivery when acceptance is final (SMTP), else None


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


class RateLimited(Exception):
    def __init__(self, retry_after: float, detail: str):
        super().__init__(detail)
        self.retry_after = retry_after


class Channel(Protocol):
    async def send(self, row: Any) -> Accepted: ...


class _WirePolicy(Compat32):
    """compat32 (no header registry) with SMTP's line ending, so the bytes are ready for DATA as generated. compat32
    folds every header through ``email.header.Header`` when the message is flattened, even a short ASCII one (the
    most costly step left: 10 headers, 3,000 Header.encode calls per 300 messages in a profile); a value that is
    already ASCII, one line and short enough needs no folding, so it is written as it is. Anything else (the
    pre-encoded Subject) goes through compat32's own folding."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value:
            line = f"{name}: {value}"
            if self.max_line_length is None or len(line) <= self.max_line_length:
                return line + self.linesep
        return super()._fold(name, value, sanitize)  # type: ignore[misc]  # private in typeshed, stable since 3.3


_WIRE = _WirePolicy(linesep="\r\n")


def _is_permanent(exc: Exception) -> bool:
    """A 5xx refusal of the recipient or of the message will not change on retry; anything else might."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return False


class SmtpSessions:
    """Open SMTP sessions kept between messages, so that a message costs its mail transaction (MAIL, RCPT, DATA)
    and not also a TCP connection, the greeting, EHLO, the login and QUIT (issue 7's profile of notify: a new session
    per message, its address resolved in a worker thread each time). aiosmtplib has no pool of its own. A session
    is reused only if it was handed back after a message the server accepted, is still connected and has been idle
    less than ``max_idle`` seconds (well under the 5 minutes RFC 5321 lets a server wait); any error closes it. At
    most ``keep`` idle sessions are kept (the sender's batch sends that many messages at once)."""

    def __init__(self, settings: Settings, *, keep: int, max_idle: float = 10.0):
        self.settings, self.keep, self.max_idle = settings, keep, max_idle
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (session, loop time it was handed back)

    async def take(self) -> aiosmtplib.SMTP:
        """An idle session still fit for use, else a new one (connected, and logged in when configured)."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            session, since = self._idle.pop()
            if session.is_connected and now - since < self.max_idle:
                return session
            session.close()
        s = self.settings
        session = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout, username=s.smtp_username,
            password=s.smtp_password,
        )  # fmt: skip
        try:
            await session.connect()
        except BaseException:
            session.close()
            raise
        return session

    def give_back(self, session: aiosmtplib.SMTP) -> None:
        if session.is_connected and len(self._idle) < self.keep:
            self._idle.append((session, asyncio.get_running_loop().time()))
        else:
            session.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for session, _ in idle:
            try:
                await asyncio.wait_for(session.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                session.close()


class SmtpChannel:
    def __init__(self, settings: Settings):
        self.settings = settings
        name, self._from_addr = parseaddr(settings.mail_from)
        self._domain = self._from_addr.rpartition("@")[2] or "motcua.gov.vn"
        # Encoded once: the From header is the same on every message.
        self._from_header = formataddr((name, self._from_addr), charset="utf-8")
        self.sessions = SmtpSessions(settings, keep=settings.sender_batch_size)

    def build_message(self, row: Any) -> MIMEText:
        """The message, built once with the compat32 classes (MIMEText, email.header.Header): issue 7's profile
        found notify spending most of its CPU in the default policy's header registry and parser, which the
        EmailMessage API runs on every header set and again when the message is flattened. Header also folds a
        long Vietnamese subject without losing the space between encoded words, which the default policy's
        folder (CPython 3.11-3.13) drops."""
        for value in (row["recipient"], row["subject"], row["dossier_code"], row["event_id"]):
            if "\n" in value or "\r" in value:
                raise ValueError("a header value with a line break")
        msg = MIMEText(row["body"], "plain", "utf-8", policy=_WIRE)
        msg["From"] = self._from_header
        msg["To"] = row["recipient"]
        subject = row["subject"]
        # compat32 takes a Header as a value (email.header docs); typeshed types the value as str only.
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = f"<{row['id']}@{self._domain}>"
        msg["X-Motcua-Dossier-Code"] = row["dossier_code"]
        msg["X-Motcua-Event-Id"] = row["event_id"]
        return msg

    def wire(self, row: Any) -> bytes:
        """The message as sent: flattened once, with CRLF line ends; aiosmtplib sends the bytes as they are."""
        return self.build_message(row).as_bytes()

    async def send(self, row: Any) -> Accepted:
        try:
            raw = self.wire(row)
        except (ValueError, TypeError, UnicodeError) as exc:  # e.g. an address with a line break: never sendable
            raise SendError(f"invalid message: {exc}", permanent=True) from exc
        try:
            session = await self.sessions.take()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=_is_permanent(exc)) from exc
        try:
            errors, response = await session.sendmail(self._from_addr, [row["recipient"]], raw)
        except BaseException as exc:
            session.close()  # whatever went wrong, the next message gets a new session
            if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
                raise SendError(f"{type(exc).__name__}: {exc}", permanent=_is_permanent(exc)) from exc
            raise
        self.sessions.give_back(session)
        receipt = {"smtp_response": response, "at": datetime.now(UTC).isoformat()}
        return Accepted(None, f"SMTP {response}", receipt)


def _retry_after(response: httpx.Response, default: float, cap: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        return default  # absent, or an HTTP date (our providers send seconds)


class HttpChannel:
    """An SMS or OTT provider over HTTP."""

    def __init__(self, channel: str, base_url: str, settings: Settings, client: httpx.AsyncClient):
        self.channel, self.base_url, self.settings, self.client = channel, base_url.rstrip("/"), settings, client
        self.callback_url = f"{settings.callback_base_url.rstrip('/')}/callbacks/v1/receipts/{channel}"

    def text(self, row: Any) -> str:
        if self.channel == "sms" and self.settings.sms_ascii_only:
            return strip_diacritics(row["body"])
        return row["body"]

    async def send(self, row: Any) -> Accepted:
        body = {"to": row["recipient"], "text": self.text(row), "callback_url": self.callback_url}
        try:
            response = await self.client.post(
                f"{self.base_url}/messages",
                json=body,
                headers={"Idempotency-Key": str(row["idempotency_key"])},
                timeout=self.settings.provider_timeout,
            )
        except httpx.HTTPError as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        status = response.status_code
        if status == 429:
            wait = _retry_after(response, 1.0, self.settings.retry_backoff_max)
            raise RateLimited(wait, f"HTTP 429, Retry-After {wait:g}s")
        if status >= 400:
            detail = f"HTTP {status}: {response.text[:300]}"
            raise SendError(detail, permanent=400 <= status < 500 and status != 408)
        try:
            message_id = str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SendError(f"HTTP {status} without a message_id", permanent=False) from exc
        return Accepted(message_id, f"HTTP {status} {message_id}", None)
