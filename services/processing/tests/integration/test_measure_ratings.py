"""Ratings and follow-ups on the real PostgreSQL, with two users of each kind: the applicant and the citizen who
filed for them rate once the result was returned; a stranger, officers and operators cannot; a low rating opens a
follow-up that the head of the dossier's unit (not another unit's) and a provincial operator see and close; the
rating counts in the unit's public satisfaction."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from motcua_common.auth import PROVINCIAL_OPERATOR, SPECIALIST, UNIT_HEAD, Principal
from motcua_common.problems import PROBLEM_JSON
from processing import service
from processing.domain import ActionRequest

pytestmark = pytest.mark.integration


def _ok(resp, expected: int, what: str) -> Any:
    assert resp.status_code == expected, f"{what}: expected {expected}, got {resp.status_code} {resp.text}"
    if expected >= 400:
        assert resp.headers["content-type"].startswith(PROBLEM_JSON), what
    return resp.json()


@pytest.fixture
def world(app, issuer, make_submission, open_case):
    """Two units; the applicant An, Bình who files for him, a stranger Dung; a unit head and a specialist of each
    unit, a provincial operator; dossiers driven to their returned result (or not)."""
    settings, clock = app.state.settings, app.state.clock

    class World:
        unit, other = (f"RT{uuid.uuid4().hex[:6]}.H29" for _ in range(2))
        an, binh, dung = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("an", "binh", "dung"))

        @staticmethod
        def citizen(sub: str) -> dict:
            return issuer.bearer(issuer.citizen("001090001234", sub=sub))

        @staticmethod
        def officer(unit: str, *roles: str) -> dict:
            return issuer.bearer(issuer.officer(unit, *roles, sub=f"{'-'.join(roles)}-{unit}"))

        @staticmethod
        async def dossier(returned: bool = True, submitter: str | None = None) -> str:
            data, event = make_submission(unit_code=World.unit, applicant=World.an, submitter=submitter)
            await open_case(event)
            head = Principal(
                kind="officer", subject="head", client_id="t", unit_code=World.unit, roles=frozenset({UNIT_HEAD})
            )
            kinds = ["receive", "approve", "issue_result"] + (["return_result"] if returned else [])
            now = datetime.now(UTC) - timedelta(minutes=10)
            for n, kind in enumerate(kinds):
                request = ActionRequest(kind=kind, return_method="online" if kind == "return_result" else None)
                async with app.state.pool.acquire() as conn, conn.transaction():
                    await service.act(
                        conn, settings, clock, data.dossier_code, request, head, now=now + timedelta(minutes=n)
                    )
            return data.dossier_code

    return World


async def test_who_may_rate_and_read_a_rating(client, world):
    w = world
    code = await w.dossier()
    url = f"/api/v1/dossiers/{code}/ratings"
    body = {"overall": 5, "steps": [{"step": "appraise", "score": 4}], "comment": "Cán bộ nhiệt tình"}
    _ok(await client.post(url, json=body), 401, "no token")
    _ok(await client.post(url, json=body, headers=w.citizen(w.dung)), 404, "a stranger")
    _ok(await client.post(url, json=body, headers=w.officer(w.unit, UNIT_HEAD)), 403, "an officer of the unit")
    _ok(await client.post(url, json=body, headers=w.officer(w.unit, PROVINCIAL_OPERATOR)), 403, "an operator")
    _ok(await client.post(url, json={"overall": 6}, headers=w.citizen(w.an)), 422, "out of range")
    _ok(
        await client.post(url, json={"overall": 4, "steps": [{"step": "X!", "score": 3}]}, headers=w.citizen(w.an)),
        422,
        "bad step",
    )
    _ok(await client.get(url, headers=w.citizen(w.an)), 404, "not rated yet")
    rated = _ok(await client.post(url, json=body, headers=w.citizen(w.an)), 201, "the applicant")
    assert rated["overall"] == 5 and rated["steps"] == body["steps"] and rated["follow_up_id"] is None
    _ok(await client.post(url, json=body, headers=w.citizen(w.an)), 409, "twice")

    for who, headers in (
        ("the applicant", w.citizen(w.an)),
        ("the unit's specialist", w.officer(w.unit, SPECIALIST)),
        ("an operator", w.officer(w.other, PROVINCIAL_OPERATOR)),
    ):
        assert _ok(await client.get(url, headers=headers), 200, who)["comment"] == "Cán bộ nhiệt tình"
    _ok(await client.get(url, headers=w.citizen(w.dung)), 404, "a stranger reads")
    _ok(await client.get(url, headers=w.officer(w.other, UNIT_HEAD)), 404, "another unit's head reads")

    # The citizen who filed for An rates An's other dossier; a dossier without its result returned cannot be rated.
    filed = await w.dossier(submitter=w.binh)
    _ok(
        await client.post(f"/api/v1/dossiers/{filed}/ratings", json={"overall": 4}, headers=w.citizen(w.binh)),
        201,
        "filer",
    )
    pending = await w.dossier(returned=False)
    problem = _ok(
        await client.post(f"/api/v1/dossiers/{pending}/ratings", json={"overall": 4}, headers=w.citizen(w.an)),
        409,
        "not yet returned",
    )
    assert problem["title"] == "Hồ sơ chưa trả kết quả"


async def test_a_low_rating_opens_a_follow_up_for_the_unit_head(app, client, world):
    w = world
    code = await w.dossier()
    before = datetime.now(UTC)
    rated = _ok(
        await client.post(
            f"/api/v1/dossiers/{code}/ratings",
            json={"overall": 2, "comment": "Phải đi lại nhiều lần"},
            headers=w.citizen(w.an),
        ),
        201,
        "low rating",
    )
    follow_up = str(rated["follow_up_id"])
    head, other_head = w.officer(w.unit, UNIT_HEAD), w.officer(w.other, UNIT_HEAD)
    operator = w.officer(w.other, PROVINCIAL_OPERATOR)

    mine = _ok(await client.get("/api/v1/follow-ups", params={"status": "open"}, headers=head), 200, "head")["items"]
    assert [f["id"] for f in mine] == [follow_up]
    item = mine[0]
    assert item["dossier_code"] == code and item["unit_code"] == w.unit and item["status"] == "open"
    assert item["rating"] == {"overall": 2, "comment": "Phải đi lại nhiều lần"}
    # Due in three working days of office time on the legal clock, counted from the rating (not "at least three
    # calendar days on": a rating given before office hours, as at 03:23 in Vietnam, is due on the third day's
    # evening; nor "at most eight": the Tết holidays are longer)
    due, after = datetime.fromisoformat(item["due_at"]), datetime.now(UTC)
    legal = app.state.clock.legal
    seconds = 3 * legal.office_hours.seconds_per_day
    assert legal.add_working_seconds(before, seconds) <= due <= legal.add_working_seconds(after, seconds)
    assert due - before >= timedelta(days=2) and legal.calendar.is_working_day(due.astimezone(legal.tz).date())
    assert _ok(await client.get("/api/v1/follow-ups", headers=other_head), 200, "other head")["items"] == []
    every = _ok(await client.get("/api/v1/follow-ups", params={"limit": 100}, headers=operator), 200, "operator")
    assert follow_up in {f["id"] for f in every["items"]} or every["next_cursor"] is not None
    _ok(await client.get("/api/v1/follow-ups", headers=w.officer(w.unit, SPECIALIST)), 403, "a specialist")
    _ok(await client.get("/api/v1/follow-ups", headers=w.citizen(w.an)), 403, "a citizen")
    _ok(await client.get("/api/v1/follow-ups", params={"status": "maybe"}, headers=head), 422, "bad status")

    # The follow-up is in the head's work queue, beside the dossiers (first page only); not in another unit's
    # head's, nor in a specialist's of the same unit; an operator sees it in the queue of the unit they name.
    def queued(answer) -> list[str]:
        return [f["id"] for f in _ok(answer, 200, "work queue")["follow_ups"]]

    assert queued(await client.get("/api/v1/work-queue", headers=head)) == [follow_up]
    assert queued(await client.get("/api/v1/work-queue", headers=other_head)) == []
    assert queued(await client.get("/api/v1/work-queue", headers=w.officer(w.unit, SPECIALIST))) == []
    assert queued(await client.get("/api/v1/work-queue", params={"unit_code": w.unit}, headers=operator)) == [follow_up]

    close = f"/api/v1/follow-ups/{follow_up}/close"
    _ok(await client.post(close, json={"note": "Đã gọi điện xin lỗi"}, headers=other_head), 404, "another unit's head")
    _ok(await client.post(close, json={"note": ""}, headers=head), 422, "empty note")
    closed = _ok(await client.post(close, json={"note": "Đã gọi điện xin lỗi"}, headers=head), 200, "the head")
    assert closed["status"] == "closed" and closed["note"] == "Đã gọi điện xin lỗi"
    _ok(await client.post(close, json={"note": "Lần nữa"}, headers=operator), 409, "closed already")
    assert (
        _ok(await client.get("/api/v1/follow-ups", params={"status": "open"}, headers=head), 200, "open")["items"] == []
    )
    assert queued(await client.get("/api/v1/work-queue", headers=head)) == []  # a closed one leaves the queue
    done = _ok(await client.get("/api/v1/follow-ups", params={"status": "closed"}, headers=head), 200, "closed")[
        "items"
    ]
    assert [f["id"] for f in done] == [follow_up]

    # The rating counts in the unit's public satisfaction today (no login).
    figures = _ok(
        await client.get("/api/v1/public/statistics", params={"period": "day", "unit": w.unit}), 200, "public"
    )["items"][0]
    assert figures["satisfaction"] == {"ratings": 1, "average": 2.0, "satisfied_share": 0.0}
