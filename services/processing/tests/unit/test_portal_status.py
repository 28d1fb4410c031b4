"""The portal's status report built straight from the dossier event's JSON (issue 7) is the report the models build:
the same outbox row (payload, topic, key, headers) for every dossier event type of the contracts' examples and for
unusual spellings of the same values; what the models reject is still rejected."""

import asyncio
import importlib.util
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import TypeAdapter

from motcua_common.contracts import DOSSIER_EVENTS, DossierEvent
from motcua_common.events import CloudEvent, json_instant
from motcua_common.outbox import outbox_row
from processing.measure import portal

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location("gen_contracts", ROOT / "scripts" / "gen_contracts.py")
assert _spec is not None and _spec.loader is not None
gen_contracts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_contracts)

SETTINGS = SimpleNamespace(dossier_portal_topic="test.portal.events", event_source="/motcua/processing")
HANDLERS = portal.make_handlers(SETTINGS)  # type: ignore[arg-type]
CHANGES = sorted(HANDLERS)


class Recorder:
    """Stands in for the connection: keeps the outbox insert's parameters."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    async def execute(self, _sql: str, *args: Any) -> None:
        self.rows.append(args)


def quick(event: CloudEvent) -> tuple[Any, ...]:
    conn = Recorder()
    asyncio.run(HANDLERS[event.type](conn, event))  # type: ignore[arg-type]
    [(row_id, topic, key, event_type, payload, headers)] = conn.rows
    assert str(row_id) == payload["id"]
    return topic, key, event_type, _stable(payload), headers


def by_models(event: CloudEvent) -> tuple[Any, ...]:
    """What the handler wrote before: the report's model, its CloudEvent model, ``model_dump``."""
    model: type[DossierEvent] = DOSSIER_EVENTS[event.type]
    report = portal.status_event(model.model_validate(event.data))
    if event.sequence_number is not None:
        report.in_sequence(event.sequence_number)
    row = outbox_row(
        report,
        topic=SETTINGS.dossier_portal_topic,
        key=str(report.dossier_id),
        source=SETTINGS.event_source,
        subject=report.dossier_code,
    )
    return row.topic, row.key, row.event_type, _stable(row.payload), row.headers


def _stable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without what differs from one event to the next (checked for form instead)."""
    rest = dict(payload)
    assert rest.pop("id") and rest.pop("time").endswith("Z")
    return rest


def example(type_name: str, **changes: Any) -> CloudEvent:
    envelope = gen_contracts.example_envelope(type_name)
    envelope["data"] = {**envelope["data"], **changes}
    return CloudEvent.model_validate(envelope)


def test_every_reported_change_has_an_example():
    assert CHANGES and set(CHANGES) <= set(gen_contracts._examples())


@pytest.mark.parametrize("type_name", CHANGES)
def test_the_quick_report_is_the_models_report(type_name):
    event = example(type_name)
    assert quick(event) == by_models(event)
    assert portal.status_data(portal._Reads.of(DOSSIER_EVENTS[type_name]), event)  # the quick path, not the fallback


@pytest.mark.parametrize(
    "changes",
    [
        {"occurred_at": "2026-11-21T08:15:00+07:00"},
        {"occurred_at": "2026-11-21T01:15:00.1Z"},
        {"occurred_at": "2026-11-21T01:15:00.123456+00:00"},
        {"occurred_at": "2026-11-21T01:15:00-00:00"},
        {"occurred_at": "2026-11-21 01:15:00Z"},  # not the quick path's: the models' (same result)
        {"occurred_at": 1795000000},
        {"dossier_id": "3F2B8C1E-5D4A-4E6F-9A7B-1C2D3E4F5A6B"},
        {"dossier_id": "3f2b8c1e5d4a4e6f9a7b1c2d3e4f5a6b"},
        {"unit_code": "000.26.02.H29", "next_unit_code": ""},
        {"next_unit_code": "000.26.02.H29"},
        {"next_unit_code": None},
    ],
)
@pytest.mark.parametrize("type_name", ["vn.motcua.dossier.step_forwarded.v1", "vn.motcua.dossier.accepted.v1"])
def test_unusual_spellings_give_the_models_report(type_name, changes):
    event = example(type_name, **changes)
    assert quick(event) == by_models(event)


@pytest.mark.parametrize(
    "changes",
    [
        {"receiving_unit_code": "000.00.01.H29", "channel": "service_centre"},
        {"receiving_unit_code": None, "channel": "online"},
        {"appointment_at": "2026-11-26T10:00:00.5+07:00", "received_at": "2026-11-21T01:15:00Z"},
    ],
)
def test_submitted_variants(changes):
    event = example("vn.motcua.dossier.submitted.v2", **changes)
    assert quick(event) == by_models(event)


def test_no_sequence_and_no_trace():
    envelope = gen_contracts.example_envelope("vn.motcua.dossier.accepted.v1")
    for name in ("sequence", "traceparent"):
        envelope.pop(name, None)
    event = CloudEvent.model_validate(envelope)
    assert quick(event) == by_models(event)
    assert "sequence" not in quick(event)[3]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "completed"},  # not a status an acceptance can have
        {"dossier_id": "not-a-uuid"},
        {"occurred_at": "yesterday"},
        {"unit_code": 42},
        {"due_at": None},
    ],
)
def test_what_the_models_reject_is_rejected(changes):
    event = example("vn.motcua.dossier.accepted.v1", **changes)
    with pytest.raises(ValueError):
        by_models(event)
    with pytest.raises(ValueError):
        quick(event)


def test_json_instant_is_pydantic_json():
    adapter = TypeAdapter(datetime)
    for value in (
        datetime(2026, 11, 21, 1, 15, tzinfo=UTC),
        datetime(2026, 11, 21, 1, 15, 0, 100, tzinfo=UTC),
        datetime(2026, 11, 21, 8, 15, 0, 123456, tzinfo=timezone(timedelta(hours=7))),
        datetime(2026, 11, 21, 1, 15),
    ):
        assert json_instant(value) == adapter.dump_python(value, mode="json")
