"""Intake over HTTP, on the real PostgreSQL and Kafka: the catalogue, submission, events, idempotency."""

import asyncio
import json
import re
import uuid

import pytest

from motcua_common.contracts import DossierContact, DossierSubmitted
from motcua_common.events import CloudEvent

OWN = {"procedure_code": "1.004873", "channel": "online"}  # the caller's own dossier: no applicant needed
CODE = re.compile(r"^000\.26\.01\.H29-\d{6}-\d{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")


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


async def test_unknown_procedure_and_bad_cursor_are_problems(client, api):
    api.problem(await client.get("/api/v1/procedures/9.999999"), 404, "procedure-not-found")
    api.problem(await client.get("/api/v1/procedures", params={"cursor": "not-a-cursor"}), 400, "invalid-cursor")
    api.problem(await client.get("/api/v1/procedures", params={"limit": 0}), 422, "validation-error")


async def test_submit_prefills_from_the_registry_on_the_callers_behalf(api, who, reg, calls, citizen_id):
    resp = await api.submit(who.an, {**OWN, "applicant": {"phone": "0987654321"}})
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    assert CODE.match(receipt["code"]), receipt["code"]
    assert resp.headers["location"] == f"/api/v1/dossiers/{receipt['code']}"
    assert receipt["submitted_by"] == {"kind": "citizen", "subject": reg.subject_of(reg.AN)}
    assert receipt["on_behalf_via"] == "self"
    assert receipt["receiving_unit_code"] is None
    applicant = receipt["applicant"]
    assert applicant["kind"] == "citizen" and applicant["personal_id"] == reg.AN
    assert applicant["subject"] == reg.subject_of(reg.AN)
    assert applicant["full_name"] == "Nguyễn Văn An" and applicant["email"] == "an.nguyen@example.vn"
    assert applicant["phone"] == "0987654321"  # typed: wins over the registry's
    assert receipt["field_origins"] == {
        "full_name": "registry",
        "date_of_birth": "registry",
        "sex": "registry",
        "permanent_address": "registry",
        "email": "registry",
        "phone": "typed",
    }
    assert receipt["appointment_at"] > receipt["received_at"]
    assert "Ngày hẹn trả kết quả" in receipt["message"]
    # one registry read, with intake's own service token and An's token on behalf (checked by the fake),
    # for this dossier by code
    assert [c["caller"] for c in calls] == [reg.subject_of(reg.AN)]
    assert calls[0]["path"] == "/api/v1/identity/prefill"
    assert calls[0]["body"]["purpose"] == f"dossier:{receipt['code']}"
    assert calls[0]["body"]["personal_id"] == reg.AN
    assert citizen_id.token_requests >= 1


async def test_events_dossier_topic_has_no_personal_data_contact_goes_to_the_personal_topic(
    api, who, reg, intake_settings
):
    receipt = await api.submitted(who.an, {**OWN, "notify_channels": ["app", "sms"]})
    rows = await api.outbox(receipt["code"])
    assert sorted((r["topic"], r["event_type"]) for r in rows) == sorted(
        [
            (intake_settings.dossier_topic, DossierSubmitted.type_name()),
            (intake_settings.personal_topic, DossierContact.type_name()),
        ]
    )
    submitted = next(r for r in rows if r["topic"] == intake_settings.dossier_topic)["payload"]
    text = json.dumps(submitted, ensure_ascii=False)
    for value in [reg.AN, *(v for v in reg.PEOPLE[reg.AN].values() if v)]:
        assert value not in text, f"personal data {value!r} on the dossier topic"
    data = DossierSubmitted.model_validate(submitted["data"])
    assert data.applicant.subject == reg.subject_of(reg.AN) and data.applicant.tax_code is None
    assert data.submitted_by.kind == "citizen" and data.submitted_by.subject == reg.subject_of(reg.AN)
    assert data.receiving_unit_code is None and data.processing_days == 3

    contact = DossierContact.model_validate(
        next(r for r in rows if r["topic"] == intake_settings.personal_topic)["payload"]["data"]
    )
    assert contact.recipient_subject == reg.subject_of(reg.AN)
    assert contact.full_name == "Nguyễn Văn An" and contact.email == "an.nguyen@example.vn"
    assert contact.phone == "0912345678" and contact.notify_channels == ["app", "sms"]
    assert contact.procedure_name == "Xác nhận tình trạng hôn nhân"

    # and the relay really publishes each to its own topic, keyed by dossier id
    event = await _find_event(api, intake_settings.dossier_topic, receipt["code"])
    assert event.type == DossierSubmitted.type_name() and event.source == "/motcua/intake"
    personal = await _find_event(api, intake_settings.personal_topic, receipt["code"])
    assert personal.type == DossierContact.type_name()


