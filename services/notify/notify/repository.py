"""All SQL of the notify service."""

import uuid
from datetime import datetime

import asyncpg

from .domain import Recipient

_NOTIFICATION_COLUMNS = "id, event_type, channel, subject, body, status, created_at, sent_at"


async def upsert_recipient(conn: asyncpg.Connection, r: Recipient) -> None:
    await conn.execute(
        "INSERT INTO recipients (dossier_id, dossier_code, personal_id, full_name, email, phone, channels,"
        " procedure_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (dossier_id) DO UPDATE SET dossier_code = EXCLUDED.dossier_code,"
        " personal_id = EXCLUDED.personal_id, full_name = EXCLUDED.full_name, email = EXCLUDED.email,"
        " phone = EXCLUDED.phone, channels = EXCLUDED.channels, procedure_name = EXCLUDED.procedure_name,"
        " updated_at = now()",
        uuid.UUID(r.dossier_id),
        r.dossier_code,
        r.personal_id,
        r.full_name,
        r.email,
        r.phone,
        list(r.channels),
        r.procedure_name,
    )


async def get_recipient(conn: asyncpg.Connection, dossier_id: str) -> Recipient | None:
    row = await conn.fetchrow(
        "SELECT dossier_id, dossier_code, personal_id, full_name, email, phone, channels, procedure_name"
        " FROM recipients WHERE dossier_id = $1",
        uuid.UUID(dossier_id),
    )
    if row is None:
        return None
    return Recipient(
        dossier_id=str(row["dossier_id"]),
        dossier_code=row["dossier_code"],
        personal_id=row["personal_id"],
        full_name=row["full_name"],
        email=row["email"],
        phone=row["phone"],
        channels=list(row["channels"]),
        procedure_name=row["procedure_name"],
    )


async def insert_notification(
    conn: asyncpg.Connection,
    *,
    dossier_id: str,
    dossier_code: str,
    event_id: str,
    event_type: str,
    channel: str,
    recipient: str | None,
    subject: str,
    body: str,
    status: str,
) -> uuid.UUID | None:
    """Insert one notification; returns its id, or None if this event already has one on this channel."""
    return await conn.fetchval(
        "INSERT INTO notifications (id, dossier_id, dossier_code, event_id, event_type, channel, recipient,"
        " subject, body, status, sent_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        "         CASE WHEN $10 = 'delivered' THEN clock_timestamp() END)"
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
    )


async def list_notifications(
    conn: asyncpg.Connection, dossier_code: str, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[asyncpg.Record]:
    """One page in (created_at, id) order, starting after the keyset ``after``; fetches limit + 1 rows
    so the caller knows whether another page exists."""
    if after is None:
        return await conn.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE dossier_code = $1"
            " ORDER BY created_at, id LIMIT $2",
            dossier_code,
            limit + 1,
        )
    return await conn.fetch(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE dossier_code = $1"
        " AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4",
        dossier_code,
        after[0],
        after[1],
        limit + 1,
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
