"""All SQL of the notify service."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .domain import Preferences, Recipient

_NOTIFICATION_COLUMNS = (
    "id, dossier_code, event_type, channel, subject, body, status, created_at, sent_at, read_at,"
    " template_version, fallback_of, receipt, delivered_at,"
    " CASE WHEN status <> 'delivered' THEN last_error END AS error"
)


async def record_recipient(conn: asyncpg.Connection, r: Recipient) -> tuple[list[asyncpg.Record], Preferences | None]:
    """Store (or update) the dossier's recipient and take the events that waited for it, in one statement: the
    pending events removed, in the order they happened, and the recipient's preferences (None if they set none, or
    if no event was pending: then they are not needed)."""
    rows = await conn.fetch(
        "WITH u AS (INSERT INTO recipients (dossier_id, dossier_code, recipient_subject, full_name, email, phone,"
        "   channels, procedure_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        "   ON CONFLICT (dossier_id) DO UPDATE SET dossier_code = EXCLUDED.dossier_code,"
        "   recipient_subject = EXCLUDED.recipient_subject, full_name = EXCLUDED.full_name, email = EXCLUDED.email,"
        "   phone = EXCLUDED.phone, channels = EXCLUDED.channels, procedure_name = EXCLUDED.procedure_name,"
        "   updated_at = now()),"
        " t AS (DELETE FROM pending_events WHERE dossier_id = $1"
        "   RETURNING event_id, event_type, data, occurred_at, received_at)"
        " SELECT t.*, p.channels, p.quiet_start, p.quiet_end FROM t"
        " LEFT JOIN notification_preferences p ON p.recipient_subject = $3",
        uuid.UUID(r.dossier_id),
        r.dossier_code,
        r.recipient_subject,
        r.full_name,
        r.email,
        r.phone,
        list(r.channels),
        r.procedure_name,
    )
    pending = sorted(rows, key=lambda e: (e["occurred_at"], e["received_at"]))
    return pending, _preferences(pending[0]) if pending else None


_RECIPIENT = (
    "SELECT r.dossier_id, r.dossier_code, r.recipient_subject, r.full_name, r.email, r.phone, r.channels,"
    " r.procedure_name, p.recipient_subject IS NOT NULL AS has_preferences, p.channels AS preferred_channels,"
    " p.quiet_start, p.quiet_end"
    " FROM recipients r LEFT JOIN notification_preferences p ON p.recipient_subject = r.recipient_subject"
    " WHERE r.dossier_id = $1 AND r.recipient_subject IS NOT NULL"
)


def _recipient(row: asyncpg.Record) -> Recipient:
    return Recipient(
        dossier_id=str(row["dossier_id"]),
        dossier_code=row["dossier_code"],
        recipient_subject=row["recipient_subject"],
        full_name=row["full_name"],
        email=row["email"],
        phone=row["phone"],
        channels=list(row["channels"]),
        procedure_name=row["procedure_name"],
    )


def _preferences(row: asyncpg.Record | None, channels: str = "channels") -> Preferences | None:
    """The preferences in ``row`` (their channels in column ``channels``), or None when the citizen has none."""
    if row is None or row[channels] is None:
        return None
    return Preferences(tuple(row[channels]), row["quiet_start"], row["quiet_end"])


async def get_recipient(conn: asyncpg.Connection, dossier_id: str) -> Recipient | None:
    row = await conn.fetchrow(_RECIPIENT, uuid.UUID(dossier_id))
    return None if row is None else _recipient(row)


async def get_recipient_and_preferences(
    conn: asyncpg.Connection, dossier_id: str
) -> tuple[Recipient, Preferences | None] | None:
    """The dossier's recipient and their preferences (None if they set none), in one round trip; None if the
    dossier's contact is not known yet."""
    row = await conn.fetchrow(_RECIPIENT, uuid.UUID(dossier_id))
    if row is None:
        return None
    return _recipient(row), _preferences(row, "preferred_channels") if row["has_preferences"] else None


