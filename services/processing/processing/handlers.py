"""Kafka event handlers; each runs in the transaction that records the event in the inbox."""

import asyncpg

from motcua_common.contracts import DossierSubmitted
from motcua_common.events import CloudEvent

from . import service


async def on_dossier_submitted(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """Open the case. An invalid payload raises, so the consumer retries and then dead-letters it."""
    await service.open_case(conn, DossierSubmitted.model_validate(event.data))
