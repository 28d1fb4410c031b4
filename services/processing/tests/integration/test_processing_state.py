"""Integrators can rebuild: every dossier event carries the dossier's sequence number (1 = submitted, then 2, 3…
in processing's commit order), and a system that joins late rebuilds each dossier from the compacted state topic
alone. The processing consumer's lag is on /metrics."""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from motcua_common.auth import APPROVER, RECEIVING_OFFICER
from motcua_common.contracts import DOSSIER_EVENTS, DossierState
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, build_event
from motcua_common.kafka import client_options
from motcua_common.testing import kafka_admin_settings
from motcua_common.testing_auth import TestIssuer
from processing import repository, service

UNIT = "000.00.01.H29"


@pytest.fixture(scope="module")
def tok(issuer: TestIssuer) -> SimpleNamespace:
    return SimpleNamespace(
        officer=issuer.bearer(issuer.officer(UNIT, RECEIVING_OFFICER, sub="cb-state")),
        approver=issuer.bearer(issuer.officer(UNIT, APPROVER, sub="ld-state")),
    )


async def _read(settings, topic: str, key: str, until) -> list[CloudEvent]:
    """Read ``topic`` from the beginning in a new consumer group (a system joining late) until ``until(events)``
    holds for the CloudEvents of ``key``."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(kafka_admin_settings(settings.kafka_bootstrap)),
        group_id=f"test-late-joiner-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[CloudEvent] = []
    deadline = time.monotonic() + 60
    try:
        while not until(found):
            assert time.monotonic() < deadline, f"{topic}: only {[e.type for e in found]} arrived for {key}"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [CloudEvent.model_validate_json(r.value) for r in records if r.key == key.encode()]
    finally:
        await consumer.stop()
    return found


async def test_a_late_joiner_rebuilds_the_dossier_from_the_state_topic(app, settings, client, make_submission, tok):
    data, _ = make_submission(unit_code=UNIT, applicant="sub-state-applicant")
    submitted = build_event(data.in_sequence(1), source="/motcua/intake", subject=data.dossier_code)
    assert submitted.sequence == "0000000001"
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.dossier_topic,
            submitted.model_dump_json(exclude_none=True).encode(),
            key=str(data.dossier_id).encode(),
            headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
        )
    finally:
        await producer.stop()
    code, key = data.dossier_code, str(data.dossier_id)
    async with asyncio.timeout(60):  # the processing consumer opens the case
        while (await client.get(f"/api/v1/dossiers/{code}", headers=tok.officer)).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    for action, headers, body in (
        ("accept", tok.officer, {}),
        ("approve", tok.approver, {}),
        ("issue-result", tok.approver, {}),
        ("return-result", tok.officer, {"method": "online"}),
    ):
        resp = await client.post(f"/api/v1/dossiers/{code}/actions/{action}", json=body, headers=headers)
        assert resp.status_code == 200, resp.text

    # The dossier topic: 1 (intake's submitted), then processing's 2..5, contiguous, in order.
    events = await _read(settings, settings.dossier_topic, key, lambda found: len(found) >= 5)
    assert [e.type for e in events] == [
        "vn.motcua.dossier.submitted.v2",
        "vn.motcua.dossier.accepted.v1",
        "vn.motcua.dossier.approved.v1",
        "vn.motcua.dossier.result_issued.v1",
        "vn.motcua.dossier.result_returned.v1",
    ]
    assert [e.sequence for e in events] == [f"{n:010d}" for n in range(1, 6)]
    assert [e.sequence_number for e in events] == [1, 2, 3, 4, 5]
    for event in events:
        DOSSIER_EVENTS[event.type].model_validate(event.data)

    # The state topic alone: the latest state per key is the dossier's final one, with the right sequence.
    states = await _read(
        settings,
        settings.dossier_state_topic,
        key,
        lambda found: bool(found) and found[-1].sequence_number == 5,
    )
    assert all(s.type == DossierState.type_name() and s.subject == code for s in states)
    assert [s.sequence_number for s in states] == [1, 2, 3, 4, 5]
    final = DossierState.model_validate(states[-1].data)
    assert final.sequence == 5 and final.dossier_id == data.dossier_id and final.dossier_code == code
    assert (final.status, final.status_label, final.current_step) == ("completed", "Đã trả kết quả", None)
    assert (final.procedure_code, final.procedure_name, final.procedure_version) == (
        data.procedure_code,
        data.procedure_name,
        data.procedure_version,
    )
    assert (final.unit_code, final.unit_name, final.channel) == (data.unit_code, data.unit_name, data.channel)
    assert final.applicant.model_dump() == {"kind": "citizen", "subject": "sub-state-applicant", "tax_code": None}
    assert final.received_at == data.received_at and final.due_at == final.legal_due_at > data.received_at
    assert final.completed_at is not None and final.timeliness == "early"
    first = DossierState.model_validate(states[0].data)
    assert (first.status, first.sequence, first.current_step) == ("submitted", 1, "receive")
    assert "Trần" not in json.dumps([s.data for s in states], ensure_ascii=False)  # no personal data

    # The processing consumer reports its lag on the app's /metrics, per partition of the dossier topic (after its
    # next offset commit: it may be waiting for a fetch when the state topic has been read).
    group = settings.consumer_group_prefix + "processing"
    lag: dict[tuple[str, str, str], float] = {}
    deadline = time.monotonic() + 10
    while not any(g == group for g, _, _ in lag) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        text = (await client.get("/metrics")).text
        lag = {
            (s.labels["consumergroup"], s.labels["topic"], s.labels["partition"]): s.value
            for family in text_string_to_metric_families(text)
            if family.name == "kafka_consumergroup_lag"
            for s in family.samples
        }
    assert {t for g, t, _ in lag if g == group} == {settings.dossier_topic}
    assert all(value >= 0 for value in lag.values())


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=7)], ids=["utc", "hanoi"])
async def test_the_opening_state_is_the_one_the_row_gives(app, settings, make_submission, open_case, offset):
    """Case opening writes its state event (number 1) in the statement that inserts the dossier, built from what it
    inserts: the same event as ``state_event`` of the row read back (times in UTC whatever the submission's offset,
    the row's defaults), on the state topic, keyed by the dossier id."""
    received = datetime.now(UTC).replace(microsecond=123456).astimezone(timezone(offset))
    data, event = make_submission(
        unit_code=UNIT, received_at=received, receiving_unit_code="000.00.01.H29", channel="service_centre"
    )
    await open_case(event)
    async with app.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT topic, key, event_type, payload, headers FROM outbox WHERE key = $1", str(data.dossier_id)
        )
        dossier = await repository.get_dossier(conn, data.dossier_code)
    assert dossier is not None
    [row] = [r for r in rows if r["topic"] == settings.dossier_state_topic]
    expected = service.state_event(dossier, data.occurred_at)
    payload = dict(row["payload"])
    assert payload.pop("id") and payload.pop("time")
    assert payload == {
        "specversion": "1.0",
        "source": settings.event_source,
        "type": DossierState.type_name(),
        "subject": data.dossier_code,
        "datacontenttype": "application/json",
        "sequence": "0000000001",
        "data": expected.model_dump(mode="json", exclude={"event_type"}),
    }
    assert payload["data"]["received_at"].endswith("Z") and payload["data"]["legal_due_at"] == payload["data"]["due_at"]
    assert (row["key"], row["event_type"]) == (str(data.dossier_id), DossierState.type_name())