async def test_same_idempotency_key_gives_the_same_dossier(api, who, calls):
    key = str(uuid.uuid4())
    first = await api.submit(who.an, OWN, key)
    again = await api.submit(who.an, OWN, key)
    assert first.status_code == again.status_code == 201
    assert first.json()["code"] == again.json()["code"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(calls) == 1  # the replay does not read the registry again
    assert len(await api.outbox(first.json()["code"])) == 2
    # the receipt answered at submission (built from what was written) is the one read back from the database
    assert again.json() == first.json()
    # the replay took no number of the unit's daily series: the next dossier has the next one
    following = await api.submit(who.an, OWN)
    assert _number(following.json()["code"]) == _number(first.json()["code"]) + 1


def _number(code: str) -> int:
    """The dossier's number in its unit's daily series (``<unit>-<YYMMDD>-<number>-<check>``)."""
    return int(code.split("-")[2])


async def test_idempotency_keys_are_scoped_per_submitter(api, who, reg):
    key = str(uuid.uuid4())
    an = await api.submit(who.an, OWN, key)
    binh = await api.submit(who.binh, OWN, key)  # the same key, the same body, another citizen
    assert an.status_code == binh.status_code == 201
    assert "idempotent-replayed" not in binh.headers
    assert binh.json()["code"] != an.json()["code"]
    assert binh.json()["applicant"]["personal_id"] == reg.BINH  # never An's receipt
    assert "Nguyễn Văn An" not in binh.text
    # and each replays their own
    assert (await api.submit(who.binh, OWN, key)).json()["code"] == binh.json()["code"]
    assert (await api.submit(who.an, OWN, key)).json()["code"] == an.json()["code"]


async def test_concurrent_retries_with_one_key_make_one_dossier(api, who):
    key = str(uuid.uuid4())
    results = await asyncio.gather(*[api.submit(who.an, OWN, key) for _ in range(5)])
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["code"] for r in results}) == 1


async def test_key_reused_with_another_body_is_rejected(api, who):
    key = str(uuid.uuid4())
    assert (await api.submit(who.an, OWN, key)).status_code == 201
    other = {**OWN, "procedure_code": "1.001193"}
    api.problem(await api.submit(who.an, other, key), 422, "idempotency-key-reused")


COUNTER = {"procedure_code": "1.004873", "channel": "counter"}


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (
            {**COUNTER, "procedure_code": "9.999999", "applicant": {"personal_id": "048200001111"}},
            422,
            "procedure-not-found",
        ),
        ({**COUNTER, "applicant": {"personal_id": "12345"}}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"personal_id": "00109000123X"}}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"personal_id": "999090001234"}}, 422, "invalid-personal-id"),
        ({**COUNTER, "applicant": {"personal_id": "001090009999"}}, 422, "applicant-not-found"),
        ({**COUNTER, "applicant": {"kind": "organisation", "tax_code": "0100000000"}}, 422, "applicant-not-found"),
        ({**COUNTER, "applicant": {"personal_id": "001099999999"}}, 503, "citizen-registry-unavailable"),
        ({**COUNTER}, 422, "applicant-required"),
        ({"applicant": {"personal_id": "001090001234"}, "channel": "counter"}, 422, "validation-error"),
        ({**COUNTER, "channel": "fax", "applicant": {"personal_id": "001090001234"}}, 422, "validation-error"),
        ({**COUNTER, "applicant": "001090001234"}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"personal_id": 1090001234}}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"kind": "organisation"}}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"kind": "organisation", "tax_code": "12"}}, 422, "validation-error"),
        ({**COUNTER, "applicant": {"tax_code": "0101234567"}}, 422, "validation-error"),
        (
            {**COUNTER, "applicant": {"personal_id": "001090001234"}, "components": [{"code": "NOPE"}]},
            422,
            "unknown-component",
        ),
        (
            {**COUNTER, "procedure_code": "1.0\u00000", "applicant": {"personal_id": "001090001234"}},
            422,
            "invalid-characters",
        ),
        (
            {**COUNTER, "applicant": {"personal_id": "001090001234"}, "form_data": {"ghi_chu": "a\u0000b"}},
            422,
            "invalid-characters",
        ),
        ({**COUNTER, "applicant": {"personal_id": "001090001234", "email": "not-an-email"}}, 422, "validation-error"),
    ],
)
async def test_bad_submissions_are_problems(api, who, body, status, slug):
    # a receiving officer at the counter may take anyone's dossier, so the registry's own answers come through
    problem = api.problem(await api.submit(who.hoa, body), status, slug)
    assert problem["title"]


async def test_missing_key_malformed_json_and_oversized_body(client, api, who, intake_settings):
    api.problem(await client.post("/api/v1/dossiers", json=OWN, headers=who.an), 400, "idempotency-key-required")
    bad = await client.post(
        "/api/v1/dossiers",
        content=b'{"procedure_code": ',
        headers={**who.an, "Idempotency-Key": "k1", "content-type": "application/json"},
    )
    api.problem(bad, 400, "malformed-json")
    # JSON bodies keep the platform limit even though uploads may be larger
    huge = {**OWN, "form_data": {"x": "a" * (intake_settings.max_body_bytes + 10)}}
    api.problem(await api.submit(who.an, huge), 413, "payload-too-large")


async def test_request_id_is_echoed_or_assigned(client):
    mine = await client.get("/api/v1/procedures", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/api/v1/procedures")).headers["x-request-id"]) >= 16


async def test_dossier_codes_are_not_sequential_guesses(api, who):
    codes = [(await api.submitted(who.an, OWN))["code"] for _ in range(3)]
    assert all(CODE.match(c) for c in codes)
    assert len({c.rsplit("-", 1)[1] for c in codes}) == 3  # the random parts differ
    # the previous code with the next sequence number is not a dossier
    unit, day, seq, _ = codes[-1].split("-")
    guess = f"{unit}-{day}-{int(seq) + 1:04d}-AAAAAA"
    assert (await api.client.get(f"/api/v1/public/dossiers/{guess}")).status_code == 404


async def _find_event(api, topic: str, code: str) -> CloudEvent:
    record, event = await api.kafka_record(topic, lambda e: e.subject == code)
    assert record.key.decode() == str(event.data["dossier_id"])
    assert dict(record.headers)["content-type"].startswith(b"application/cloudevents+json")
    return event
