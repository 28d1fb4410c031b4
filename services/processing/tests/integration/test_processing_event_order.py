"""Concurrent officer actions on one dossier: event times never run backwards and no step is completed before
it was entered, whoever waited for the dossier's row lock and for how long."""

import asyncio
from datetime import datetime
from types import SimpleNamespace

import pytest

from motcua_common.auth import APPROVER, RECEIVING_OFFICER, SPECIALIST
from motcua_common.testing_auth import TestIssuer
from processing import repository

UNIT = "000.00.01.H29"


@pytest.fixture(scope="module")
def tok(issuer: TestIssuer) -> SimpleNamespace:
    return SimpleNamespace(
        officer=issuer.bearer(issuer.officer(UNIT, RECEIVING_OFFICER, sub="cb-order")),
        approver=issuer.bearer(issuer.officer(UNIT, APPROVER, sub="ld-order")),
        specialist=issuer.bearer(issuer.officer(UNIT, SPECIALIST, sub="cv-order")),
    )


@pytest.fixture
def slow_lock(monkeypatch):
    """``arm(code)``: the next action to reach that dossier's row lock waits there until another action holds the
    lock, as under contention: it then gets the row only after the other one committed. Without this the race
    happens in a few percent of concurrent pairs only. Returns an event set once the first action waits."""
    real = repository.lock_dossier
    armed: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}

    async def lock_dossier(conn, code):
        if code not in armed:
            return await real(conn, code)
        entered, taken = armed[code]
        if not entered.is_set():  # the first: let the second one take the lock first
            entered.set()
            async with asyncio.timeout(60):
                await taken.wait()
            return await real(conn, code)
        row = await real(conn, code)
        taken.set()
        return row

    def arm(code: str) -> asyncio.Event:
        armed[code] = (asyncio.Event(), asyncio.Event())
        return armed[code][0]

    monkeypatch.setattr(repository, "lock_dossier", lock_dossier)
    return arm


async def _assert_times_in_order(app, client, tok, code: str, dossier_id) -> list[datetime]:
    rows = await app.state.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 AND topic = $2 ORDER BY created_at",
        str(dossier_id),
        app.state.settings.dossier_topic,
    )
    times = [datetime.fromisoformat(r["payload"]["data"]["occurred_at"]) for r in rows]
    order = [(r["event_type"], t) for r, t in zip(rows, times, strict=True)]
    assert times == sorted(times), f"{code}: occurred_at runs backwards: {order}"
    view = (await client.get(f"/api/v1/dossiers/{code}", headers=tok.officer)).json()
    for step in view["timeline"]:
        if step["completed_at"] is not None:
            completed, entered = (datetime.fromisoformat(step[k]) for k in ("completed_at", "entered_at"))
            assert completed >= entered, f"{code}: step {step['step']} completed at {completed}, entered at {entered}"
    return times


async def test_an_action_that_waited_for_the_lock_is_later_than_the_one_that_held_it(
    app, client, make_submission, open_case, tok, slow_lock
):
    for _ in range(5):
        data, event = make_submission(unit_code=UNIT)
        await open_case(event)
        code = data.dossier_code
        assert (await client.post(f"/api/v1/dossiers/{code}/actions/accept", headers=tok.officer)).status_code == 200
        # issue-result reaches the lock first and waits; approve takes the row, commits; then issue-result goes on.
        waiting = slow_lock(code)
        issue_url = f"/api/v1/dossiers/{code}/actions/issue-result"
        issue = asyncio.create_task(client.post(issue_url, headers=tok.specialist))
        async with asyncio.timeout(60):
            await waiting.wait()
        approve = await client.post(f"/api/v1/dossiers/{code}/actions/approve", headers=tok.approver)
        assert approve.status_code == 200, approve.text
        issued = await issue
        assert issued.status_code == 200, issued.text
        await _assert_times_in_order(app, client, tok, code, data.dossier_id)


async def test_many_concurrent_action_pairs_keep_event_times_in_order(app, client, make_submission, open_case, tok):
    both = 0
    for _ in range(25):
        data, event = make_submission(unit_code=UNIT)
        await open_case(event)
        code = data.dossier_code
        assert (await client.post(f"/api/v1/dossiers/{code}/actions/accept", headers=tok.officer)).status_code == 200
        approve, issue = await asyncio.gather(
            client.post(f"/api/v1/dossiers/{code}/actions/approve", headers=tok.approver),
            client.post(f"/api/v1/dossiers/{code}/actions/issue-result", headers=tok.specialist),
        )
        assert approve.status_code == 200 and issue.status_code in (200, 409)
        both += issue.status_code == 200
        await _assert_times_in_order(app, client, tok, code, data.dossier_id)
