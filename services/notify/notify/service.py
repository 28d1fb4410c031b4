"""Use cases of notify: learn a dossier's contact, turn dossier events into notifications (holding those
that arrive before the contact), and serve a citizen's inbox. They run in the caller's transaction and
never commit."""

import logging
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from motcua_common import CloudEvent, ProblemError
from motcua_common.auth import Principal
from motcua_common.contracts import DOSSIER_EVENTS, DossierContact
from motcua_common.pagination import decode_keyset, encode_keyset

from . import domain, repository

log = logging.getLogger("motcua.notify")


def recipient_from_contact(contact: DossierContact) -> domain.Recipient:
    return domain.Recipient(
        dossier_id=str(contact.dossier_id),
        dossier_code=contact.dossier_code,
        recipient_subject=contact.recipient_subject,
        full_name=contact.full_name,
        email=contact.email or None,
        phone=contact.phone or None,
        channels=list(contact.notify_channels),
        procedure_name=contact.procedure_name,
    )


async def _notify(
    conn: asyncpg.Connection, recipient: domain.Recipient, event_id: str, event_type: str, data: dict[str, Any]
) -> list[uuid.UUID]:
    """Render one dossier event for its recipient and record its notifications (one per channel; an
    (event, channel) pair that already has one is skipped). Email rows are only recorded, as ``pending``:
    the sender loop delivers them after commit."""
    data = dict(data)
    if recipient.procedure_name:
        data.setdefault("procedure_name", recipient.procedure_name)
    subject, body = domain.render(event_type, data, recipient.full_name)
    ids = []
    for d in domain.deliveries(recipient, event_type, data.get("notify_channels") or ()):
        new_id = await repository.insert_notification(
            conn,
            dossier_id=recipient.dossier_id,
            dossier_code=recipient.dossier_code,
            event_id=event_id,
            event_type=event_type,
            channel=d.channel,
            recipient=d.address,
            recipient_subject=recipient.recipient_subject,
            subject=subject,
            body=body,
            status=d.status,
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def record_event(conn: asyncpg.Connection, event: CloudEvent) -> list[uuid.UUID]:
    """A dossier event (in the consumer's inbox transaction): notify the recipient if the dossier's contact
    is known, else keep the event pending until it is. A malformed event raises (retried, dead-lettered)."""
    model = DOSSIER_EVENTS.get(event.type)
    if model is None:
        raise ValueError(f"not a dossier event: {event.type!r}")
    parsed = model.model_validate(event.data)
    dossier_id = str(parsed.dossier_id)
    await repository.lock_dossier(conn, dossier_id)
    recipient = await repository.get_recipient(conn, dossier_id)
    if recipient is None:
        log.info("contact of dossier %s not known yet: %s kept pending", parsed.dossier_code, event.type)
        await repository.insert_pending(
            conn,
            event_id=event.id,
            dossier_id=dossier_id,
            dossier_code=parsed.dossier_code,
            event_type=event.type,
            data=dict(event.data),
            occurred_at=parsed.occurred_at,
        )
        return []
    return await _notify(conn, recipient, event.id, event.type, event.data)


async def record_contact(conn: asyncpg.Connection, event: CloudEvent) -> list[uuid.UUID]:
    """A dossier's contact (personal topic): remember it and deliver the events that were waiting for it."""
    recipient = recipient_from_contact(DossierContact.model_validate(event.data))
    await repository.lock_dossier(conn, recipient.dossier_id)
    await repository.upsert_recipient(conn, recipient)
    ids = []
    for pending in await repository.take_pending(conn, recipient.dossier_id):
        ids += await _notify(conn, recipient, pending["event_id"], pending["event_type"], pending["data"])
    return ids


def notification_not_found() -> ProblemError:
    return ProblemError(404, "notification-not-found", "Không tìm thấy thông báo", "No such notification of yours.")


def dossier_not_found(code: str) -> ProblemError:
    return ProblemError(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"No dossier has the code '{code}'.")


def _page(rows: list[asyncpg.Record], limit: int) -> tuple[list[asyncpg.Record], str | None]:
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_keyset(rows[-1]["created_at"], rows[-1]["id"])


async def list_notifications(
    conn: asyncpg.Connection, principal: Principal, dossier_code: str, *, limit: int, cursor: str | None
) -> tuple[list[asyncpg.Record], str | None]:
    """A dossier's notifications, for its recipient only: anyone else gets 404, as for an unknown code."""
    after = decode_keyset(cursor, uuid.UUID) if cursor else None
    if principal.kind != "citizen" or not await repository.is_recipient(conn, dossier_code, principal.subject):
        raise dossier_not_found(dossier_code)
    rows = await repository.list_notifications(conn, dossier_code, principal.subject, limit=limit, after=after)
    return _page(rows, limit)


async def inbox(
    conn: asyncpg.Connection, citizen: Principal, *, unread: bool | None, limit: int, cursor: str | None
) -> tuple[list[asyncpg.Record], str | None]:
    before: tuple[datetime, uuid.UUID] | None = decode_keyset(cursor, uuid.UUID) if cursor else None
    read = None if unread is None else not unread
    rows = await repository.inbox(conn, citizen.subject, read=read, limit=limit, before=before)
    return _page(rows, limit)


async def mark_read(conn: asyncpg.Connection, citizen: Principal, notification_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.mark_read(conn, notification_id, citizen.subject)
    if row is None:
        raise notification_not_found()
    return row
