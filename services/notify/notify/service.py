"""Use cases of notify: learn a dossier's contact, turn dossier events into notifications (holding those
that arrive before the contact), and serve a citizen's inbox. They run in the caller's transaction and
never commit."""

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from motcua_common import CloudEvent, ProblemError
from motcua_common.auth import PROVINCIAL_OPERATOR, Principal, forbidden
from motcua_common.contracts import DOSSIER_EVENTS, DossierContact
from motcua_common.pagination import decode_keyset, encode_keyset

from . import domain, repository, templates

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
    conn: asyncpg.Connection,
    recipient: domain.Recipient,
    preferences: domain.Preferences | None,
    event_id: str,
    event_type: str,
    data: dict[str, Any],
) -> list[uuid.UUID]:
    """Render one dossier event for its recipient and record its notifications, in one statement (one per channel;
    an (event, channel) pair that already has one is skipped). External channels are only recorded, ``queued``
    (held until the end of the citizen's quiet hours for SMS and OTT, except legal notices): the deliverer sends
    them after commit."""
    data = dict(data)
    if recipient.procedure_name:
        data.setdefault("procedure_name", recipient.procedure_name)
    now = datetime.now(UTC)
    rows = []
    for d in domain.deliveries(recipient, event_type, data.get("notify_channels") or (), preferences):
        held = domain.holds_for_quiet_hours(d.channel, event_type)
        not_before = domain.quiet_until(now, preferences) if held else None
        rows.append(_notification(recipient, event_id, event_type, data, d, not_before=not_before))
    return await repository.insert_notifications(conn, rows) if rows else []


def _notification(
    recipient: domain.Recipient,
    event_id: str,
    event_type: str,
    data: dict[str, Any],
    delivery: domain.Delivery,
    *,
    not_before: datetime | None = None,
    fallback_of: uuid.UUID | None = None,
) -> repository.NewNotification:
    # SMS texts are stored with their diacritics, within two UCS-2 parts; the SMS adapter strips them for a
    # provider that takes unaccented text only (which also fits: unaccented is never longer).
    rendered = templates.store().render(event_type, delivery.channel, data, recipient.full_name)
    return repository.NewNotification(
        notification_id=domain.idempotency_key(event_id, recipient.recipient_subject, delivery.channel),
        dossier_id=recipient.dossier_id,
        dossier_code=recipient.dossier_code,
        event_id=event_id,
        event_type=event_type,
        channel=delivery.channel,
        recipient=delivery.address,
        recipient_subject=recipient.recipient_subject,
        subject=rendered.subject or _inbox_subject(event_type, data, recipient),
        body=rendered.body,
        status=delivery.status,
        template_version=rendered.version,
        event_data=data if delivery.channel != "app" else None,
        fallback_of=fallback_of,
        not_before=not_before,
    )


def _inbox_subject(event_type: str, data: dict[str, Any], recipient: domain.Recipient) -> str:
    """SMS and OTT have no subject line; the dossier's list shows the e-mail subject of the same event."""
    return templates.store().render(event_type, "email", data, recipient.full_name).subject


async def after_permanent_failure(conn: asyncpg.Connection, row: asyncpg.Record | dict, error: str) -> uuid.UUID | None:
    """A notification failed for good: queue the next channel of the recipient's fallback chain that this event
    has not used, or, when none is left, record a dead letter. Returns the fallback notification's id."""
    notification = await repository.get_notification(conn, row["id"])
    if notification is None:
        return None
    recipient = await repository.get_recipient(conn, str(notification["dossier_id"]))
    fallback = None
    if recipient is not None and notification["event_data"] is not None:
        preferences = await repository.get_preferences(conn, recipient.recipient_subject)
        chain = domain.fallback_chain(recipient, preferences)
        fallback = domain.next_fallback(
            chain, notification["channel"], await repository.channels_used(conn, notification["event_id"])
        )
    if fallback is None:
        await repository.insert_dead_letter(conn, notification, error)
        log.warning("notification %s (%s) is a dead letter: %s", notification["id"], notification["channel"], error)
        return None
    delivery = domain.Delivery(fallback, domain.address(recipient, fallback), domain.QUEUED)  # type: ignore[arg-type]
    log.info("notification %s failed on %s; falling back to %s", notification["id"], notification["channel"], fallback)
    row = _notification(
        recipient,  # type: ignore[arg-type]  # not None: fallback is only set when the recipient is known
        notification["event_id"],
        notification["event_type"],
        notification["event_data"],
        delivery,
        fallback_of=notification["id"],
    )
    ids = await repository.insert_notifications(conn, [row])
    return ids[0] if ids else None


async def record_event(conn: asyncpg.Connection, event: CloudEvent) -> list[uuid.UUID]:
    """A dossier event (in the consumer's inbox transaction): notify the recipient if the dossier's contact
    is known, else keep the event pending until it is. A malformed event raises (retried, dead-lettered)."""
    model = DOSSIER_EVENTS.get(event.type)
    if model is None:
        raise ValueError(f"not a dossier event: {event.type!r}")
    parsed = model.model_validate(event.data)
    dossier_id = str(parsed.dossier_id)
    await repository.lock_dossier(conn, dossier_id)
    known = await repository.get_recipient_and_preferences(conn, dossier_id)
    if known is None:
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
    recipient, preferences = known
    return await _notify(conn, recipient, preferences, event.id, event.type, event.data)


