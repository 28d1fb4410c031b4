"""Across services: intake numbers a dossier's first event 1, processing continues 2, 3… on the dossier topic, and
a system joining late rebuilds the dossier from the state topic alone."""

import uuid

from aiokafka import AIOKafkaConsumer

from motcua_common.events import CloudEvent
from motcua_common.kafka import client_options
from motcua_common.settings import ServiceSettings

from .conftest import STATE, TOPIC, eventually
from .test_flow import HOA, opened_by_processing, submit


async def _events_of(topic: str, dossier_id: str, settings: ServiceSettings, count: int) -> list[CloudEvent]:
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"test-e2e-sequence-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[CloudEvent] = []
    try:

        async def enough():
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(CloudEvent.model_validate_json(r.value) for r in records if r.key == dossier_id.encode())
            return len(found) >= count

        await eventually(enough)
    finally:
        await consumer.stop()
    return found


async def test_intake_numbers_the_first_event_and_processing_the_next_ones(api, system, actors):
    resp = await submit(api, actors["citizen An"])
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]
    view = await opened_by_processing(api, code, actors[HOA])
    accepted = await api.post(f"/api/v1/dossiers/{code}/actions/accept", json={}, headers=actors[HOA])
    assert accepted.status_code == 200, accepted.text

    reader = system.settings["notify"]  # a service allowed to read both topics (test ACLs: the `test.` prefix)
    events = await _events_of(TOPIC, view["id"], reader, 2)
    assert [(e.type, e.source, e.sequence) for e in events] == [
        ("vn.motcua.dossier.submitted.v2", "/motcua/intake", "0000000001"),
        ("vn.motcua.dossier.accepted.v1", "/motcua/processing", "0000000002"),
    ]
    states = await _events_of(STATE, view["id"], reader, 2)
    assert [(s.sequence_number, s.data["status"], s.data["sequence"]) for s in states] == [
        (1, "submitted", 1),
        (2, "processing", 2),
    ]
    assert states[-1].data["applicant"]["kind"] == "citizen" and "full_name" not in states[-1].data["applicant"]