async def lock_dossier(conn: asyncpg.Connection, dossier_id: str) -> None:
    """Serialise, until the transaction ends, everything notify does for one dossier: its contact and its
    events arrive on different topics, possibly handled at once by different consumers or replicas."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 104))", str(dossier_id))


async def insert_pending(
    conn: asyncpg.Connection,
    *,
    event_id: str,
    dossier_id: str,
    dossier_code: str,
    event_type: str,
    data: dict,
    occurred_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO pending_events (event_id, dossier_id, dossier_code, event_type, data, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        uuid.UUID(dossier_id),
        dossier_code,
        event_type,
        data,
        occurred_at,
    )


@dataclass(frozen=True)
class NewNotification:
    """A notification to insert (:func:`insert_notifications`). Its id is its idempotency key
    (``domain.idempotency_key``) unless given."""

    dossier_id: str
    dossier_code: str
    event_id: str
    event_type: str
    channel: str
    recipient: str | None
    recipient_subject: str
    subject: str
    body: str
    status: str
    notification_id: uuid.UUID | None = None
    template_version: int = 1
    event_data: dict | None = None
    fallback_of: uuid.UUID | None = None
    not_before: datetime | None = None


async def insert_notifications(conn: asyncpg.Connection, rows: Sequence[NewNotification]) -> list[uuid.UUID]:
    """Insert the notifications in one statement; returns the ids of those inserted, in the given order (an event
    that already has one on a channel gets no second). ``created_at`` is each row's own insert time, not the
    transaction's: the consumer applies several events in one transaction, and a dossier's notifications are listed
    in (created_at, id) order, which must be the order of its events (and of the rows given here)."""
    ids = [r.notification_id or uuid.uuid4() for r in rows]
    inserted = await conn.fetch(
        "INSERT INTO notifications (id, idempotency_key, dossier_id, dossier_code, event_id, event_type, channel,"
        " recipient, subject, body, status, sent_at, delivered_at, recipient_subject, template_version, event_data,"
        " fallback_of, next_attempt_at, created_at)"
        " SELECT n.id, n.id, n.dossier_id, n.dossier_code, n.event_id, n.event_type, n.channel, n.recipient,"
        "   n.subject, n.body, n.status,"
        "   CASE WHEN n.status = 'delivered' THEN clock_timestamp() END,"
        "   CASE WHEN n.status = 'delivered' THEN clock_timestamp() END,"
        "   n.recipient_subject, n.template_version, n.event_data, n.fallback_of, coalesce(n.not_before, now()),"
        "   clock_timestamp()"
        " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
        "   $8::text[], $9::text[], $10::text[], $11::text[], $12::integer[], $13::jsonb[], $14::uuid[],"
        "   $15::timestamptz[]) WITH ORDINALITY AS n(id, dossier_id, dossier_code, event_id, event_type, channel,"
        "   recipient, subject, body, status, recipient_subject, template_version, event_data, fallback_of,"
        "   not_before, i)"
        " ORDER BY n.i"
        " ON CONFLICT (event_id, channel) DO NOTHING RETURNING id",
        ids,
        [uuid.UUID(r.dossier_id) for r in rows],
        [r.dossier_code for r in rows],
        [r.event_id for r in rows],
        [r.event_type for r in rows],
        [r.channel for r in rows],
        [r.recipient for r in rows],
        [r.subject for r in rows],
        [r.body for r in rows],
        [r.status for r in rows],
        [r.recipient_subject for r in rows],
        [r.template_version for r in rows],
        [r.event_data for r in rows],
        [r.fallback_of for r in rows],
        [r.not_before for r in rows],
    )
    done = {r["id"] for r in inserted}
    return [i for i in ids if i in done]


async def get_notification(conn: asyncpg.Connection, notification_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM notifications WHERE id = $1", notification_id)


async def channels_used(conn: asyncpg.Connection, event_id: str) -> list[str]:
    return [r["channel"] for r in await conn.fetch("SELECT channel FROM notifications WHERE event_id = $1", event_id)]


async def get_preferences(conn: asyncpg.Connection, subject: str) -> Preferences | None:
    row = await conn.fetchrow(
        "SELECT channels, quiet_start, quiet_end FROM notification_preferences WHERE recipient_subject = $1", subject
    )
    return _preferences(row)


async def put_preferences(conn: asyncpg.Connection, subject: str, p: Preferences) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO notification_preferences (recipient_subject, channels, quiet_start, quiet_end)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (recipient_subject) DO UPDATE SET channels = EXCLUDED.channels,"
        " quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, updated_at = now()"
        " RETURNING channels, quiet_start, quiet_end, updated_at",
        subject,
        list(p.channels),
        p.quiet_start,
        p.quiet_end,
    )


async def attempts_of(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    rows = await conn.fetch(
        "SELECT notification_id, attempt, channel, started_at, finished_at, outcome, detail, provider_message_id"
        " FROM delivery_attempts WHERE notification_id = ANY($1::uuid[]) ORDER BY notification_id, id",
        ids,
    )
    result: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in rows:
        result.setdefault(r["notification_id"], []).append(r)
    return result


async def is_recipient(conn: asyncpg.Connection, dossier_code: str, subject: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM recipients WHERE dossier_code = $1 AND recipient_subject = $2)",
        dossier_code,
        subject,
    )


async def list_notifications(
    conn: asyncpg.Connection,
    dossier_code: str,
    recipient_subject: str,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[asyncpg.Record]:
    """One page of a dossier's notifications to ``recipient_subject`` in (created_at, id) order, starting
    after the keyset ``after``; fetches limit + 1 rows so the caller knows whether another page exists."""
    args: list[Any]  # query parameters of mixed types
    where, args = ["dossier_code = $1", "recipient_subject = $2"], [dossier_code, recipient_subject]
    if after is not None:
        args += [after[0], after[1]]
        where.append("(created_at, id) > ($3, $4)")
    args.append(limit + 1)
    return await conn.fetch(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
        f" ORDER BY created_at, id LIMIT ${len(args)}",
        *args,
    )


async def inbox(
    conn: asyncpg.Connection,
    recipient_subject: str,
    *,
    read: bool | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[asyncpg.Record]:
    """A citizen's in-app notifications, newest first; ``read``: None = all, False = unread, True = read.
    Fetches limit + 1 rows."""
    where = ["channel = 'app'", "recipient_subject = $1", *_marked("read_at", read)]
    select = f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications"
    return await _newest_first(conn, select, where, [recipient_subject], limit=limit, before=before)


def _marked(column: str, marked: bool | None) -> list[str]:
    """The condition on a timestamp that marks a row (read, replayed): None = any row."""
    return [] if marked is None else [f"{column} IS NOT NULL" if marked else f"{column} IS NULL"]


async def _newest_first(
    conn: asyncpg.Connection,
    select: str,
    where: list[str],
    args: list[Any],
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[asyncpg.Record]:
    """One page in (created_at, id) descending order, after the keyset ``before``; fetches limit + 1 rows so the
    caller knows whether another page exists."""
    args = list(args)  # query parameters of mixed types
    if before is not None:
        args += [before[0], before[1]]
        where = [*where, f"(created_at, id) < (${len(args) - 1}, ${len(args)})"]
    args.append(limit + 1)
    return await conn.fetch(
        f"{select} WHERE {' AND '.join(where) or 'true'} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args
    )


async def mark_read(
    conn: asyncpg.Connection, notification_id: uuid.UUID, recipient_subject: str
) -> asyncpg.Record | None:
    """Mark one of the recipient's in-app notifications read (the first read time is kept); None if the id
    is not one of theirs."""
    return await conn.fetchrow(
        "UPDATE notifications SET read_at = coalesce(read_at, now())"
        " WHERE id = $1 AND recipient_subject = $2 AND channel = 'app'"
        f" RETURNING {_NOTIFICATION_COLUMNS}",
        notification_id,
        recipient_subject,
    )


async def claim_due(conn: asyncpg.Connection, *, batch_size: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Claim due notifications of every external channel not slowed by a provider's 429: counts the attempt, marks
    them ``sending`` and hides them from other replicas for the lease, so the send happens outside any
    transaction. A ``sending`` row whose lease ran out (its sender died mid-send) is claimed again and sent with the
    same idempotency key."""
    return await conn.fetch(
        "UPDATE notifications n SET attempts = n.attempts + 1, status = 'sending',"
        " next_attempt_at = now() + make_interval(secs => $2)"
        " FROM (SELECT id FROM notifications WHERE status IN ('queued', 'sending', 'failed_temporary')"
        "       AND accepted_at IS NULL AND next_attempt_at <= now()"
        "       AND channel NOT IN (SELECT channel FROM channel_throttles WHERE until > now())"
        "       ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due"
        " WHERE n.id = due.id"
        " RETURNING n.id, n.idempotency_key, n.channel, n.recipient, n.subject, n.body, n.dossier_code, n.event_id,"
        " n.event_type, n.attempts, clock_timestamp() AS claimed_at",
        batch_size,
        lease_seconds,
    )


