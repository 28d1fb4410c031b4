"""Who may submit for whom and who may read what: two citizens, a parent and child, an organisation, officers of
two units with different roles, partners with and without the post scope. Every refusal is named."""

import json

import pytest

from motcua_common.contracts import DossierContact, DossierSubmitted

OWN = {"procedure_code": "1.004873", "channel": "online"}
BIRTH = "1.001193"  # competent unit 000.26.01.H29


def _for(personal_id: str, channel: str = "online", **extra) -> dict:
    return {"procedure_code": BIRTH, "channel": channel, "applicant": {"personal_id": personal_id}, **extra}


@pytest.mark.parametrize(
    ("caller", "body", "why"),
    [
        ("an", {**OWN, "channel": "counter"}, "a citizen may not use the counter channel"),
        ("an", {**OWN, "channel": "post"}, "a citizen may not use the post channel"),
        ("lan", _for("048200001111", "counter"), "a specialist is not a receiving officer"),
        ("quan", _for("048200001111", "service_centre"), "the provincial operator takes no dossiers"),
        ("hoa", _for("048200001111", "online"), "a receiving officer submits at a counter, not online"),
        ("provincial", _for("048200001111", "post"), "a partner without dossiers:submit-post"),
        ("post", _for("048200001111", "online"), "the post submits with channel post only"),
        ("service", _for("048200001111", "online"), "a service token does not submit"),
    ],
)
async def test_intake_refuses_clear_cases_without_asking_the_registry(api, who, calls, caller, body, why):
    api.problem(await api.submit(getattr(who, caller), body), 403, "forbidden")
    assert calls == [], why
    # the same callers get the same answer on preview
    resp = await api.client.post("/api/v1/dossiers/preview", json=body, headers=getattr(who, caller))
    api.problem(resp, 403, "forbidden")
    assert calls == [], why


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/dossiers", "post"),
        ("/api/v1/dossiers/preview", "post"),
        ("/api/v1/dossiers/000.26.01.H29-261121-0001-K7QXM2", "get"),
        ("/api/v1/dossiers/000.26.01.H29-261121-0001-K7QXM2/application", "get"),
        ("/api/v1/dossiers/000.26.01.H29-261121-0001-K7QXM2/corrections", "post"),
        ("/api/v1/me/documents", "get"),
        ("/api/v1/me/documents", "post"),
        ("/api/v1/me/documents/8c1f3c52-4b0e-4a43-9c55-1a4c52b3e1aa/content", "get"),
    ],
)
async def test_no_token_is_401(api, calls, path, method):
    kwargs = {"json": OWN, "headers": {"Idempotency-Key": "k"}} if method == "post" else {}
    resp = await getattr(api.client, method)(path, **kwargs)
    api.problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    bad = await getattr(api.client, method)(path, **{**kwargs, "headers": {"Authorization": "Bearer not.a.token"}})
    api.problem(bad, 401, "unauthorized")
    assert calls == []


async def test_a_citizen_may_not_submit_for_a_stranger_and_the_registry_says_so(api, who, reg, calls):
    # Bình holds no mandate for An's son: the registry is asked (it alone knows mandates) and refuses
    problem = api.problem(await api.submit(who.binh, _for(reg.KHOI)), 403, "applicant-not-permitted")
    assert "quyền" in problem["title"]
    assert [c["caller"] for c in calls] == [reg.subject_of(reg.BINH)]
    api.problem(
        await api.submit(who.dung, {**OWN, "applicant": {"kind": "organisation", "tax_code": reg.COMPANY}}),
        403,
        "applicant-not-permitted",
    )
    # and nothing was stored for either attempt
    async with api.app.state.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM dossiers WHERE (submitter_subject = $1 AND applicant_subject = $2)"
            " OR (submitter_subject = $3 AND applicant_tax_code = $4)",
            reg.subject_of(reg.BINH),
            reg.subject_of(reg.KHOI),
            reg.subject_of(reg.DUNG),
            reg.COMPANY,
        )
    assert stored == 0


async def test_a_parent_submits_for_a_minor_child(api, who, reg, intake_settings):
    receipt = await api.submitted(who.an, _for(reg.KHOI, components=[{"code": "GCS", "file_name": "gcs.pdf"}]))
    assert receipt["on_behalf_via"] == "household"
    assert receipt["applicant"]["subject"] == reg.subject_of(reg.KHOI)
    assert receipt["applicant"]["full_name"] == "Nguyễn Minh Khôi"
    assert receipt["submitted_by"]["subject"] == reg.subject_of(reg.AN)
    rows = {r["topic"]: r["payload"]["data"] for r in await api.outbox(receipt["code"])}
    submitted = DossierSubmitted.model_validate(rows[intake_settings.dossier_topic])
    assert submitted.applicant.subject == reg.subject_of(reg.KHOI)
    assert submitted.submitted_by.subject == reg.subject_of(reg.AN)
    # the father is notified, under his own name; the child's registry contact details are not his
    contact = DossierContact.model_validate(rows[intake_settings.personal_topic])
    assert contact.recipient_subject == reg.subject_of(reg.AN)
    assert contact.full_name == "Nguyễn Văn An"
    code = receipt["code"]
    # both the child (applicant) and the father (submitter) may follow it; Bình may not
    for caller in ("an", "khoi"):
        assert (await api.client.get(f"/api/v1/dossiers/{code}", headers=getattr(who, caller))).status_code == 200
        assert (
            await api.client.get(f"/api/v1/dossiers/{code}/application", headers=getattr(who, caller))
        ).status_code == 200
    api.problem(await api.client.get(f"/api/v1/dossiers/{code}", headers=who.binh), 404, "dossier-not-found")


