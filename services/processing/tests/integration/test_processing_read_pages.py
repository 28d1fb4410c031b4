"""The pages processing builds as dicts and sends without pydantic (the work queue, a citizen's own dossiers; see
``processing.service``'s note) are byte for byte what FastAPI sent from their response models: each body, read back
through its model and written again by pydantic, is the same bytes. The dossiers cover what a page can hold: a
paused one, an overdue one, the next page's cursor, a follow-up of a low rating beside the unit head's queue."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from motcua_common.auth import UNIT_HEAD, Principal
from processing import service
from processing.domain import ActionRequest
from processing.schemas import MyDossierPage, WorkQueuePage

from .test_processing_lifecycle import _ok, _unit

pytestmark = pytest.mark.integration


def _as_the_model_sends_it(resp: httpx.Response, model: type[BaseModel]) -> dict:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert model.model_validate_json(resp.content).model_dump_json().encode() == resp.content
    return resp.json()


async def test_queue_and_own_dossiers_pages_are_their_models_json(app, client, issuer, make_submission, open_case):
    unit, applicant = _unit("RP"), f"an-{uuid.uuid4().hex[:6]}"
    settings, clock = app.state.settings, app.state.clock
    head_token = issuer.bearer(issuer.officer(unit, UNIT_HEAD, sub=f"head-{unit}"))
    head = Principal(kind="officer", subject="head", client_id="t", unit_code=unit, roles=frozenset({UNIT_HEAD}))
    now = datetime.now(UTC)

    async def act(code: str, kind: str, at: datetime, **fields: Any) -> None:
        async with app.state.pool.acquire() as conn, conn.transaction():
            await service.act(conn, settings, clock, code, ActionRequest(kind=kind, **fields), head, now=at)

    codes = []
    for received, due in ((now - timedelta(days=9), timedelta(days=3)), (now, timedelta(days=2)), (now, timedelta(1))):
        data, event = make_submission(unit_code=unit, applicant=applicant, received_at=received, due_in=due)
        await open_case(event)
        codes.append(data.dossier_code)
    overdue, paused, returned = codes
    await act(paused, "receive", now)
    await act(paused, "request_supplement", now, reason="Thiếu tờ khai", components_requested=("Tờ khai",))
    for n, kind in enumerate(["receive", "approve", "issue_result", "return_result"]):
        await act(returned, kind, now - timedelta(minutes=10 - n), return_method="online")
    rating = {"overall": 1, "comment": "Phải đi lại nhiều lần"}
    citizen = issuer.bearer(issuer.citizen("001090001234", sub=applicant))
    _ok(await client.post(f"/api/v1/dossiers/{returned}/ratings", json=rating, headers=citizen), 201, "low rating")
    for _ in range(3):  # more open dossiers, for a second page
        data, event = make_submission(unit_code=unit, applicant=applicant, due_in=timedelta(days=5))
        await open_case(event)

    first = _as_the_model_sends_it(
        await client.get("/api/v1/work-queue", params={"limit": 3}, headers=head_token), WorkQueuePage
    )
    assert first["items"][0]["code"] == overdue and first["items"][0]["overdue"]
    assert [i["code"] for i in first["items"] if i["paused"]] == [paused]
    assert [f["dossier_code"] for f in first["follow_ups"]] == [returned] and first["next_cursor"]
    second = _as_the_model_sends_it(
        await client.get("/api/v1/work-queue", params={"limit": 3, "cursor": first["next_cursor"]}, headers=head_token),
        WorkQueuePage,
    )
    assert len(second["items"]) == 2 and second["next_cursor"] is None and second["follow_ups"] == []

    mine = _as_the_model_sends_it(
        await client.get("/api/v1/me/dossiers", params={"limit": 4}, headers=citizen), MyDossierPage
    )
    assert mine["next_cursor"] and all(i["as_applicant"] and i["as_submitter"] for i in mine["items"])
    rest = _as_the_model_sends_it(
        await client.get("/api/v1/me/dossiers", params={"limit": 4, "cursor": mine["next_cursor"]}, headers=citizen),
        MyDossierPage,
    )
    assert {i["code"] for i in mine["items"] + rest["items"]} >= set(codes) and rest["next_cursor"] is None
    assert [i["completed_at"] is not None for i in mine["items"] + rest["items"] if i["code"] == returned] == [True]
