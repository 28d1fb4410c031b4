"""The statistics projection on the real PostgreSQL and Kafka: dossiers submitted through the topic and driven
through the engine at chosen instants; the projection's consumer group counts their events; the public figures,
ranking, series and index read them; a redelivered event counts once; the topic replayed from the beginning into
empty tables by a fresh consumer group gives the same counters; a national portal simulator receives every
status change and the month's figures."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from motcua_common.auth import UNIT_HEAD, Principal
from motcua_common.consumer import EventConsumer
from motcua_common.contracts import PortalDossierStatus, PortalStatistics
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, format_sequence, parse_event
from motcua_common.kafka import client_options, make_producer
from motcua_common.settings import ServiceSettings
from motcua_common.testing import RUN_ID, create_database, drop_database, kafka_admin_settings
from processing import service
from processing.domain import ActionRequest
from processing.main import MIGRATIONS
from processing.measure import portal, projection

pytestmark = pytest.mark.integration

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 9, 9, 0, tzinfo=VN)  # a working week without holidays; due Thursday 12 March


def _head(unit: str) -> Principal:
    return Principal(
        kind="officer", subject=f"head-{unit}", client_id="test", unit_code=unit, roles=frozenset({UNIT_HEAD})
    )


async def publish_events(settings, *events: CloudEvent) -> None:
    """Publish CloudEvents to the run's dossier topic as intake's relay would (key = dossier id)."""
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                settings.dossier_topic,
                event.model_dump_json().encode(),
                key=str(event.data["dossier_id"]).encode(),
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
            )
    finally:
        await producer.stop()


async def until(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 60) -> Any:
    try:
        async with asyncio.timeout(seconds):
            while True:
                if value := await check():
                    return value
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.fixture
def dossiers(app, settings, make_submission):
    """Submit dossiers through the topic (processing's consumer opens them, the projection counts them) and act on
    them at chosen instants with the unit head's roles."""

    class Drive:
        events: dict[str, CloudEvent] = {}

        @staticmethod
        async def submit(unit: str, at: datetime = MONDAY, **kw: Any) -> str:
            data, event = make_submission(unit_code=unit, received_at=at, due_in=timedelta(days=3), **kw)
            event.sequence = format_sequence(1)  # as intake numbers it
            Drive.events[data.dossier_code] = event
            await publish_events(settings, event)
            pool = app.state.pool
            await until(
                lambda: pool.fetchval("SELECT 1 FROM dossiers WHERE id = $1", data.dossier_id), "the case to open"
            )
            return data.dossier_code

        @staticmethod
        async def act(code: str, unit: str, kind: str, at: datetime, **kw: Any) -> None:
            request = ActionRequest(kind=kind, **kw)
            async with app.state.pool.acquire() as conn, conn.transaction():
                await service.act(conn, settings, app.state.clock, code, request, _head(unit), now=at)

        @staticmethod
        async def complete(code: str, unit: str, issued: datetime, method: str = "online") -> None:
            await Drive.act(code, unit, "receive", MONDAY + timedelta(minutes=10))
            await Drive.act(code, unit, "approve", MONDAY + timedelta(minutes=20))
            await Drive.act(code, unit, "issue_result", issued)
            await Drive.act(code, unit, "return_result", issued + timedelta(minutes=5), return_method=method)

    return Drive


async def _stats(client, unit: str, kind: str = "unit", period: str = "month", day: str = "2026-03-09") -> dict:
    resp = await client.get(
        "/api/v1/public/statistics", params={"period": period, "date": day, "kind": kind, "unit": unit}
    )
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    return items[0] if items else {}


async def _counters(pool: asyncpg.Pool, units: list[str]) -> list[tuple]:
    rows = await pool.fetch(
        "SELECT * FROM measure_counts WHERE unit_code = ANY($1)"
        " ORDER BY grain, kind, procedure_code, bucket, unit_code",
        units,
    )
    return [tuple(r.values()) for r in rows]


async def test_figures_from_the_events(app, client, settings, dossiers):
    unit, centre = f"MS{uuid.uuid4().hex[:6]}.H29", f"TT{uuid.uuid4().hex[:6]}.H29"
    early = await dossiers.submit(unit, components_total=4, components_reused=3)
    late = await dossiers.submit(unit, channel="counter", receiving_unit_code=centre, components_total=2)
    refused = await dossiers.submit(unit)
    waiting = await dossiers.submit(unit)
    await dossiers.submit(unit)  # stays open until after its due date: overdue
    await dossiers.complete(early, unit, MONDAY + timedelta(hours=5))  # Monday 14:00: early
    await dossiers.complete(late, unit, datetime(2026, 3, 16, 10, 0, tzinfo=VN), method="counter")  # after the 12th
    await dossiers.act(refused, unit, "refuse", MONDAY + timedelta(hours=1), reason="Không thuộc thẩm quyền")
    await dossiers.act(
        waiting,
        unit,
        "request_supplement",
        MONDAY + timedelta(hours=1),
        reason="Thiếu tờ khai",
        components_requested=("Tờ khai",),
    )
    async with app.state.pool.acquire() as conn, conn.transaction():  # the detector's pass on 20 March
        await service.detect_deadlines(conn, settings, now=datetime(2026, 3, 20, 9, 0, tzinfo=VN), limit=10_000)

    fig = await until(
        lambda: _stats_when(client, unit, lambda f: f["overdue"] == 1 and f["resolved"]["total"] == 2),
        "the projection to count the unit's events",
    )
    assert fig["kind"] == "unit" and fig["unit_name"] == f"Đơn vị {unit}"
    assert fig["received"] == {"online": 4, "counter": 1, "service_centre": 0, "post": 0, "total": 5}
    assert fig["resolved"] == {"early": 1, "on_time": 0, "late": 1, "total": 2}
    assert fig["on_time_rate"] == 0.5 and fig["online_share"] == 0.8
    assert fig["in_progress"] == 2 and fig["overdue"] == 1  # waiting (clock paused: not overdue) and overdue
    assert fig["refusals"] == 1 and fig["supplement_requests"] == 1
    assert fig["results_electronic"] == 1  # the early one was returned online, the late one at the counter
    assert fig["once_only_components"] == 3 and fig["components_total"] == 6
    assert fig["paid_online"] == 0  # no payments on the platform yet
    # Monday 09:00 -> 14:00 is 4 office hours (lunch left out): half a working day; the late one 5 working days.
    assert fig["avg_processing_days"] is not None and 2.5 < fig["avg_processing_days"] < 3.0
    assert fig["satisfaction"] == {"ratings": 0, "average": None, "satisfied_share": None}

    at_centre = await _stats(client, centre, kind="centre")
    assert at_centre["kind"] == "centre"
    assert at_centre["received"]["counter"] == 1 and at_centre["received"]["total"] == 1
    assert at_centre["resolved"] == {"early": 0, "on_time": 0, "late": 1, "total": 1}

    # A day: what happened that day; the stocks at its end (nothing resolved or overdue yet on the 9th).
    day = await _stats(client, unit, period="day")
    assert day["received"]["total"] == 5 and day["resolved"]["total"] == 1 and day["in_progress"] == 3
    assert day["overdue"] == 0
    # A year rolls the months up; April carries March's stocks.
    year = await _stats(client, unit, period="year")
    assert year["received"] == fig["received"] and year["resolved"] == fig["resolved"]
    april = await _stats(client, unit, day="2026-04-15")
    assert april["received"]["total"] == 0 and april["in_progress"] == 2 and april["overdue"] == 1

    resp = await client.get(
        f"/api/v1/public/units/{unit}/statistics", params={"from": "2026-01-01", "to": "2026-04-30"}
    )
    assert resp.status_code == 200, resp.text
    series = resp.json()["series"]
    assert [s["start"] for s in series] == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert [s["received"]["total"] for s in series] == [0, 0, 5, 0]
    assert [s["in_progress"] for s in series] == [0, 0, 2, 2]

    # Redelivery: intake's submitted event again (same CloudEvent id) is not counted twice. A marker dossier
    # published after it shows the consumer has passed it.
    await publish_events(settings, dossiers.events[early])
    marker = f"MK{uuid.uuid4().hex[:6]}.H29"
    await dossiers.submit(marker)
    await until(lambda: _stats_when(client, marker, lambda f: f["received"]["total"] == 1), "the marker")
    again = await _stats(client, unit)
    assert again["received"]["total"] == 5 and again["in_progress"] == 2


async def _stats_when(client, unit: str, ready: Callable[[dict], bool]) -> dict | None:
    fig = await _stats(client, unit)
    return fig if fig and ready(fig) else None


async def test_replay_from_the_beginning_gives_the_same_counters(app, client, settings, dossiers):
    """A fresh consumer group reads the run's whole topic into an empty database: the counters of this test's units
    (and of every unit the run has touched so far) are the same as the live projection's."""
    unit, centre = f"RP{uuid.uuid4().hex[:6]}.H29", f"TT{uuid.uuid4().hex[:6]}.H29"
    first = await dossiers.submit(unit, channel="service_centre", receiving_unit_code=centre)
    second = await dossiers.submit(unit)
    await dossiers.complete(first, unit, MONDAY + timedelta(hours=3))
    await dossiers.act(second, unit, "receive", MONDAY + timedelta(hours=1))
    live_pool = app.state.pool
    await until(
        lambda: _stats_when(client, unit, lambda f: f["resolved"]["total"] == 1 and f["results_electronic"] == 1),
        "the live projection",
    )
    live = await _counters(live_pool, [unit, centre])
    assert live, "the live projection counted nothing"

    replay_settings = settings.model_copy(update={"database": f"{settings.database}_replay"})
    await create_database(replay_settings, MIGRATIONS)
    pool = await asyncpg.create_pool(replay_settings.dsn, min_size=1, max_size=2)
    producer = make_producer(settings)
    await producer.start()
    stop = asyncio.Event()
    consumer = EventConsumer(
        f"{settings.consumer_group_prefix}measure-replay-{uuid.uuid4().hex[:6]}",
        pool,
        settings=settings,
        topics=[settings.dossier_topic],
        handlers=projection.make_handlers(),
        producer=producer,
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        assert await pool.fetchval("SELECT count(*) FROM measure_counts") == 0
        await until(lambda: _same(pool, [unit, centre], live), "the replay to reach the live counters")
        # Every unit the run has counted so far, not only this test's.
        everything = await live_pool.fetch("SELECT DISTINCT unit_code FROM measure_counts")
        units = [r["unit_code"] for r in everything]
        await until(lambda: _same_now(pool, live_pool, units), "the replay to match every unit")
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await drop_database(replay_settings)


async def _same(pool: asyncpg.Pool, units: list[str], expected: list[tuple]) -> bool:
    return await _counters(pool, units) == expected


async def _same_now(pool: asyncpg.Pool, live_pool: asyncpg.Pool, units: list[str]) -> bool:
    return await _counters(pool, units) == await _counters(live_pool, units)


async def test_the_national_portal_receives_every_change_complete_and_in_order(app, settings, dossiers):
    """A portal simulator reads the run's portal topic as the `national-portal` Kafka user: every status change of
    each dossier arrives once, complete (it validates against its contract, without personal data) and in the
    dossier's order; the month's figures arrive once per unit."""
    portal_user = ServiceSettings(service_name="national-portal", kafka_bootstrap=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(
        settings.dossier_portal_topic,
        **client_options(portal_user),
        group_id=f"test-{RUN_ID}-national-portal-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[tuple[bytes, CloudEvent]] = []

    async def simulate() -> None:
        async for record in consumer:
            received.append((record.key, parse_event(record.value)))

    portal_task = asyncio.create_task(simulate())
    try:
        unit = f"NP{uuid.uuid4().hex[:6]}.H29"
        done = await dossiers.submit(unit)
        refused = await dossiers.submit(unit)
        await dossiers.complete(done, unit, MONDAY + timedelta(hours=2))
        await dossiers.act(refused, unit, "refuse", MONDAY + timedelta(hours=1), reason="Không thuộc thẩm quyền")

        def of(code: str) -> list[tuple[bytes, CloudEvent]]:
            return [(k, e) for k, e in received if e.subject == code and e.type == PortalDossierStatus.type_name()]

        async def arrived() -> bool:
            return len(of(done)) >= 5 and len(of(refused)) >= 2

        await until(arrived, "the portal to receive both dossiers' changes")
        for code, changes in (
            (done, ["submitted", "accepted", "approved", "result_issued", "result_returned"]),
            (refused, ["submitted", "refused"]),
        ):
            events = of(code)
            reports = [PortalDossierStatus.model_validate(e.data) for _, e in events]
            assert [r.change for r in reports] == [
                f"vn.motcua.dossier.{c}.v{2 if c == 'submitted' else 1}" for c in changes
            ]
            assert [e.sequence_number for _, e in events] == list(range(1, len(changes) + 1)), code
            assert {k for k, _ in events} == {str(reports[0].dossier_id).encode()}
            assert reports[0].procedure_code == "1.001193" and reports[0].channel == "online"
            assert all(r.unit_code == unit and r.status_label for r in reports)
            assert all("applicant" not in e.data and "submitted_by" not in e.data for _, e in events)
        assert PortalDossierStatus.model_validate(of(done)[-1][1].data).status == "completed"
        assert PortalDossierStatus.model_validate(of(done)[3][1].data).timeliness == "early"

        # The month's figures, once per unit however often the reporting runs.
        await until(
            lambda: _stats_when_pool(app.state.pool, unit), "the projection to count the unit before the report"
        )
        async with app.state.pool.acquire() as conn, conn.transaction():
            assert await portal.report_month(conn, settings, MONDAY.date()) >= 1
        async with app.state.pool.acquire() as conn, conn.transaction():
            assert await portal.report_month(conn, settings, MONDAY.date()) == 0

        def figures() -> list[CloudEvent]:
            return [e for _, e in received if e.type == PortalStatistics.type_name() and e.subject == unit]

        async def reported() -> bool:
            return bool(figures())

        await until(reported, "the unit's monthly figures")
        [report] = [PortalStatistics.model_validate(e.data) for e in figures()]
        assert (report.period, report.start, report.end) == ("month", "2026-03-01", "2026-03-31")
        assert report.received["total"] == 2 and report.resolved["total"] == 1 and report.refusals == 1
    finally:
        portal_task.cancel()
        await asyncio.gather(portal_task, return_exceptions=True)
        await consumer.stop()


async def _stats_when_pool(pool: asyncpg.Pool, unit: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT refusals FROM measure_counts WHERE grain = 'month' AND kind = 'unit' AND procedure_code = '*'"
            " AND unit_code = $1",
            unit,
        )
    )