async def test_a_written_authorization_lets_binh_submit_for_cuong(api, who, reg):
    receipt = await api.submitted(who.binh, _for(reg.CUONG))
    assert receipt["on_behalf_via"] == "authorization"
    assert receipt["applicant"]["personal_id"] == reg.CUONG
    # Cường (applicant) and Bình (submitter) read it; An does not
    assert (await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.cuong)).status_code == 200
    assert (await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.binh)).status_code == 200
    api.problem(await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.an), 404, "dossier-not-found")


async def test_a_legal_representative_submits_for_the_organisation(api, who, reg, intake_settings):
    body = {"procedure_code": "2.000815", "applicant": {"kind": "organisation", "tax_code": reg.COMPANY}}
    receipt = await api.submitted(who.an, body)
    assert receipt["on_behalf_via"] == "legal_representative"
    applicant = receipt["applicant"]
    assert applicant["kind"] == "organisation" and applicant["tax_code"] == reg.COMPANY
    assert applicant["name"] == "Công ty TNHH Một Cửa Số" and applicant["personal_id"] is None
    assert receipt["field_origins"] == {"name": "registry", "address": "registry"}
    rows = {r["topic"]: r["payload"]["data"] for r in await api.outbox(receipt["code"])}
    submitted = DossierSubmitted.model_validate(rows[intake_settings.dossier_topic])
    assert submitted.applicant.kind == "organisation" and submitted.applicant.tax_code == reg.COMPANY
    assert "Công ty" not in json.dumps(rows[intake_settings.dossier_topic], ensure_ascii=False)
    contact = DossierContact.model_validate(rows[intake_settings.personal_topic])
    assert contact.recipient_subject == reg.subject_of(reg.AN)


async def test_a_receiving_officer_takes_a_dossier_at_the_counter(api, who, reg, calls, intake_settings):
    receipt = await api.submitted(
        who.hoa, _for(reg.DUNG, "counter", applicant={"personal_id": reg.DUNG, "phone": "0911000222"})
    )
    assert receipt["receiving_unit_code"] == "000.26.01.H29"
    assert receipt["submitted_by"] == {"kind": "officer", "subject": "hoa.tiepnhan"}
    assert receipt["on_behalf_via"] == "officer"
    assert [c["caller"] for c in calls] == ["hoa.tiepnhan"]  # the registry read is the officer's
    rows = {r["topic"]: r["payload"]["data"] for r in await api.outbox(receipt["code"])}
    submitted = DossierSubmitted.model_validate(rows[intake_settings.dossier_topic])
    assert submitted.channel == "counter" and submitted.receiving_unit_code == "000.26.01.H29"
    assert submitted.submitted_by.kind == "officer"
    contact = DossierContact.model_validate(rows[intake_settings.personal_topic])
    assert contact.recipient_subject == reg.subject_of(reg.DUNG)  # the citizen who showed up is notified
    assert contact.full_name == "Phạm Thu Dung" and contact.phone == "0911000222"
    assert contact.email == "dung.pham@example.vn"
    # Dung, the applicant, follows the dossier the officer took for her
    assert (await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.dung)).status_code == 200


async def test_a_service_centre_of_another_unit_receives_for_the_competent_unit(api, who, reg):
    receipt = await api.submitted(who.ha, _for(reg.CUONG, "service_centre"))
    code = receipt["code"]
    assert receipt["receiving_unit_code"] == "000.00.01.H29" and receipt["unit"]["code"] == "000.26.01.H29"
    for caller in ("ha", "hoa", "lan", "quan", "cuong"):
        resp = await api.client.get(f"/api/v1/dossiers/{code}", headers=getattr(who, caller))
        assert resp.status_code == 200, caller
    api.problem(await api.client.get(f"/api/v1/dossiers/{code}", headers=who.minh), 404, "dossier-not-found")


async def test_the_post_submits_with_channel_post(api, who, reg, intake_settings):
    receipt = await api.submitted(who.post, _for(reg.CUONG, "post"))
    assert receipt["submitted_by"] == {"kind": "partner", "subject": "vietnam-post"}
    assert receipt["receiving_unit_code"] is None and receipt["channel"] == "post"
    rows = {r["topic"]: r["payload"]["data"] for r in await api.outbox(receipt["code"])}
    contact = DossierContact.model_validate(rows[intake_settings.personal_topic])
    assert contact.recipient_subject == reg.subject_of(reg.CUONG)
    # submitting gives the post no read right: its scope is submit-post only
    api.problem(await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.post), 404, "dossier-not-found")


