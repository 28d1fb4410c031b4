"""Kafka event handlers; each runs in the transaction that records the event in the inbox."""

import asyncpg

from motcua_common.consumer import Handler
from motcua_common.contracts import DossierSubmitted, ProcedureVersionPublished
from motcua_common.events import CloudEvent

from . import service
from .deadlines import Clock
from .settings import Settings


def make_handlers(settings: Settings, clock: Clock) -> dict[str, Handler]:
    """The dossier consumer's handlers, bound to the service's settings and legal clock."""

    async def on_dossier_submitted(conn: asyncpg.Connection, event: CloudEvent) -> None:
        """Open the case, or keep it waiting for its procedure version. An invalid payload raises, so the consumer
        retries and then dead-letters it."""
        await service.open_case(conn, settings, clock, DossierSubmitted.model_validate(event.data), event.id)

    return {DossierSubmitted.type_name(): on_dossier_submitted}


def make_catalogue_handlers(settings: Settings, clock: Clock) -> dict[str, Handler]:
    """The catalogue consumer's handlers: keep every published procedure version (and open what waited for it)."""

    async def on_version_published(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await service.store_version(conn, settings, clock, ProcedureVersionPublished.model_validate(event.data))

    return {ProcedureVersionPublished.type_name(): on_version_published}
