"""EventConsumer and the ``ce_type`` record header (issue 7), on the real broker and PostgreSQL: a record whose header
names a type the consumer does not handle is skipped without being parsed (a broken value is not dead-lettered: the
consumers of its type do that) and its offset is committed; the consumer's own types are handled once, in one
transaction per chunk, through the inbox; records without the header (other producers) are handled as before,
including the dead letter of a broken one."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, TYPE_HEADER, CloudEvent
from motcua_common.kafka import client_options, make_producer
from motcua_common.testing import RUN_ID, kafka_admin_settings

from .conftest import EVENT_TYPE, dead_letters, event_consumer

OTHER_TYPE = "vn.motcua.test.other.v1"
CONTENT_TYPE = ("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())


def _event(event_type: str, n: int) -> bytes:
    return CloudEvent(source="/test", type=event_type, subject=f"D-{n}", data={"n": n}).model_dump_json().encode()


def _record(value: bytes, type_header: str | None) -> tuple[bytes, list[tuple[str, bytes]]]:
    headers = [CONTENT_TYPE] + ([(TYPE_HEADER, type_header.encode())] if type_header is not None else [])
    return value, headers


async def _send(settings, topic: str, records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
    """All on partition 0, in this order (one fetch usually returns them together)."""
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        for value, headers in records:
            await producer.send(topic, value, key=b"dossier", partition=0, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def _dead_letter_offsets(settings, dlq: str) -> list[int]:
    return [int(dict(r.headers)["dlq-original-offset"]) for r in await dead_letters(settings, dlq)]


@pytest.mark.parametrize("headerless_poison", [False, True], ids=["chunk", "record-by-record"])
async def test_records_of_other_types_are_skipped_by_their_header_unparsed(db_settings, topic, pool, headerless_poison):
    records = [
        _record(b"{not json at all", OTHER_TYPE),  # 0: not ours by its header: never parsed, so not dead-lettered
        _record(_event(EVENT_TYPE, 0), EVENT_TYPE),  # 1: ours
        _record(_event(OTHER_TYPE, 100), None),  # 2: no header (another producer): parsed, then skipped
        _record(_event(OTHER_TYPE, 101), OTHER_TYPE),  # 3: not ours by its header
        _record(_event(EVENT_TYPE, 1), EVENT_TYPE),  # 4: ours
        _record(_event(EVENT_TYPE, 2), None),  # 5: ours, no header: handled as before
    ]
    if headerless_poison:  # a broken record without the header is dead-lettered as before (the chunk then goes
        records.insert(3, _record(b"{still not json", None))  # record by record)
    await _send(db_settings, topic, records)
    stop = asyncio.Event()
    handled: list[int] = []

    async def handle(conn, event):
        await conn.execute(
            "INSERT INTO effects (event_id, n, txid) VALUES ($1, $2, txid_current())", event.id, event.data["n"]
        )
        handled.append(event.data["n"])
        if event.data["n"] == 2:
            stop.set()

    group = f"test-{RUN_ID}-type-header-{uuid.uuid4().hex[:6]}"
    producer = make_producer(db_settings)
    await producer.start()
    try:
        consumer = event_consumer(db_settings, pool, producer, topic, handle, group)
        try:
            async with asyncio.timeout(60):
                await consumer.run(stop)
        except TimeoutError:
            pass  # the assertions say what is missing
    finally:
        await producer.stop()

    effects = await pool.fetch("SELECT n, txid FROM effects ORDER BY n")
    assert [r["n"] for r in effects] == [0, 1, 2] and handled == [0, 1, 2], "each of ours exactly once, in order"
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group) == 3, "only ours in the inbox"
    if not headerless_poison:
        assert len({r["txid"] for r in effects}) == 1, "skipped records do not split the chunk's transaction"
    poison_offset = [3] if headerless_poison else []
    assert await _dead_letter_offsets(db_settings, f"{topic}.dlq") == poison_offset

    # Every record is finished, skipped ones included: the group's committed offset is the end of the partition.
    check = AIOKafkaConsumer(**client_options(kafka_admin_settings(db_settings.kafka_bootstrap)), group_id=group)
    await check.start()
    try:
        assert await check.committed(TopicPartition(topic, 0)) == len(records)
    finally:
        await check.stop()


async def test_a_record_of_ours_by_its_header_but_broken_is_dead_lettered(db_settings, topic, pool):
    await _send(db_settings, topic, [_record(b"{broken", EVENT_TYPE), _record(_event(EVENT_TYPE, 7), EVENT_TYPE)])
    stop = asyncio.Event()

    async def handle(conn, event):
        stop.set()

    producer = make_producer(db_settings)
    await producer.start()
    try:
        consumer = event_consumer(
            db_settings, pool, producer, topic, handle, f"test-{RUN_ID}-type-header-{uuid.uuid4().hex[:6]}"
        )
        try:
            async with asyncio.timeout(60):
                await consumer.run(stop)
        except TimeoutError:
            pass
    finally:
        await producer.stop()
    assert stop.is_set(), "the valid event after the broken one was handled"
    assert await _dead_letter_offsets(db_settings, f"{topic}.dlq") == [0]
