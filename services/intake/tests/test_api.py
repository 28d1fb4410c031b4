"""Intake over HTTP, on the real PostgreSQL and Kafka."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from motcua_common.contracts import DossierSubmitted
from motcua_common.events import CloudEvent

SUBMISSION = {"procedure_code": "1.004873", "applicant": {"personal_id": "001090001234"}, "channel": "online"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def assert_problem(resp, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    return body


async def test_catalogue_lists_real_procedures_with_pagination(client):
    first = await client.get("/api/v1/procedures", params={"limit": 3})
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = (await client.get("/api/v1/procedures", params={"limit": 100, "cursor": page["next_cursor"]})).json()
    codes = [p["code"] for p in page["items"] + rest["items"]]
    assert rest["next_cursor"] is None
    assert len(codes) == len(set(codes)) >= 5
    assert {"1.001193", "1.000894", "1.000656", "1.004873", "2.000815"} <= set(codes)


async def test_catalogue_filters_and_detail(client):
    full = (await client.get("/api/v1/procedures", params={"online_level": "full"})).json()["items"]
    assert full and all(p["online_level"] == "full" for p in full)
    detail = (await client.get("/api/v1/procedures/1.001193")).json()
    assert detail["name"] == "Đăng ký khai sinh"
    assert detail["processing_days"] == 0
    assert any(c["required"] for c in detail["components"])


async def test_unknown_procedure_and_bad_cursor_are_problems(client):
    assert_problem(await client.get("/api/v1/procedures/9.999999"), 404, "procedure-not-found")
    assert_problem(await client.get("/api/v1/procedures", params={"cursor": "not-a-cursor"}), 400, "invalid-cursor")
    assert_problem(await client.get("/api/v1/procedures", params={"limit": 0}), 422, "validation-error")


async def test_submit_prefills_stores_and_publishes(client, intake_settings):
    resp = await client.post("/api/v1/dossiers", json=SUBMISSION, headers=key())
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    assert receipt["code"].startswith("000.26.01.H29-")
    assert receipt["applicant"]["full_name"] == "Nguyễn Văn An"
    assert receipt["applicant"]["email"] == "an.nguyen@example.vn"
    assert receipt["appointment_at"] > receipt["received_at"]
    assert "Ngày hẹn trả kết quả" in receipt["message"]
    assert resp.headers["location"] == f"/api/v1/dossiers/{receipt['code']}"

    tracking = (await client.get(f"/api/v1/dossiers/{receipt['code']}")).json()
    assert tracking["status"] == "submitted" and tracking["timeline"][0]["step"] == "receive"

    event = await _find_event(intake_settings, receipt["code"])
    assert event.type == DossierSubmitted.type_name()
    assert event.source == "/motcua/intake"
    data = DossierSubmitted.model_validate(event.data)
    assert str(data.dossier_id) == receipt["id"]
    assert data.applicant.full_name == "Nguyễn Văn An"
    assert data.processing_days == 3


async def test_same_idempotency_key_gives_the_same_dossier(client, intake_app):
    headers = key()
    first = await client.post("/api/v1/dossiers", json=SUBMISSION, headers=headers)
    again = await client.post("/api/v1/dossiers", json=SUBMISSION, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["code"] == again.json()["code"]
    assert again.headers["idempotent-replayed"] == "true"
    async with intake_app.state.pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM outbox WHERE payload->>'subject' = $1", first.json()["code"])
    assert n == 1


async def test_concurrent_retries_with_one_key_make_one_dossier(client):
    headers = key()
    results = await asyncio.gather(
        *[client.post("/api/v1/dossiers", json=SUBMISSION, headers=headers) for _ in range(5)]
    )
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["code"] for r in results}) == 1


async def test_key_reused_with_another_body_is_rejected(client):
    headers = key()
    assert (await client.post("/api/v1/dossiers", json=SUBMISSION, headers=headers)).status_code == 201
    other = {**SUBMISSION, "procedure_code": "1.001193"}
    assert_problem(await client.post("/api/v1/dossiers", json=other, headers=headers), 422, "idempotency-key-reused")


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({**SUBMISSION, "procedure_code": "9.999999"}, 422, "procedure-not-found"),
        ({**SUBMISSION, "applicant": {"personal_id": "12345"}}, 422, "validation-error"),
        ({**SUBMISSION, "applicant": {"personal_id": "00109000123X"}}, 422, "validation-error"),
        ({**SUBMISSION, "applicant": {"personal_id": "999090001234"}}, 422, "invalid-personal-id"),
        ({**SUBMISSION, "applicant": {"personal_id": "001090009999"}}, 422, "applicant-not-found"),
        ({**SUBMISSION, "applicant": {"personal_id": "001099999999"}}, 503, "citizen-registry-unavailable"),
        ({"applicant": {"personal_id": "001090001234"}}, 422, "validation-error"),
        ({**SUBMISSION, "channel": "fax"}, 422, "validation-error"),
        ({**SUBMISSION, "applicant": "001090001234"}, 422, "validation-error"),
        ({**SUBMISSION, "applicant": {"personal_id": 1090001234}}, 422, "validation-error"),
        ({**SUBMISSION, "components": [{"code": "NOPE"}]}, 422, "unknown-component"),
        ({**SUBMISSION, "procedure_code": "1.0\u00000"}, 422, "invalid-characters"),
        ({**SUBMISSION, "form_data": {"ghi_chu": "a\u0000b"}}, 422, "invalid-characters"),
        (
            {**SUBMISSION, "applicant": {"personal_id": "001090001234", "email": "not-an-email"}},
            422,
            "validation-error",
        ),
    ],
)
async def test_bad_submissions_are_problems(client, body, status, slug):
    problem = assert_problem(await client.post("/api/v1/dossiers", json=body, headers=key()), status, slug)
    assert problem["title"]


async def test_missing_key_malformed_json_and_oversized_body(client, intake_settings):
    assert_problem(await client.post("/api/v1/dossiers", json=SUBMISSION), 400, "idempotency-key-required")
    bad = await client.post(
        "/api/v1/dossiers",
        content=b'{"procedure_code": ',
        headers={**key(), "content-type": "application/json"},
    )
    assert_problem(bad, 400, "malformed-json")
    huge = {**SUBMISSION, "form_data": {"x": "a" * (intake_settings.max_body_bytes + 10)}}
    assert_problem(await client.post("/api/v1/dossiers", json=huge, headers=key()), 413, "payload-too-large")


async def test_unknown_dossier_is_404(client):
    assert_problem(await client.get("/api/v1/dossiers/000.26.01.H29-000101-9999"), 404, "dossier-not-found")


async def test_request_id_is_echoed_or_assigned(client):
    mine = await client.get("/api/v1/procedures", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/api/v1/procedures")).headers["x-request-id"]) >= 16


async def _find_event(settings, code: str, wait_s: float = 20.0) -> CloudEvent:
    consumer = AIOKafkaConsumer(
        settings.dossier_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"intake-test-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(wait_s):
            async for record in consumer:
                event = CloudEvent.model_validate(json.loads(record.value))
                if event.subject == code:
                    assert record.key.decode() == str(event.data["dossier_id"])
                    assert dict(record.headers)["content-type"].startswith(b"application/cloudevents+json")
                    return event
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")
