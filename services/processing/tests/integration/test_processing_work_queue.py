"""Officers' work queues on the real PostgreSQL: who sees which dossiers (two officers of each kind: right unit and
role, right unit and wrong role, another unit; unit heads and provincial operators; citizens and partners), the
filters (overdue, due soon, procedure, step, status, role), the order by due date, pagination that returns every row
exactly once even when many share a due date, and cursors bound to their filters."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from motcua_common.auth import (
    APPROVER,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    SPECIALIST,
    UNIT_HEAD,
)

from .test_processing_lifecycle import _ok, _unit

pytestmark = pytest.mark.integration

QUEUE = "/api/v1/work-queue"


async def _walk(client, headers: dict, params: dict, limit: int = 2) -> list[dict]:
    """Every item of a queue, page by page (``limit`` per page), checking each page's size."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "limit": limit} | ({"cursor": cursor} if cursor else {})
        page = _ok(await client.get(QUEUE, params=query, headers=headers), 200, f"queue page {params}")
        assert len(page["items"]) <= limit
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items
        assert len(page["items"]) == limit  # only the last page may be short
    raise AssertionError("the queue never ended")


def _codes(items: list[dict]) -> list[str]:
    return [i["code"] for i in items]


async def _act(client, code: str, headers: dict, action: str, **body) -> dict:
    resp = await client.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=headers)
    return _ok(resp, 200, f"{action} on {code}")