async def record_attempt(
    conn: asyncpg.Connection,
    row: asyncpg.Record | dict,
    *,
    started_at: datetime,
    outcome: str,
    detail: str | None,
    provider_message_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO delivery_attempts (notification_id, attempt, channel, started_at, outcome, detail,"
        " provider_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        row["id"],
        row["attempts"],
        row["channel"],
        started_at,
        outcome,
        detail[:1000] if detail else None,
        provider_message_id,
    )


async def record_accepted(
    conn: asyncpg.Connection,
    row: asyncpg.Record | dict,
    *,
    started_at: datetime,
    detail: str | None,
    provider_message_id: str | None,
    receipt: dict | None,
) -> None:
    """The provider accepted the message: its attempt (as :func:`record_attempt`, outcome ``accepted``) and the
    notification, in one statement (one round trip, atomic without a transaction around it). With a ``receipt``
    (SMTP: the server's answer is the proof) it is delivered; without, it stays ``sending`` until the provider's
    delivery receipt arrives."""
    await conn.execute(
        "WITH a AS (INSERT INTO delivery_attempts (notification_id, attempt, channel, started_at, outcome, detail,"
        "   provider_message_id) VALUES ($1, $2, $3, $4, 'accepted', $5, $6))"
        " UPDATE notifications SET accepted_at = clock_timestamp(), sent_at = clock_timestamp(),"
        " provider_message_id = $6, receipt = coalesce($7, receipt),"
        " status = CASE WHEN $7::jsonb IS NULL THEN status ELSE 'delivered' END,"
        " delivered_at = CASE WHEN $7::jsonb IS NULL THEN delivered_at ELSE clock_timestamp() END WHERE id = $1",
        row["id"],
        row["attempts"],
        row["channel"],
        started_at,
        detail[:1000] if detail else None,
        provider_message_id,
        receipt,
    )


async def mark_failed_attempt(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, error: str, give_up: bool, retry_in: float
) -> None:
    """Record a failed try: ``failed_temporary``, due again after ``retry_in`` seconds, or ``failed_permanent``."""
    await conn.execute(
        "UPDATE notifications SET last_error = $2,"
        " status = CASE WHEN $3 THEN 'failed_permanent' ELSE 'failed_temporary' END,"
        " next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
        notification_id,
        error[:1000],
        give_up,
        retry_in,
    )


async def mark_rate_limited(conn: asyncpg.Connection, notification_id: uuid.UUID, channel: str, seconds: float) -> None:
    """A provider's 429: the message goes back to the queue (the try does not count) and its whole channel waits
    ``seconds`` (Retry-After) on every replica."""
    await conn.execute(
        "UPDATE notifications SET status = 'queued', attempts = greatest(attempts - 1, 0),"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
        notification_id,
        seconds,
    )
    await conn.execute(
        "INSERT INTO channel_throttles (channel, until) VALUES ($1, now() + make_interval(secs => $2))"
        " ON CONFLICT (channel) DO UPDATE SET until = greatest(channel_throttles.until, EXCLUDED.until)",
        channel,
        seconds,
    )


async def lock_by_key(conn: asyncpg.Connection, idempotency_key: uuid.UUID, channel: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM notifications WHERE idempotency_key = $1 AND channel = $2 FOR UPDATE", idempotency_key, channel
    )


async def apply_receipt(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, delivered: bool, receipt: dict, error: str | None
) -> None:
    """Store a provider's delivery receipt: the proof of delivery, or why it could not be delivered."""
    await conn.execute(
        "UPDATE notifications SET receipt = $2, status = CASE WHEN $3 THEN 'delivered' ELSE 'failed_permanent' END,"
        " delivered_at = CASE WHEN $3 THEN clock_timestamp() END, last_error = coalesce($4, last_error)"
        " WHERE id = $1",
        notification_id,
        receipt,
        delivered,
        error,
    )


async def insert_dead_letter(conn: asyncpg.Connection, row: asyncpg.Record, error: str) -> None:
    await conn.execute(
        "INSERT INTO dead_letters (id, notification_id, dossier_code, channel, error, attempts)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notification_id) WHERE replayed_at IS NULL DO NOTHING",
        uuid.uuid4(),
        row["id"],
        row["dossier_code"],
        row["channel"],
        error[:1000],
        row["attempts"],
    )


async def list_dead_letters(
    conn: asyncpg.Connection, *, replayed: bool | None, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[asyncpg.Record]:
    select = (
        "SELECT id, notification_id, dossier_code, channel, error, attempts, created_at, replayed_at, replayed_by"
        " FROM dead_letters"
    )
    return await _newest_first(conn, select, _marked("replayed_at", replayed), [], limit=limit, before=before)


async def replay_dead_letter(conn: asyncpg.Connection, dead_letter_id: uuid.UUID, by: str) -> asyncpg.Record | None:
    """Mark the dead letter replayed and queue its notification again (same idempotency key, attempts from 0);
    None if unknown or already replayed."""
    row = await conn.fetchrow(
        "UPDATE dead_letters SET replayed_at = now(), replayed_by = $2 WHERE id = $1 AND replayed_at IS NULL"
        " RETURNING id, notification_id, dossier_code, channel, error, attempts, created_at, replayed_at, replayed_by",
        dead_letter_id,
        by,
    )
    if row is not None:
        await conn.execute(
            "UPDATE notifications SET status = 'queued', attempts = 0, next_attempt_at = now(), last_error = NULL,"
            " receipt = NULL WHERE id = $1",
            row["notification_id"],
        )
    return row


async def dead_letter_exists(conn: asyncpg.Connection, dead_letter_id: uuid.UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM dead_letters WHERE id = $1)", dead_letter_id)
