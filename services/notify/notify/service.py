"""Use cases of notify: record the notifications of a dossier event, and list a dossier's notifications."""

import logging
import uuid

import asyncpg

from motcua_common import CloudEvent
from motcua_common.contracts import DossierSubmitted
from motcua_common.pagination import decode_keyset, encode_keyset

from . import domain, repository

log = logging.getLogger("motcua.notify")


def recipient_from_submitted(event: DossierSubmitted) -> domain.Recipient:
    a = event.applicant
    return domain.Recipient(
        dossier_id=str(event.dossier_id),
        dossier_code=event.dossier_code,
        personal_id=a.personal_id,
        full_name=a.full_name,
        email=a.email or None,
        phone=a.phone or None,
        channels=list(event.notify_channels),
        procedure_name=event.procedure_name,
    )


async def record_event(conn: asyncpg.Connection, event: CloudEvent) -> list[uuid.UUID]:
    """Record the notifications of one dossier event (in the consumer's inbox transaction).

    Email rows are only recorded here, as ``pending``: the sender loop delivers them after commit.
    """
    dossier_id, dossier_code = str(event.data["dossier_id"]), str(event.data["dossier_code"])
    if event.type == DossierSubmitted.type_name():
        recipient: domain.Recipient | None = recipient_from_submitted(DossierSubmitted.model_validate(event.data))
        await repository.upsert_recipient(conn, recipient)
    else:
        recipient = await repository.get_recipient(conn, dossier_id)
        if recipient is None:
            log.warning(
                "no recipient known for dossier %s (%s): %s recorded for the app channel only",
                dossier_code,
                dossier_id,
                event.type,
            )
    data = dict(event.data)
    if recipient is not None and recipient.procedure_name:
        data.setdefault("procedure_name", recipient.procedure_name)
    subject, body = domain.render(event.type, data, recipient.full_name if recipient else None)
    ids = []
    for d in domain.deliveries(recipient):
        new_id = await repository.insert_notification(
            conn,
            dossier_id=dossier_id,
            dossier_code=dossier_code,
            event_id=event.id,
            event_type=event.type,
            channel=d.channel,
            recipient=d.address,
            subject=subject,
            body=body,
            status=d.status,
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def list_notifications(
    conn: asyncpg.Connection, dossier_code: str, *, limit: int, cursor: str | None
) -> tuple[list[asyncpg.Record], str | None]:
    after = decode_keyset(cursor, uuid.UUID) if cursor else None
    rows = await repository.list_notifications(conn, dossier_code, limit=limit, after=after)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_keyset(rows[-1]["created_at"], rows[-1]["id"])
