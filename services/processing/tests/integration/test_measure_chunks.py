"""The statistics projection's chunk path (a fetch's submitted dossiers counted in one statement) against its
record-by-record path: the same records, applied once as one chunk and once one record at a time, each into a
fresh database, give identical counters, dossiers and units."""

import asyncio
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from motcua_common.consumer import EventConsumer
from motcua_common.contracts import DossierOverdue, DossierRejected, DossierResultIssued, DossierSubmitted
from motcua_common.db import create_pool
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, TYPE_HEADER, CloudEvent, build_event
from motcua_common.testing import create_database, drop_database, sample_submitted
from processing.main import MIGRATIONS
from processing.measure import projection

pytestmark = pytest.mark.integration

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = datetime(2026, 3, 9, 9, 0, tzinfo=VN)


def _records(events: list[CloudEvent]) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(
            topic="t",
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=event.model_dump_json().encode(),
            checksum=None,
            serialized_key_size=0,
            serialized_value_size=0,
            headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode()), (TYPE_HEADER, event.type.encode())],
        )
        for offset, event in enumerate(events)
    ]


def _events(unit: str, centre: str, centre2: str) -> tuple[list[CloudEvent], list[CloudEvent]]:
    """An earlier chunk and a chunk of submitted dossiers (several of one unit, day and procedure; a centre; a
    dossier submitted again under another event id; an event delivered twice; a code first counted as a centre and
    then as a unit, in one run; a unit renamed) with events of other types in between that need the dossiers before
    them."""

    def submitted(**fields) -> DossierSubmitted:
        at = fields.pop("at", DAY)
        return sample_submitted(**{"unit_code": unit, "unit_name": f"Đơn vị {unit}", "occurred_at": at, **fields})

    def event(data) -> CloudEvent:
        return build_event(data, source="/test", subject=data.dossier_code)

    def action(model, d: DossierSubmitted, minutes: int, **fields) -> CloudEvent:
        common = dict(dossier_id=d.dossier_id, dossier_code=d.dossier_code, unit_code=d.unit_code)
        at = DAY + timedelta(minutes=minutes)
        return event(model(**common, unit_name=d.unit_name, occurred_at=at, due_at=DAY + timedelta(days=3), **fields))

    earlier = submitted()
    a = submitted(components_total=4, components_reused=3)
    b = submitted(channel="counter", receiving_unit_code=centre, components_total=2)
    c = submitted()
    d = submitted(procedure_code="2.000001", at=DAY + timedelta(days=25))  # another procedure, April
    e = submitted(unit_code=centre2, unit_name=f"Trung tâm {centre2}")
    f = submitted(channel="post", unit_name="Tên mới")  # the unit renamed
    first_a = event(a)
    chunk = [
        first_a,
        event(b),
        event(c),
        event(c.model_copy(update={"occurred_at": DAY + timedelta(days=1)})),  # a retry in the same run
        action(DossierOverdue, a, 30, status="processing"),
        event(d),
        event(a.model_copy(update={"occurred_at": DAY + timedelta(days=1)})),  # a producer retry: another event id
        event(earlier),  # counted by the earlier chunk, again under another event id
        event(submitted(channel="service_centre", receiving_unit_code=centre2)),  # a new centre…
        event(f),
        event(e),  # …counted as a unit in the same run
        action(DossierResultIssued, b, 60, handler="cb", result_number="1/KQ", timeliness="early"),
        first_a,  # delivered twice
        action(DossierRejected, c, 90, handler="cb", reason="Không đủ điều kiện"),
    ]
    return [event(earlier)], chunk


async def _apply(settings, name: str, chunks: list[list[CloudEvent]], *, one_by_one: bool) -> dict:
    db = settings.model_copy(update={"database": f"{settings.database}_{name}_{uuid.uuid4().hex[:6]}"})
    await create_database(db, MIGRATIONS)
    pool = await create_pool(db.dsn, max_size=2)
    try:
        consumer = EventConsumer(
            "processing-measure",
            pool,
            settings=db,
            topics=["t"],
            handlers=projection.make_handlers(),
            producer=None,  # nothing is dead-lettered here
        )
        done: dict[TopicPartition, int] = {}
        for events in chunks:
            records = _records(events)
            for part in [[r] for r in records] if one_by_one else [records]:
                await consumer.handle_chunk(part, asyncio.Event(), done)
        return {
            table: [tuple(r.values()) for r in await pool.fetch(f"SELECT {columns} FROM {table} ORDER BY {order}")]
            for table, columns, order in (
                ("measure_counts", "*", "grain, kind, procedure_code, bucket, unit_code"),
                ("measure_dossiers", "*", "dossier_id"),
                ("measure_units", "*", "code"),
                ("inbox", "consumer, event_id, event_type", "event_id"),
            )
        } | {"transactions": await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM inbox")}
    finally:
        await pool.close()
        await drop_database(db)


async def test_a_chunk_counts_exactly_what_its_records_count_one_by_one(settings):
    unit, centre, centre2 = (f"{p}{uuid.uuid4().hex[:6]}.H29" for p in ("CK", "TT", "TC"))
    chunks = _events(unit, centre, centre2)
    one_by_one = await _apply(settings, "records", list(chunks), one_by_one=True)
    chunked = await _apply(settings, "chunk", list(chunks), one_by_one=False)

    assert chunked["transactions"] == 2, "the chunk was not applied in one transaction (it fell back to records)"
    assert one_by_one["transactions"] == 1 + len({e.id for e in chunks[1]})
    for table in ("measure_counts", "measure_dossiers", "measure_units", "inbox"):
        assert chunked[table] == one_by_one[table], table

    # And what they both say: March's row of the unit, every procedure.
    [month] = [r for r in chunked["measure_counts"] if r[:5] == ("month", "unit", "*", DAY.date().replace(day=1), unit)]
    counters = dict(
        zip(
            ("received_online", "received_counter", "received_service_centre", "received_post"), month[5:9], strict=True
        )
    )
    assert counters == {"received_online": 3, "received_counter": 1, "received_service_centre": 1, "received_post": 1}
    units = {r[0]: r[1:] for r in chunked["measure_units"]}
    assert units[unit] == ("Tên mới", "unit") and units[centre] == (centre, "centre")
    assert units[centre2] == (f"Trung tâm {centre2}", "centre")  # named by its unit, kind of its first use
