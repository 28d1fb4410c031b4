"""Kafka handlers: every dossier event becomes notifications, in the inbox transaction."""

import asyncpg

from motcua_common import CloudEvent, Handler
from motcua_common.contracts import DOSSIER_EVENTS

from . import service


async def on_dossier_event(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await service.record_event(conn, event)


HANDLERS: dict[str, Handler] = {event_type: on_dossier_event for event_type in DOSSIER_EVENTS}
