"""The predicted completion date in the tracking, from known histories on the real PostgreSQL: dossiers driven
through the engine at chosen instants of a working week (Vietnam time), so that each one's office time from receipt
to result is known; the summary per procedure and competent unit; the prediction of an open dossier, before and
after its supplement wait; none below five past dossiers."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from motcua_common.auth import UNIT_HEAD, Principal
from processing import repository, service
from processing.domain import ActionRequest

pytestmark = pytest.mark.integration

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 9, 8, 30, tzinfo=VN)  # a working week without holidays
HOUR = 3600.0


def _head(unit: str) -> Principal:
    return Principal(
        kind="officer", subject=f"head-{unit}", client_id="test", unit_code=unit, roles=frozenset({UNIT_HEAD})
    )


@pytest.fixture
def drive(app, make_submission, open_case):
    """Open a dossier of the standard procedure (1.001193) in ``unit`` and apply actions at chosen instants."""
    settings, clock = app.state.settings, app.state.clock

    async def run(unit: str, steps: list[tuple[str, datetime]], applicant: str | None = None) -> str:
        data, event = make_submission(
            unit_code=unit, received_at=steps[0][1] - timedelta(minutes=30), applicant=applicant
        )
        await open_case(event)
        for kind, at in steps:
            async with app.state.pool.acquire() as conn, conn.transaction():
                if kind == "supplement":
                    citizen = Principal(kind="citizen", subject=data.applicant.subject or "", client_id="app")
                    await service.supplement(
                        conn, settings, clock, data.dossier_code, citizen, note="Đã bổ sung", document_ids=[], now=at
                    )
                    continue
                request = ActionRequest(
                    kind=kind,
                    reason="Thiếu tờ khai" if kind == "request_supplement" else None,
                    components_requested=("Tờ khai",) if kind == "request_supplement" else (),
                    return_method="online" if kind == "return_result" else None,
                )
                await service.act(conn, settings, clock, data.dossier_code, request, _head(unit), now=at)
        return data.dossier_code

    return run


async def _view(app, code: str, unit: str, now: datetime):
    async with app.state.pool.acquire() as conn:
        return await service.view(conn, app.state.settings, app.state.clock, code, _head(unit), now=now)


def _after(start: datetime, office_hours: float, clock) -> datetime:
    return clock.legal.add_working_seconds(start, office_hours * HOUR)


async def test_prediction_from_the_unit_s_past_dossiers(app, client, drive, issuer):
    clock, unit = app.state.clock, f"PR{uuid.uuid4().hex[:6]}.H29"
    tuesday = datetime(2026, 3, 10, 9, 0, tzinfo=VN)
    open_code = await drive(unit, [("receive", tuesday)])
    # Five dossiers received on Monday 08:30 that got their result 2, 4, 6, 8 and 10 office hours later.
    for n, hours in enumerate((2, 4, 6, 8, 10), start=1):
        done = _after(MONDAY, hours, clock)
        await drive(
            unit,
            [("receive", MONDAY), ("approve", MONDAY + timedelta(minutes=5)), ("issue_result", done)],
        )
        view = await _view(app, open_code, unit, tuesday + timedelta(hours=1))
        if n < 5:  # fewer than five past dossiers: no prediction
            assert view.predicted_completion is None, n
    stats = await app.state.pool.fetchrow(
        "SELECT sample_size, median_seconds, p80_seconds FROM completion_stats WHERE procedure_code = $1"
        " AND unit_code = $2",
        "1.001193",
        unit,
    )
    # percentile_cont over 2, 4, 6, 8, 10 hours: median 6 h; 80th percentile 8 + 0.2 × 2 = 8.4 h.
    assert (stats["sample_size"], stats["median_seconds"], stats["p80_seconds"]) == (5, 6 * HOUR, 8.4 * HOUR)

    # Received Tuesday 09:00: 8.4 office hours later is Wednesday 09:24 (Tuesday holds 7 of them).
    view = await _view(app, open_code, unit, tuesday + timedelta(hours=1))
    predicted = view.predicted_completion
    assert predicted is not None
    assert predicted.at == datetime(2026, 3, 11, 9, 24, tzinfo=VN)
    assert (predicted.sample_size, predicted.percentile, predicted.beyond_typical) == (5, 80, False)
    assert (predicted.typical_working_days, predicted.median_working_days) == (1.1, 0.8)
    assert predicted.label == (
        "Dự kiến có kết quả trước 09:24 ngày 11/03/2026 (80% trong 5 hồ sơ cùng thủ tục gần đây tại đơn vị được "
        "giải quyết trong 1,1 ngày làm việc)."
    )
    assert view.legal_due_at is not None  # the legal due date stays beside it, unchanged by the prediction
    # Later than that and still open: it has taken longer than usual.
    late = (await _view(app, open_code, unit, datetime(2026, 3, 12, 10, 0, tzinfo=VN))).predicted_completion
    assert late is not None and late.beyond_typical and late.at == predicted.at
    assert late.label.startswith("Hồ sơ đã quá thời gian giải quyết thường thấy (80% trong 5 hồ sơ")
    # The tracking answers with it over HTTP too.
    head = issuer.bearer(issuer.officer(unit, UNIT_HEAD))
    body = (await client.get(f"/api/v1/dossiers/{open_code}", headers=head)).json()
    assert body["predicted_completion"]["at"] == predicted.at.isoformat()
    assert body["predicted_completion"]["sample_size"] == 5

    # A supplement wait moves the prediction by the office time waited (4 h by Tuesday 15:00), as if the
    # applicant supplemented now.
    async with app.state.pool.acquire() as conn, conn.transaction():
        await service.act(
            conn,
            app.state.settings,
            clock,
            open_code,
            ActionRequest(kind="request_supplement", reason="Thiếu tờ khai", components_requested=("Tờ khai",)),
            _head(unit),
            now=datetime(2026, 3, 10, 10, 0, tzinfo=VN),
        )
    paused = (await _view(app, open_code, unit, datetime(2026, 3, 10, 15, 0, tzinfo=VN))).predicted_completion
    assert paused is not None and paused.at == datetime(2026, 3, 11, 14, 24, tzinfo=VN)
    assert "nếu hồ sơ được bổ sung ngay" in paused.label

    # Once it has its result, the tracking shows no prediction.
    done = await drive(unit, [("receive", MONDAY), ("approve", MONDAY), ("issue_result", tuesday)])
    assert (await _view(app, done, unit, tuesday)).predicted_completion is None
    # Another unit's dossiers of the same procedure have their own history (none yet).
    other = f"PR{uuid.uuid4().hex[:6]}.H29"
    fresh = await drive(other, [("receive", tuesday)])
    assert (await _view(app, fresh, other, tuesday)).predicted_completion is None


async def test_a_sample_leaves_out_the_applicant_s_supplement_wait(app, drive):
    clock, unit = app.state.clock, f"PS{uuid.uuid4().hex[:6]}.H29"
    requested = MONDAY + timedelta(hours=1)  # Monday 09:30
    supplemented = datetime(2026, 3, 10, 9, 30, tzinfo=VN)  # 8 office hours later
    issued = datetime(2026, 3, 10, 11, 30, tzinfo=VN)
    code = await drive(
        unit,
        [
            ("receive", MONDAY),
            ("request_supplement", requested),
            ("supplement", supplemented),
            ("approve", supplemented + timedelta(minutes=10)),
            ("issue_result", issued),
        ],
    )
    # Monday 08:30 to Tuesday 11:30 holds 11 office hours, 8 of them waiting for the applicant.
    assert clock.legal.working_seconds_between(MONDAY, issued) == 11 * HOUR
    row = await app.state.pool.fetchrow(
        "SELECT s.working_seconds, s.procedure_code, s.unit_code FROM completion_samples s"
        " JOIN dossiers d ON d.id = s.dossier_id WHERE d.code = $1",
        code,
    )
    assert (row["working_seconds"], row["procedure_code"], row["unit_code"]) == (3 * HOUR, "1.001193", unit)


async def test_the_summary_keeps_the_most_recent_window(app, make_submission, open_case):
    unit = f"PW{uuid.uuid4().hex[:6]}.H29"
    ids = []
    for _ in range(4):
        data, event = make_submission(unit_code=unit)
        await open_case(event)
        ids.append(data.dossier_id)
    async with app.state.pool.acquire() as conn, conn.transaction():
        for n, dossier_id in enumerate(ids, start=1):
            await repository.record_completion(
                conn,
                dossier_id=dossier_id,
                procedure_code="1.001193",
                unit_code=unit,
                completed_at=MONDAY + timedelta(hours=n),
                working_seconds=100.0 * n,
                window=3,
            )
        # Recorded twice (a redelivered completion): kept once.
        await repository.record_completion(
            conn,
            dossier_id=ids[-1],
            procedure_code="1.001193",
            unit_code=unit,
            completed_at=MONDAY + timedelta(hours=9),
            working_seconds=9999.0,
            window=3,
        )
        stats = await repository.completion_stats(conn, "1.001193", unit)
    assert stats is not None
    # The three most recent: 200, 300, 400 s.
    assert (stats["sample_size"], stats["median_seconds"], stats["p80_seconds"]) == (3, 300.0, 360.0)