async def test_each_officer_sees_the_steps_of_their_unit_and_roles(app, client, make_submission, open_case, issuer):
    unit, other, centre = _unit("WQ"), _unit("WQ"), _unit("TT")

    def officer(*roles: str, at: str = unit, n: int = 1) -> dict:
        return issuer.bearer(issuer.officer(at, *roles, sub=f"{'-'.join(roles)}-{at}-{n}"))

    head = officer(UNIT_HEAD)
    applicant = f"an-{uuid.uuid4().hex[:6]}"
    # Three dossiers of the standard procedure: one at each of receive, appraise and issue.
    subs = []
    for days in (3, 1, 2):
        data, event = make_submission(unit_code=unit, due_in=timedelta(days=days), applicant=applicant)
        await open_case(event)
        subs.append(data)
    at_receive, at_appraise, at_issue = (d.dossier_code for d in subs)
    await _act(client, at_appraise, head, "receive")
    await _act(client, at_issue, head, "receive")
    await _act(client, at_issue, head, "approve")
    theirs, theirs_event = make_submission(unit_code=other)
    await open_case(theirs_event)

    keys = {
        r["code"]: (r["due_at"], r["id"])
        for r in await app.state.pool.fetch("SELECT code, due_at, id FROM dossiers WHERE unit_code = $1", unit)
    }

    def due_order(*codes: str) -> list[str]:
        return sorted(codes, key=keys.__getitem__)

    everything = _ok(await client.get(QUEUE, params={"limit": 100}, headers=head), 200, "unit head")["items"]
    by_code = {i["code"]: i for i in everything}
    assert _codes(everything) == due_order(at_receive, at_appraise, at_issue)
    assert {c: i["current_step"] for c, i in by_code.items()} == {
        at_receive: "receive",
        at_appraise: "appraise",
        at_issue: "issue",
    }
    assert by_code[at_appraise]["current_step_name"] == "Thẩm định, xử lý hồ sơ"
    assert by_code[at_appraise]["current_step_roles"] == [APPROVER, UNIT_HEAD]

    expected = {
        # right unit, right role (two officers each)
        (RECEIVING_OFFICER,): [at_receive],
        (SPECIALIST,): [at_issue],
        (APPROVER,): due_order(at_appraise, at_issue),
        (UNIT_HEAD,): due_order(at_receive, at_appraise, at_issue),
        # two roles: the issue step names both, and comes once
        (SPECIALIST, APPROVER): due_order(at_appraise, at_issue),
        (RECEIVING_OFFICER, SPECIALIST): due_order(at_receive, at_issue),
    }
    for roles, codes in expected.items():
        for n in (1, 2):
            got = _ok(await client.get(QUEUE, headers=officer(*roles, n=n)), 200, f"{roles} {n}")["items"]
            assert _codes(got) == codes, (roles, n)
    # Right unit, wrong role: the step waits for someone else.
    for roles in ((SPECIALIST,), (APPROVER,)):
        got = _codes(_ok(await client.get(QUEUE, headers=officer(*roles)), 200, "")["items"])
        assert at_receive not in got, roles
    # Another unit, any role: its own queue only, and 403 for this unit's.
    for roles in ((RECEIVING_OFFICER,), (UNIT_HEAD,)):
        for n in (1, 2):
            mine = officer(*roles, at=other, n=n)
            got = _codes(_ok(await client.get(QUEUE, params={"limit": 100}, headers=mine), 200, "other")["items"])
            assert got == [theirs.dossier_code]
            refused = _ok(await client.get(QUEUE, params={"unit_code": unit}, headers=mine), 403, "other unit's")
            assert refused["type"].endswith("/forbidden")
    # Provincial operators (of two other units): any unit's whole queue, or one role of it.
    for operator in (officer(PROVINCIAL_OPERATOR, at=centre), officer(PROVINCIAL_OPERATOR, at=other, n=2)):
        got = _ok(await client.get(QUEUE, params={"unit_code": unit}, headers=operator), 200, "operator")["items"]
        assert _codes(got) == due_order(at_receive, at_appraise, at_issue)
        params = {"unit_code": unit, "role": SPECIALIST}
        assert _codes(_ok(await client.get(QUEUE, params=params, headers=operator), 200, "")["items"]) == [at_issue]
        # No unit: the whole province (other tests' dossiers too), with both units' dossiers in it.
        province = await _walk(client, operator, {}, limit=100)
        assert {at_receive, at_appraise, at_issue, theirs.dossier_code} <= set(_codes(province))
    # The role filter: the head narrows to any role; an officer to one of their own (403 for another).
    params = {"role": RECEIVING_OFFICER}
    assert _codes(_ok(await client.get(QUEUE, params=params, headers=head), 200, "")["items"]) == [at_receive]
    assert _codes(
        _ok(await client.get(QUEUE, params={"role": SPECIALIST}, headers=officer(SPECIALIST)), 200, "")["items"]
    ) == [at_issue]
    for n in (1, 2):
        denied = await client.get(QUEUE, params={"role": APPROVER}, headers=officer(SPECIALIST, n=n))
        assert _ok(denied, 403, "a role the officer does not hold")["type"].endswith("/forbidden")
    _ok(await client.get(QUEUE, params={"role": PROVINCIAL_OPERATOR}, headers=head), 422, "not a step role")
    # An officer without any role of a step sees nothing (not an error).
    assert _ok(await client.get(QUEUE, headers=officer()), 200, "no role")["items"] == []
    # Citizens (the applicant included), partners (with the read scope or a unit), services: 403; no token: 401.
    for who in (
        issuer.bearer(issuer.citizen("001090001234", sub=applicant)),
        issuer.bearer(issuer.citizen("079195005678", sub=f"dung-{uuid.uuid4().hex[:6]}")),
        issuer.bearer(issuer.partner("provincial-system", SCOPE_DOSSIERS_READ)),
        issuer.bearer(issuer.partner("vcci", SCOPE_DOSSIERS_READ, unit=unit)),
        issuer.bearer(issuer.service("intake")),
    ):
        _ok(await client.get(QUEUE, params={"unit_code": unit}, headers=who), 403, "not an officer")
    _ok(await client.get(QUEUE), 401, "no token")