async def test_who_may_track_and_read_the_application(api, who, reg):
    code = (await api.submitted(who.an, {"procedure_code": BIRTH}))["code"]
    expected = {
        # caller: (tracking, application)
        "an": (200, 200),  # applicant and submitter
        "binh": (404, 404),  # another citizen
        "khoi": (404, 404),  # his son is not a party to An's own dossier
        "hoa": (200, 200),  # receiving officer of the competent unit
        "lan": (200, 200),  # specialist of the competent unit
        "minh": (404, 404),  # officer of another unit, whatever his roles
        "ha": (404, 404),  # receiving officer of the service centre, which did not receive this one
        "quan": (200, 404),  # provincial operator: tracking of every unit, not the personal application
        "provincial": (200, 404),  # partner with dossiers:read
        "vcci": (404, 404),  # dossiers:read limited to unit VCCI.HN
        "post": (404, 404),  # submit-post scope only
        "service": (404, 404),
    }
    for caller, (tracking, application) in expected.items():
        headers = getattr(who, caller)
        got_tracking = (await api.client.get(f"/api/v1/dossiers/{code}", headers=headers)).status_code
        got_application = (await api.client.get(f"/api/v1/dossiers/{code}/application", headers=headers)).status_code
        assert (got_tracking, got_application) == (tracking, application), caller
    # a refusal looks exactly like a code that does not exist
    refused = await api.client.get(f"/api/v1/dossiers/{code}", headers=who.binh)
    unknown = await api.client.get("/api/v1/dossiers/000.26.01.H29-000101-9999-AAAAAA", headers=who.binh)
    assert refused.json()["type"] == unknown.json()["type"] and refused.json()["title"] == unknown.json()["title"]


async def test_the_application_shows_origins_and_the_tracking_starts_at_reception(api, who, reg):
    receipt = await api.submitted(
        who.an, {"procedure_code": BIRTH, "applicant": {"email": "an.moi@example.vn"}, "form_data": {"ghi_chu": "x"}}
    )
    tracking = (await api.client.get(f"/api/v1/dossiers/{receipt['code']}", headers=who.an)).json()
    assert tracking["status"] == "submitted" and tracking["timeline"][0]["step"] == "receive"
    app = (await api.client.get(f"/api/v1/dossiers/{receipt['code']}/application", headers=who.hoa)).json()
    assert app["applicant"]["email"] == "an.moi@example.vn"
    assert app["field_origins"]["email"] == "typed" and app["field_origins"]["full_name"] == "registry"
    assert app["form_data"] == {"ghi_chu": "x"} and app["corrections"] == []
    assert app["submitted_by"] == {"kind": "citizen", "subject": reg.subject_of(reg.AN)}


async def test_public_lookup_shows_no_personal_data(api, who, reg):
    receipt = await api.submitted(who.an, {"procedure_code": BIRTH})
    resp = await api.client.get(f"/api/v1/public/dossiers/{receipt['code']}")  # no token needed
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"code", "status", "status_label", "current_step_name", "unit", "due_at"}
    assert body["status"] == "submitted" and body["current_step_name"] == "Tiếp nhận hồ sơ"
    assert body["unit"]["code"] == "000.26.01.H29"
    for value in [reg.AN, reg.subject_of(reg.AN), *(v for v in reg.PEOPLE[reg.AN].values() if v)]:
        assert value not in resp.text
    api.problem(
        await api.client.get("/api/v1/public/dossiers/000.26.01.H29-000101-9999-AAAAAA"), 404, "dossier-not-found"
    )


async def test_preview_shows_what_would_be_prefilled_and_stores_nothing(api, who, reg, calls):
    async with api.app.state.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM dossiers")
    resp = await api.client.post(
        "/api/v1/dossiers/preview",
        json={"procedure_code": BIRTH, "applicant": {"personal_id": reg.KHOI, "phone": "0912000111"}},
        headers=who.an,
    )
    assert resp.status_code == 200, resp.text
    preview = resp.json()
    assert preview["on_behalf_via"] == "household" and preview["procedure"]["code"] == BIRTH
    fields = {f["field"]: (f["value"], f["origin"]) for f in preview["fields"]}
    assert fields["full_name"] == ("Nguyễn Minh Khôi", "registry")
    assert fields["date_of_birth"] == ("2022-03-15", "registry")
    assert fields["phone"] == ("0912000111", "typed")
    assert "email" not in fields  # the registry holds none for him and none was typed
    assert calls[0]["path"] == "/api/v1/identity/preview" and calls[0]["body"]["procedure_code"] == BIRTH
    async with api.app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dossiers") == before
    # Bình gets the registry's refusal
    refused = await api.client.post(
        "/api/v1/dossiers/preview",
        json={"procedure_code": BIRTH, "applicant": {"personal_id": reg.KHOI}},
        headers=who.binh,
    )
    api.problem(refused, 403, "applicant-not-permitted")
    unknown = await api.client.post("/api/v1/dossiers/preview", json={"procedure_code": "9.9"}, headers=who.an)
    api.problem(unknown, 422, "procedure-not-found")
