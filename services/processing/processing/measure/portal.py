"""Reporting to the national public-service portal (issue 9) on its own topic (``settings.dossier_portal_topic``,
``motcua.portal.events``), through processing's outbox:

- every dossier status change: the ``processing-portal`` consumer group turns each dossier event (except the
  overdue and due-soon announcements, which change nothing) into ``vn.motcua.portal.dossier_status.v1`` in the
  transaction that records it in the inbox; key = dossier id and the dossier event's ``sequence``, so the portal
  receives one dossier's changes in order and can tell a gap;
- each unit's figures for the month just completed (``vn.motcua.portal.statistics.v1``), once per unit: the
  report is claimed in ``portal_reports`` in the transaction that writes its event."""

import datetime as dt
from typing import Any

import asyncpg

from motcua_common.consumer import Handler
from motcua_common.contracts import (
    DOSSIER_EVENTS,
    DossierDueSoon,
    DossierEvent,
    DossierOverdue,
    DossierSubmitted,
    PortalDossierStatus,
    PortalStatistics,
)
from motcua_common.events import CloudEvent
from motcua_common.legal_clock import VN_TZ
from motcua_common.outbox import enqueue

from ..domain import status_label
from ..settings import Settings
from . import domain, repository
from .service import figures_of

NOT_CHANGES = {DossierOverdue.type_name(), DossierDueSoon.type_name()}


def status_event(e: DossierEvent) -> PortalDossierStatus:
    """The portal's view of one dossier event: no personal data, the unit holding the dossier after it."""
    values: dict[str, Any] = {
        "dossier_id": e.dossier_id,
        "dossier_code": e.dossier_code,
        "occurred_at": e.occurred_at,
        "change": e.event_type,
        "status": e.status,
        "status_label": status_label(e.status),
        "unit_code": getattr(e, "next_unit_code", None) or getattr(e, "unit_code", ""),
        "due_at": getattr(e, "due_at", None),
        "timeliness": getattr(e, "timeliness", None),
    }
    if isinstance(e, DossierSubmitted):
        values.update(
            procedure_code=e.procedure_code,
            channel=e.channel,
            received_at=e.received_at,
            due_at=e.appointment_at,
            unit_code=e.receiving_unit_code or e.unit_code,
        )
    return PortalDossierStatus(**values)


def make_handlers(settings: Settings) -> dict[str, Handler]:
    def on(model: type[DossierEvent]) -> Handler:
        async def handle(conn: asyncpg.Connection, event: CloudEvent) -> None:
            report = status_event(model.model_validate(event.data))
            if event.sequence_number is not None:
                report.in_sequence(event.sequence_number)
            await enqueue(
                conn,
                report,
                topic=settings.dossier_portal_topic,
                key=str(report.dossier_id),
                source=settings.event_source,
                subject=report.dossier_code,
            )

        return handle

    return {name: on(model) for name, model in DOSSIER_EVENTS.items() if name not in NOT_CHANGES}


async def report_month(conn: asyncpg.Connection, settings: Settings, day: dt.date) -> int:
    """Report every unit's figures for the month containing ``day``, those not reported yet; returns how many."""
    start, end = domain.period_bounds("month", day)
    now = dt.datetime.now(dt.UTC)
    count = 0
    for kind in ("unit", "centre"):
        units = await repository.units(conn, kind)
        for fig in await figures_of(conn, kind, start, end, units, None):
            if not await repository.claim_report(conn, "month", start, kind, fig["unit_code"]):
                continue
            report = PortalStatistics(
                occurred_at=now,
                period="month",
                start=start.isoformat(),
                end=end.isoformat(),
                unit_code=fig["unit_code"],
                unit_name=fig["unit_name"],
                kind=fig["kind"],
                received=fig["received"],
                resolved=fig["resolved"],
                in_progress=fig["in_progress"],
                overdue=fig["overdue"],
                on_time_rate=fig["on_time_rate"],
                avg_processing_days=fig["avg_processing_days"],
                online_share=fig["online_share"],
                paid_online=fig["paid_online"],
                results_electronic=fig["results_electronic"],
                once_only_components=fig["once_only_components"],
                components_total=fig["components_total"],
                supplement_requests=fig["supplement_requests"],
                refusals=fig["refusals"],
                ratings=fig["satisfaction"]["ratings"],
                satisfaction_average=fig["satisfaction"]["average"],
            )
            await enqueue(
                conn,
                report,
                topic=settings.dossier_portal_topic,
                key=fig["unit_code"],
                source=settings.event_source,
                subject=fig["unit_code"],
            )
            count += 1
    return count


def last_month(now: dt.datetime | None = None) -> dt.date:
    """A day of the month before the current one (Asia/Ho_Chi_Minh)."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(VN_TZ).date()
    return today.replace(day=1) - dt.timedelta(days=1)