async def record_contact(conn: asyncpg.Connection, event: CloudEvent) -> list[uuid.UUID]:
    """A dossier's contact (personal topic): remember it and deliver the events that were waiting for it."""
    recipient = recipient_from_contact(DossierContact.model_validate(event.data))
    await repository.lock_dossier(conn, recipient.dossier_id)
    pending_events, preferences = await repository.record_recipient(conn, recipient)
    ids: list[uuid.UUID] = []
    for pending in pending_events:
        event_id, event_type = pending["event_id"], pending["event_type"]
        ids += await _notify(conn, recipient, preferences, event_id, event_type, pending["data"])
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


async def with_attempts(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """The rows as dicts, each with its delivery attempts (oldest first)."""
    attempts = await repository.attempts_of(conn, [r["id"] for r in rows if r["channel"] != "app"])
    return [{**dict(r), "attempts": [dict(a) for a in attempts.get(r["id"], [])]} for r in rows]


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


# Preferences, receipts, dead letters.


def _preferences_out(p: domain.Preferences | None) -> dict[str, Any]:
    p = p or domain.Preferences()
    quiet = None
    if p.quiet_start is not None and p.quiet_end is not None:
        quiet = {"start": p.quiet_start.strftime("%H:%M"), "end": p.quiet_end.strftime("%H:%M")}
    return {"channels": list(p.channels), "quiet_hours": quiet}


async def get_preferences(conn: asyncpg.Connection, citizen: Principal) -> dict[str, Any]:
    return _preferences_out(await repository.get_preferences(conn, citizen.subject))


async def put_preferences(conn: asyncpg.Connection, citizen: Principal, p: domain.Preferences) -> dict[str, Any]:
    await repository.put_preferences(conn, citizen.subject, p)
    return _preferences_out(p)


async def record_receipt(
    conn: asyncpg.Connection, channel: str, idempotency_key: uuid.UUID, *, delivered: bool, receipt: dict[str, Any]
) -> None:
    """A provider's delivery receipt. Receipts can arrive twice, or before the deliverer has recorded the
    provider's accept: the first for a notification that is not final wins; an unknown key is a 404."""
    row = await repository.lock_by_key(conn, idempotency_key, channel)
    if row is None:
        raise notification_not_found()
    if row["status"] in (domain.DELIVERED, domain.FAILED_PERMANENT):
        return
    error = None if delivered else f"receipt: {receipt.get('error') or 'undeliverable'}"
    await repository.apply_receipt(conn, row["id"], delivered=delivered, receipt=receipt, error=error)
    if not delivered:
        await after_permanent_failure(conn, row, error or "undeliverable")


def require_operator(principal: Principal) -> Principal:
    """Templates and dead letters are the provincial operators' business: any other caller gets 403."""
    if not principal.has_role(PROVINCIAL_OPERATOR):
        raise forbidden("Only a provincial operator may do this.")
    return principal


async def list_dead_letters(
    conn: asyncpg.Connection, operator: Principal, *, replayed: bool | None, limit: int, cursor: str | None
) -> tuple[list[asyncpg.Record], str | None]:
    require_operator(operator)
    before = decode_keyset(cursor, uuid.UUID) if cursor else None
    return _page(await repository.list_dead_letters(conn, replayed=replayed, limit=limit, before=before), limit)


async def replay_dead_letter(
    conn: asyncpg.Connection, operator: Principal, dead_letter_id: uuid.UUID
) -> asyncpg.Record:
    require_operator(operator)
    row = await repository.replay_dead_letter(conn, dead_letter_id, operator.subject)
    if row is None:
        if await repository.dead_letter_exists(conn, dead_letter_id):
            raise ProblemError(409, "already-replayed", "Thư đã được gửi lại", "This dead letter was replayed already.")
        raise ProblemError(404, "dead-letter-not-found", "Không tìm thấy thư lỗi", "No such dead letter.")
    return row


def preview(
    operator: Principal,
    event_type: str,
    channel: str,
    data: dict[str, Any] | None,
    name: str | None,
    version: int | None,
) -> templates.Rendered:
    """Render a template for an operator, with the given event payload or the shipped sample of that type."""
    require_operator(operator)
    store = templates.store()
    try:
        store.get(event_type, channel, version)
    except KeyError:
        raise ProblemError(
            404, "template-not-found", "Không tìm thấy mẫu thông báo", f"No template {event_type} / {channel}."
        ) from None
    payload = data if data is not None else templates.sample_data(event_type)
    try:
        return store.render(event_type, channel, payload, name, version=version)
    except ValidationError as exc:
        raise ProblemError(
            422, "invalid-event-data", "Dữ liệu mẫu không hợp lệ", f"The data is not a valid {event_type}: {exc}"
        ) from exc
    except templates.TemplateError as exc:
        raise ProblemError(422, "template-error", "Không hiển thị được mẫu", str(exc)) from exc
