"""Kafka handlers, each run in the transaction that records the event in the inbox: every dossier event
becomes notifications (or waits for the dossier's contact), and a contact releases what waited for it."""

import asyncpg

from motcua_common import CloudEvent, Handler
from motcua_common.contracts import DOSSIER_EVENTS, DossierContact

from . import service


async def on_dossier_event(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await service.record_event(conn, event)


async def on_contact(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await service.record_contact(conn, event)


HANDLERS: dict[str, Handler] = {
    **{event_type: on_dossier_event for event_type in DOSSIER_EVENTS},
    DossierContact.type_name(): on_contact,
}
