"""Kafka event handlers; each runs in the transaction that records the event in the inbox."""

import asyncpg

from motcua_common.consumer import Handler
from motcua_common.contracts import DossierSubmitted
from motcua_common.events import CloudEvent

from . import service
from .settings import Settings


def make_handlers(settings: Settings) -> dict[str, Handler]:
    """The processing consumer's handlers, bound to the service's settings (the state topic)."""

    async def on_dossier_submitted(conn: asyncpg.Connection, event: CloudEvent) -> None:
        """Open the case. An invalid payload raises, so the consumer retries and then dead-letters it."""
        await service.open_case(conn, settings, DossierSubmitted.model_validate(event.data))

    return {DossierSubmitted.type_name(): on_dossier_submitted}
