"""Kafka handlers of citizen-id, on the restricted personal topic. Each runs in the consumer's transaction,
beside the inbox row that makes it idempotent."""

import asyncpg

from motcua_common.consumer import Handler
from motcua_common.contracts import RegistryCorrectionRequested
from motcua_common.events import CloudEvent

from . import service


async def on_correction_requested(conn: asyncpg.Connection, event: CloudEvent) -> None:
    data = RegistryCorrectionRequested.model_validate(event.data)
    await service.record_correction(conn, data, event.id)


HANDLERS: dict[str, Handler] = {RegistryCorrectionRequested.type_name(): on_correction_requested}
