"""The statistics projection: the dossier events, consumed by its own consumer group (``processing-measure``),
become the counters of ``measure_counts``. Each handler runs in the transaction that records the event in the inbox,
so a redelivered event counts once; the topic replayed into empty tables gives the same counters. The submitted
dossiers of a run of a chunk's events are counted in one statement (a ``ChunkHandler``), exactly as one by one.

Attribution: the competent unit (kind ``unit``) always; the receiving service centre (kind ``centre``) when the
dossier was received at a counter of another unit (``receiving_unit_code``). Days are Asia/Ho_Chi_Minh days of the
event's ``occurred_at``. Events of a dossier the projection never saw submitted (before the topic's retention) are
ignored: it cannot say which procedure or centre they belong to."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from motcua_common.consumer import ChunkHandler, Handler
from motcua_common.contracts import (
    DossierEvent,
    DossierExtended,
    DossierOverdue,
    DossierRefused,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierSubmitted,
    DossierSupplemented,
    DossierSupplementRequested,
)
from motcua_common.events import CloudEvent
from motcua_common.legal_clock import VN_TZ

from . import repository

log = logging.getLogger("processing.measure")
AT_A_CENTRE = {"counter", "service_centre"}


def _units(row: asyncpg.Record) -> list[tuple[str, str]]:
    units = [("unit", row["unit_code"])]
    if row["centre_code"] is not None:
        units.append(("centre", row["centre_code"]))
    return units


class _CountSubmitted(ChunkHandler[repository.Submission]):
    """``dossier.submitted``: the submitted dossiers of a run of a chunk's events counted in one statement."""

    def prepare(self, event: CloudEvent) -> list[repository.Submission]:
        e = DossierSubmitted.model_validate(event.data)
        centre = e.receiving_unit_code
        if e.channel not in AT_A_CENTRE or centre == e.unit_code:
            centre = None
        return [
            repository.Submission(
                e.dossier_id,
                unit_code=e.unit_code,
                unit_name=e.unit_name,
                centre_code=centre,
                procedure_code=e.procedure_code,
                channel=e.channel,
                day=e.occurred_at.astimezone(VN_TZ).date(),
                deltas={
                    f"received_{e.channel}": 1,
                    "in_progress_delta": 1,
                    "components_total": e.components_total or 0,
                    "once_only_components": e.components_reused or 0,
                },
            )
        ]

    async def apply(self, conn: asyncpg.Connection, items: list[repository.Submission]) -> None:
        # The same dossier submitted twice (a producer retry under another event id) is counted once.
        await repository.count_submitted(conn, items)


async def _change(conn: asyncpg.Connection, e: DossierEvent) -> None:
    row = await repository.get_dossier(conn, e.dossier_id)
    if row is None:
        log.info("measure: %s for a dossier never seen submitted; ignored", e.event_type)
        return
    closed, overdue = row["closed"], row["overdue"]
    deltas: dict[str, Any] = {}

    def close() -> None:
        nonlocal closed, overdue
        if not closed:
            deltas["in_progress_delta"] = -1
            closed = True
        if overdue:
            deltas["overdue_delta"] = -1
            overdue = False

    match e:
        case DossierResultIssued():
            deltas[f"resolved_{e.timeliness}"] = 1
            if e.processing_working_days is not None:
                deltas.update(processing_days_sum=e.processing_working_days, processing_days_count=1)
            close()
        case DossierRejected() | DossierRefused():
            deltas["refusals"] = 1
            close()
        case DossierResultReturned():
            if e.return_method == "online":
                deltas["results_electronic"] = 1
        case DossierSupplementRequested():
            deltas["supplement_requests"] = 1
        case DossierOverdue():
            if not closed and not overdue:
                deltas["overdue_delta"] = 1
                overdue = True
        case DossierExtended() | DossierSupplemented():
            if overdue and e.due_at > e.occurred_at:  # a new due date ahead: no longer overdue
                deltas["overdue_delta"] = -1
                overdue = False
    if not deltas:
        return
    if (closed, overdue) != (row["closed"], row["overdue"]):
        await repository.mark_dossier(conn, e.dossier_id, closed=closed, overdue=overdue)
    await repository.bump(conn, e.occurred_at.astimezone(VN_TZ).date(), _units(row), row["procedure_code"], deltas)


def _on(model: type[DossierEvent], apply: Callable[[asyncpg.Connection, Any], Awaitable[None]]) -> Handler:
    async def handle(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await apply(conn, model.model_validate(event.data))

    return handle


CHANGES: tuple[type[DossierEvent], ...] = (
    DossierResultIssued,
    DossierRejected,
    DossierRefused,
    DossierResultReturned,
    DossierSupplementRequested,
    DossierOverdue,
    DossierExtended,
    DossierSupplemented,
)


def make_handlers() -> dict[str, Handler]:
    """The projection consumer's handlers (event types it does not count are skipped by the consumer)."""
    return {DossierSubmitted.type_name(): _CountSubmitted()} | {m.type_name(): _on(m, _change) for m in CHANGES}
