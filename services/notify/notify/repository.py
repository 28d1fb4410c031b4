"""All SQL of the notify service."""

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from .domain import Recipient

_NOTIFICATION_COLUMNS = "id, dossier_code, event_type, channel, subject, body, status, created_at, sent_at, read_at"


async def upsert_recipient(conn: asyncpg.Connection, r: Recipient) -> None:
    await conn.execute(
        "INSERT INTO recipients (dossier_id, dossier_code, recipient_subject, full_name, email, phone, channels,"
        " procedure_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (dossier_id) DO UPDATE SET dossier_code = EXCLUDED.dossier_code,"
        " recipient_subject = EXCLUDED.recipient_subject, full_name = EXCLUDED.full_name, email = EXCLUDED.email,"
        " phone = EXCLUDED.phone, channels = EXCLUDED.channels, procedure_name = EXCLUDED.procedure_name,"
        " updated_at = now()",
        uuid.UUID(r.dossier_id),
        r.dossier_code,
        r.recipient_subject,
        r.full_name,
        r.email,
        r.phone,
        list(r.channels),
        r.procedure_name,
    )


async def get_recipient(conn: asyncpg.Connection, dossier_id: str) -> Recipient | None:
    row = await conn.fetchrow(
        "SELECT dossier_id, dossier_code, recipient_subject, full_name, email, phone, channels, procedure_name"
        " FROM recipients WHERE dossier_id = $1 AND recipient_subject IS NOT NULL",
        uuid.UUID(dossier_id),
    )
    if row is None:
        return None
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


async def take_pending(conn: asyncpg.Connection, dossier_id: str) -> list[asyncpg.Record]:
    """Remove and return a dossier's pending events, in the order they happened."""
    rows = await conn.fetch(
        "DELETE FROM pending_events WHERE dossier_id = $1"
        " RETURNING event_id, event_type, data, occurred_at, received_at",
        uuid.UUID(dossier_id),
    )
    return sorted(rows, key=lambda r: (r["occurred_at"], r["received_at"]))


async def insert_notification(
    conn: asyncpg.Connection,
    *,
    dossier_id: str,
    dossier_code: str,
    event_id: str,
    event_type: str,
    channel: str,
    recipient: str | None,
    recipient_subject: str,
    subject: str,
    body: str,
    status: str,
) -> uuid.UUID | None:
    """Insert one notification; returns its id, or None if this event already has one on this channel."""
    return await conn.fetchval(
        "INSERT INTO notifications (id, dossier_id, dossier_code, event_id, event_type, channel, recipient,"
        " subject, body, status, sent_at, recipient_subject)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        "         CASE WHEN $10 = 'delivered' THEN clock_timestamp() END, $11)"
        " ON CONFLICT (event_id, channel) DO NOTHING RETURNING id",
        uuid.uuid4(),
        uuid.UUID(dossier_id),
        dossier_code,
        event_id,
        event_type,
        channel,
        recipient,
        subject,
        body,
        status,
        recipient_subject,
    )


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
    args: list[Any]  # query parameters of mixed types
    where, args = ["channel = 'app'", "recipient_subject = $1"], [recipient_subject]
    if read is not None:
        where.append("read_at IS NOT NULL" if read else "read_at IS NULL")
    if before is not None:
        args += [before[0], before[1]]
        where.append("(created_at, id) < ($2, $3)")
    args.append(limit + 1)
    return await conn.fetch(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
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


async def claim_due_emails(conn: asyncpg.Connection, *, batch_size: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Claim due pending emails for this sender: counts the attempt and hides the rows from other
    replicas for the lease, so the send itself happens outside any transaction."""
    return await conn.fetch(
        "UPDATE notifications n SET attempts = n.attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => $2)"
        " FROM (SELECT id FROM notifications WHERE channel = 'email' AND status = 'pending'"
        "       AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due"
        " WHERE n.id = due.id"
        " RETURNING n.id, n.recipient, n.subject, n.body, n.dossier_code, n.event_id, n.attempts",
        batch_size,
        lease_seconds,
    )


async def mark_sent(conn: asyncpg.Connection, notification_id: uuid.UUID) -> None:
    await conn.execute("UPDATE notifications SET status = 'sent', sent_at = now() WHERE id = $1", notification_id)


async def mark_failed_attempt(
    conn: asyncpg.Connection, notification_id: uuid.UUID, *, error: str, give_up: bool, retry_in: float
) -> None:
    """Record a failed try: back to pending, due again after ``retry_in`` seconds, or failed for good."""
    await conn.execute(
        "UPDATE notifications SET last_error = $2,"
        " status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END,"
        " next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
        notification_id,
        error[:1000],
        give_up,
        retry_in,
    )
