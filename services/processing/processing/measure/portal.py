"""Reporting to the national public-service portal (issue 9) on its own topic (``settings.dossier_portal_topic``,
``motcua.portal.events``), through processing's outbox:

- every dossier status change: the ``processing-portal`` consumer group turns each dossier event (except the
  overdue and due-soon announcements, which change nothing) into ``vn.motcua.portal.dossier_status.v1`` in the
  transaction that records it in the inbox; key = dossier id and the dossier event's ``sequence``, so the portal
  receives one dossier's changes in order and can tell a gap;
- each unit's figures for the month just completed (``vn.motcua.portal.statistics.v1``), once per unit: the
  report is claimed in ``portal_reports`` in the transaction that writes its event."""

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

import asyncpg

from motcua_common.consumer import Handler, OutboxHandler
from motcua_common.contracts import (
    DOSSIER_EVENTS,
    Channel,
    DossierDueSoon,
    DossierEvent,
    DossierOverdue,
    DossierSubmitted,
    PortalDossierStatus,
    PortalStatistics,
)
from motcua_common.events import CloudEvent, json_instant
from motcua_common.legal_clock import VN_TZ
from motcua_common.outbox import OutboxRow, enqueue, json_row

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


# --- the same report without building models (issue 7: the models were about a sixth of processing's CPU per event)

STATUS_EVENT = PortalDossierStatus.type_name()
CHANNELS = frozenset(get_args(Channel))
TIMELINESS = frozenset(("early", "on_time", "late"))
# The date-times the quick path copies: what pydantic reads and writes the same way as datetime.fromisoformat and
# json_instant (anything else, e.g. a Unix time or a basic-format date, goes through the models).
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")


class _Unusual(Exception):
    """A value the quick path cannot vouch to copy as the models would: the models build that report (and reject
    what is invalid, so the consumer retries and dead-letters it as before)."""


@dataclass(frozen=True)
class _Reads:
    """What :func:`status_event` reads of one dossier event type, from its model."""

    statuses: frozenset[str]
    status_default: str | None
    next_unit: bool  # has next_unit_code
    due: bool  # has due_at (required wherever it exists)
    timeliness: bool  # has timeliness (required wherever it exists)

    @classmethod
    def of(cls, model: type[DossierEvent]) -> "_Reads":
        fields = model.model_fields
        status = fields["status"]
        for name in ("due_at", "timeliness"):
            assert name not in fields or fields[name].is_required(), f"{model.__name__}.{name} became optional"
        return cls(
            statuses=frozenset(get_args(status.annotation)),
            status_default=None if status.is_required() else status.default,
            next_unit="next_unit_code" in fields,
            due="due_at" in fields,
            timeliness="timeliness" in fields,
        )


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise _Unusual(name)
    return value


def _instant(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise _Unusual(name)
    return json_instant(dt.datetime.fromisoformat(value))


def status_data(reads: _Reads, event: CloudEvent) -> dict[str, Any]:
    """``status_event(model.model_validate(event.data)).model_dump(mode="json", exclude={"event_type"})`` read straight
    from the event's JSON: the same dict (``tests/unit/test_portal_status.py``). Checks the fields it copies as the
    models would (the other fields of the dossier event are not the portal's: not validated here); raises
    ``_Unusual`` for anything it cannot vouch for."""
    data = event.data
    dossier_id = _text(data, "dossier_id")
    if len(dossier_id) != 36 or str(uuid.UUID(dossier_id)) != dossier_id:
        raise _Unusual("dossier_id")
    status = data.get("status", reads.status_default)
    if status not in reads.statuses:
        raise _Unusual("status")
    unit_code = _text(data, "unit_code")
    if reads.next_unit:
        next_unit = data.get("next_unit_code")
        if next_unit is not None and not isinstance(next_unit, str):
            raise _Unusual("next_unit_code")
        unit_code = next_unit or unit_code
    timeliness = data["timeliness"] if reads.timeliness else None
    if reads.timeliness and timeliness not in TIMELINESS:
        raise _Unusual("timeliness")
    values: dict[str, Any] = {
        "dossier_id": dossier_id,
        "dossier_code": _text(data, "dossier_code"),
        "occurred_at": _instant(data, "occurred_at"),
        "change": event.type,
        "status": status,
        "status_label": status_label(status),
        "unit_code": unit_code,
        "procedure_code": None,
        "channel": None,
        "received_at": None,
        "due_at": _instant(data, "due_at") if reads.due else None,
        "timeliness": timeliness,
    }
    if event.type == DossierSubmitted.type_name():
        receiving = data.get("receiving_unit_code")
        if receiving is not None and not isinstance(receiving, str):
            raise _Unusual("receiving_unit_code")
        channel = data["channel"]
        if channel not in CHANNELS:
            raise _Unusual("channel")
        values.update(
            procedure_code=_text(data, "procedure_code"),
            channel=channel,
            received_at=_instant(data, "received_at"),
            due_at=_instant(data, "appointment_at"),
            unit_code=receiving or unit_code,
        )
    return values


def make_handlers(settings: Settings) -> dict[str, Handler]:
    """One outbox row per dossier event (the consumer inserts a chunk's rows in one statement)."""

    def on(model: type[DossierEvent]) -> Handler:
        reads = _Reads.of(model)

        def rows(event: CloudEvent) -> list[OutboxRow]:
            try:
                data = status_data(reads, event)
            except (_Unusual, KeyError, ValueError):  # the models' way: the same report, or the error
                data = status_event(model.model_validate(event.data)).model_dump(mode="json", exclude={"event_type"})
            report = json_row(
                STATUS_EVENT,
                data,
                topic=settings.dossier_portal_topic,
                key=data["dossier_id"],
                source=settings.event_source,
                subject=data["dossier_code"],
                sequence=event.sequence_number,
            )
            return [report]

        return OutboxHandler(rows)

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