async def test_filters_order_and_pages(app, client, make_submission, open_case, issuer):
    unit = _unit("WQ")
    head = issuer.bearer(issuer.officer(unit, UNIT_HEAD, sub=f"head-{unit}"))
    receiver = issuer.bearer(issuer.officer(unit, RECEIVING_OFFICER, sub=f"recv-{unit}"))
    clock = app.state.clock
    now = datetime.now(UTC).replace(microsecond=0)
    received = now - timedelta(hours=1)
    far = now + timedelta(days=10)
    soon = clock.legal.add_working_seconds(now, 3600)  # an office hour ahead: within the one-day window

    async def dossier(due: datetime, procedure: str = "1.001193") -> str:
        data, event = make_submission(
            unit_code=unit, received_at=received, due_in=due - received, procedure_code=procedure
        )
        await open_case(event)
        return data.dossier_code

    # Many share one due date (ties broken by id), across two procedures.
    tied = [await dossier(far) for _ in range(5)] + [await dossier(far, "1.004222") for _ in range(3)]
    late = [await dossier(now - timedelta(days=2)) for _ in range(2)]
    due_soon = [await dossier(soon) for _ in range(2)]
    paused = await dossier(now - timedelta(days=3))  # overdue, then waiting for the applicant: no longer overdue
    await _act(client, paused, head, "request_supplement", reason="Thiếu tờ khai", components_requested=["Tờ khai"])
    moved = [tied[0], tied[5]]  # received: at the next step (appraise), due on the procedure's own budget
    for code in moved:
        await _act(client, code, receiver, "receive")

    rows = await app.state.pool.fetch(
        "SELECT code, id, due_at, due_soon_at, status, procedure_code, current_step, current_roles FROM dossiers"
        " WHERE current_unit_code = $1",
        unit,
    )
    assert len(rows) == 13

    def expect(keep) -> list[str]:
        return [r["code"] for r in sorted((r for r in rows if keep(r)), key=lambda r: (r["due_at"], r["id"]))]

    def is_overdue(r) -> bool:
        return r["status"] != "supplement_requested" and r["due_at"] < now

    def is_due_soon(r) -> bool:
        return r["status"] != "supplement_requested" and r["due_soon_at"] <= now <= r["due_at"]

    cases = [
        ({}, lambda r: True),
        ({"overdue": "true"}, is_overdue),
        ({"due_soon": "true"}, is_due_soon),
        ({"overdue": "false"}, lambda r: True),  # false is no filter
        ({"procedure_code": "1.004222"}, lambda r: r["procedure_code"] == "1.004222"),
        ({"step": "appraise"}, lambda r: r["current_step"] == "appraise"),
        ({"status": "supplement_requested"}, lambda r: r["status"] == "supplement_requested"),
        ({"status": "processing", "procedure_code": "1.001193"}, lambda r: r["code"] == tied[0]),
        (
            {"role": RECEIVING_OFFICER, "overdue": "true"},
            lambda r: is_overdue(r) and RECEIVING_OFFICER in r["current_roles"],
        ),
    ]
    for params, keep in cases:
        wanted = expect(keep)
        assert wanted, params
        for limit in (2, 3, 100):
            got = await _walk(client, head, params, limit=limit)
            assert _codes(got) == wanted, (params, limit)  # in order, each exactly once
    assert set(expect(is_overdue)) == set(late) and set(expect(is_due_soon)) == set(due_soon)
    # The receiving officer's queue: what waits at reception (the received ones went on to appraisal).
    assert _codes(await _walk(client, receiver, {})) == expect(lambda r: r["code"] not in moved)
    assert _codes(await _walk(client, receiver, {"step": "appraise"})) == []

    # The flags of each item, as the filters select them; the paused one shows its pause.
    items = {i["code"]: i for i in await _walk(client, head, {}, limit=100)}
    for r in rows:
        item = items[r["code"]]
        assert (item["overdue"], item["due_soon"], item["paused"]) == (
            is_overdue(r),
            is_due_soon(r),
            r["status"] == "supplement_requested",
        ), r["code"]
    assert items[paused]["paused_at"] is not None and items[paused]["status_label"] == "Chờ bổ sung hồ sơ"
    assert items[tied[1]]["current_step_name"] == "Tiếp nhận hồ sơ" and items[tied[1]]["paused_at"] is None

    # A cursor belongs to its list: the same filters and the same caller's scope, else a 400.
    first = _ok(await client.get(QUEUE, params={"overdue": "true", "limit": 1}, headers=head), 200, "")
    cursor = first["next_cursor"]
    assert cursor is not None
    again = await client.get(QUEUE, params={"overdue": "true", "limit": 1, "cursor": cursor}, headers=head)
    assert _codes(_ok(again, 200, "same filters")["items"]) == [expect(is_overdue)[1]]
    for params, headers in (
        ({"due_soon": "true"}, head),
        ({}, head),
        ({"overdue": "true", "procedure_code": "1.001193"}, head),
        ({"overdue": "true"}, receiver),  # another scope of steps
    ):
        bad = await client.get(QUEUE, params={**params, "cursor": cursor}, headers=headers)
        body = _ok(bad, 400, f"cursor of other filters {params}")
        assert body["type"].endswith("/invalid-cursor") and "other filters" in body["detail"]
    _ok(await client.get(QUEUE, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=head), 400, "forged cursor")

    # Bad filters: 422 problem+json, never a 500.
    for bad in (
        {"overdue": "true", "due_soon": "true"},
        {"overdue": "maybe"},
        {"step": "Not A Step"},
        {"procedure_code": "x" * 41},
        {"procedure_code": "%"},
        {"status": "completed"},
        {"role": "mayor"},
        {"limit": 0},
        {"limit": 101},
    ):
        body = _ok(await client.get(QUEUE, params=bad, headers=head), 422, f"bad filter {bad}")
        assert body["type"].endswith("/validation-error"), bad
