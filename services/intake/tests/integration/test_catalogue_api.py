"""The versioned catalogue over HTTP, on the real PostgreSQL and Kafka: publishing versions (who may, what is
refused), reading them, effective dates, the shipped files, and submissions that follow the definition (channel,
fee, legal time, bundles as linked dossiers, atomically)."""

import json
import shutil
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from intake.versions import CatalogueError, load_catalogue, read_shipped
from motcua_common.contracts import DossierContact, DossierSubmitted, ProcedureVersionPublished
from motcua_common.procedures import ProcedureDefinition
from motcua_common.testing import RUN_ID

VN = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE = "000.26.01.H29"
POLICE = "000.26.02.H29"
SOCIAL_INSURANCE = "000.12.00.H29"


def today() -> date:
    return datetime.now(VN).date()


def new_code(label: str) -> str:
    return f"T{RUN_ID}-{label}-{uuid.uuid4().hex[:4]}"


def draft(settings, base: str = "1.004873", **changes) -> dict:
    """A shipped definition as a publishing body: without version and code, with ``changes``."""
    shipped = {d.code: d for d in read_shipped(settings.catalogue_dir)}[base]
    body = shipped.model_dump(mode="json", exclude={"version", "code"})
    return {**body, "effective_from": today().isoformat(), **changes}


async def publish(api, headers: dict, code: str, body: dict, unit_code: str | None = COMMUNE):
    params = {"unit_code": unit_code} if unit_code else {}
    return await api.client.post(f"/api/v1/procedures/{code}/versions", json=body, headers=headers, params=params)


async def published(api, headers: dict, code: str, body: dict, unit_code: str | None = COMMUNE) -> dict:
    resp = await publish(api, headers, code, body, unit_code)
    assert resp.status_code == 201, resp.text
    return resp.json()


# --- Who may publish ------------------------------------------------------------------------------------------


async def test_only_provincial_operators_publish_versions(api, who, intake_settings):
    code = new_code("authz")
    body = draft(intake_settings)
    # two operators: each publishes the next version
    first = await published(api, who.quan, code, body)
    second = await published(api, who.thu, code, {**body, "name": "Xác nhận tình trạng hôn nhân (bản 2)"})
    assert (first["version"], second["version"]) == (1, 2)
    assert first["source"] == "operator" and first["unit"]["code"] == COMMUNE
    # two officers who are not operators, a citizen and a partner: 403, and nothing published
    for headers in (who.hoa, who.minh, who.an, who.provincial):
        api.problem(await publish(api, headers, code, {**body, "name": "Không được phép"}), 403, "forbidden")
    api.problem(await publish(api, {}, code, body), 401, "unauthorized")
    page = (await api.client.get(f"/api/v1/procedures/{code}/versions")).json()
    assert [v["version"] for v in page["items"]] == [1, 2]


# --- Reading versions -------------------------------------------------------------------------------------------


async def test_versions_are_listed_page_by_page_and_read_one_by_one_without_a_token(api, who, intake_settings):
    code = new_code("pages")
    for n in range(3):
        await published(api, who.quan, code, draft(intake_settings, fee={"amount_vnd": 1000 * n}))
    first = (await api.client.get(f"/api/v1/procedures/{code}/versions", params={"limit": 2})).json()
    assert [v["version"] for v in first["items"]] == [1, 2] and first["next_cursor"]
    rest = await api.client.get(
        f"/api/v1/procedures/{code}/versions", params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [v["version"] for v in rest.json()["items"]] == [3] and rest.json()["next_cursor"] is None
    one = (await api.client.get(f"/api/v1/procedures/{code}/versions/2")).json()
    assert one["definition"]["code"] == code and one["definition"]["version"] == 2
    assert one["definition"]["fee"]["amount_vnd"] == 1000
    # all three from today: only the last is in force, the earlier ones were superseded before they began
    assert [v["in_force"] for v in first["items"] + rest.json()["items"]] == [False, False, True]
    assert first["items"][0]["effective_to"] == (today() - timedelta(days=1)).isoformat()
    api.problem(await api.client.get(f"/api/v1/procedures/{code}/versions/9"), 404, "procedure-not-found")
    api.problem(await api.client.get("/api/v1/procedures/9.999999/versions"), 404, "procedure-not-found")
    api.problem(await api.client.get(f"/api/v1/procedures/{code}/versions/0"), 422, "validation-error")


async def test_the_shipped_versions_are_readable_with_their_sources(client):
    versions = (await client.get("/api/v1/procedures/MC-CO-UU-DAI/versions")).json()["items"]
    assert len(versions) >= 1
    co = versions[0]
    assert co["source"] == "shipped" and co["unit"]["code"] == "VCCI.HN"
    assert co["definition"]["budget"] == {"working_days": None, "working_hours": 8}
    assert any("1103/QĐ-BCT" in s for s in co["definition"]["sources"])


# --- What publishing refuses ------------------------------------------------------------------------------------


async def test_invalid_definitions_are_422_problems_with_clear_messages(api, who, intake_settings):
    code = new_code("invalid")
    body = draft(intake_settings)
    cases = [
        # step budgets that do not add up to the overall budget
        ({**body, "budget": {"working_days": 5}}, "invalid-procedure-definition", "budget"),
        # in force from a past date
        (
            {**body, "effective_from": (today() - timedelta(days=1)).isoformat()},
            "invalid-procedure-definition",
            "effective_from",
        ),
        # a step leading to a step that does not exist (the model's own validation)
        (
            {**body, "steps": [{**body["steps"][0], "actions": {"receive": "nowhere"}}, *body["steps"][1:]]},
            "validation-error",
            "body",
        ),
        ({**body, "version": 7}, "validation-error", "version"),  # intake numbers versions
        ({**body, "code": "1.001193"}, "invalid-procedure-definition", "code"),  # not the path's code
        ({**body, "channels": []}, "validation-error", "channels"),
        ({**body, "bundle": {"members": ["1.001193", "9.999999"], "budget": body["budget"]}}, None, "bundle.members"),
    ]
    for bad, slug, field in cases:
        resp = await publish(api, who.quan, code, bad)
        problem = api.problem(resp, 422, slug or "invalid-procedure-definition")
        assert any(e["field"].startswith(field) for e in problem["errors"]), (field, problem)
        assert all(e["message"] for e in problem["errors"])
    resp = await publish(api, who.quan, code, {**body, "steps": [{**body["steps"][0], "actions": {"receive": "x"}}]})
    assert "leads to unknown step 'x'" in json.dumps(resp.json())
    # the competent unit: unknown, of another level, or not named for a new procedure
    api.problem(await publish(api, who.quan, code, body, unit_code="NO.SUCH.UNIT"), 422, "invalid-procedure-definition")
    wrong_level = api.problem(
        await publish(api, who.quan, code, body, unit_code=POLICE), 422, "invalid-procedure-definition"
    )
    assert wrong_level["errors"][0]["field"] == "level"
    api.problem(await publish(api, who.quan, code, body, unit_code=None), 422, "invalid-procedure-definition")
    # nothing of it was published
    api.problem(await api.client.get(f"/api/v1/procedures/{code}/versions"), 404, "procedure-not-found")


async def test_publishing_the_same_definition_again_publishes_nothing(api, who, intake_settings, intake_app):
    code = new_code("again")
    body = draft(intake_settings)
    first = await published(api, who.quan, code, body)
    again = await publish(api, who.thu, code, body)
    assert again.status_code == 200 and again.json()["version"] == first["version"] == 1
    async with intake_app.state.pool.acquire() as conn:
        events = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", code)
    assert events == 1


# --- Events -----------------------------------------------------------------------------------------------------


async def test_each_version_is_announced_once_on_the_catalogue_topic(api, who, intake_settings, intake_app):
    code = new_code("event")
    v1 = await published(api, who.quan, code, draft(intake_settings))
    await published(api, who.thu, code, draft(intake_settings, name="Xác nhận tình trạng hôn nhân (bản 2)"))
    async with intake_app.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT topic, key, payload FROM outbox WHERE key = $1 ORDER BY payload->>'sequence'", code
        )
    assert [(r["topic"], r["key"]) for r in rows] == [(intake_settings.catalogue_topic, code)] * 2
    assert [r["payload"]["sequence"] for r in rows] == ["0000000001", "0000000002"]
    data = ProcedureVersionPublished.model_validate(rows[0]["payload"]["data"])
    assert data.definition() == ProcedureDefinition.model_validate(v1["definition"])
    assert data.published_at is not None
    # and the relay publishes it, keyed by the procedure code
    record, event = await api.kafka_record(
        intake_settings.catalogue_topic, lambda e: e.subject == code and e.sequence == "0000000002"
    )
    assert record.key.decode() == code and event.type == ProcedureVersionPublished.type_name()
    assert event.data["name"] == "Xác nhận tình trạng hôn nhân (bản 2)" and event.data["steps"]


async def test_shipped_versions_are_announced_once_and_loading_again_changes_nothing(intake_settings, intake_app):
    shipped = read_shipped(intake_settings.catalogue_dir)
    async with intake_app.state.pool.acquire() as conn:
        before = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = $1", ProcedureVersionPublished.type_name()
        )
        announced = await conn.fetch(
            "SELECT key, count(*) AS n FROM outbox WHERE event_type = $1 AND payload->>'source' = '/motcua/intake'"
            " AND key = ANY($2::text[]) GROUP BY key",
            ProcedureVersionPublished.type_name(),
            [d.code for d in shipped],
        )
    assert {r["key"]: r["n"] for r in announced} == {d.code: 1 for d in shipped}
    assert (
        await load_catalogue(
            intake_settings.dsn, topic=intake_settings.catalogue_topic, directory=intake_settings.catalogue_dir
        )
        == []
    )
    async with intake_app.state.pool.acquire() as conn:
        after = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = $1", ProcedureVersionPublished.type_name()
        )
    assert after == before


async def test_a_shipped_file_that_differs_from_its_stored_version_stops_the_load(
    intake_settings, intake_app, tmp_path
):
    shutil.copy(intake_settings.catalogue_dir / "1.004222.v1.json", tmp_path / "1.004222.v1.json")
    edited = json.loads((tmp_path / "1.004222.v1.json").read_text(encoding="utf-8"))
    edited["fee"]["amount_vnd"] = 25_000
    (tmp_path / "1.004222.v1.json").write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"1\.004222\.v1: the stored version differs"):
        await load_catalogue(intake_settings.dsn, topic=intake_settings.catalogue_topic, directory=tmp_path)
    async with intake_app.state.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT definition FROM procedures WHERE code = '1.004222' AND version = 1")
    assert stored["fee"]["amount_vnd"] == 20_000  # never silently changed


# --- Effective dates and running dossiers ----------------------------------------------------------------------


async def test_a_dossier_keeps_its_version_when_a_new_one_is_published(api, who, intake_settings):
    code = new_code("keep")
    await published(api, who.quan, code, draft(intake_settings, fee={"amount_vnd": 5000, "online_amount_vnd": 3000}))
    old = await api.submitted(who.an, {"procedure_code": code})
    assert (old["procedure"]["version"], old["fee_vnd"], old["processing_days"]) == (1, 3000, 3)
    # v2 from today: other fee, other legal time (same-day steps of the birth registration)
    v2 = draft(intake_settings, "1.001193", name="Xác nhận tình trạng hôn nhân (bản 2)", fee={"amount_vnd": 0})
    await published(api, who.thu, code, v2)
    new = await api.submitted(who.an, {"procedure_code": code})
    assert (new["procedure"]["version"], new["fee_vnd"], new["processing_days"]) == (2, 0, 0)
    # the first dossier still shows version 1's rules: its version, fee and due date
    tracking = (await api.client.get(f"/api/v1/dossiers/{old['code']}", headers=who.an)).json()
    assert tracking["procedure"]["version"] == 1 and tracking["due_at"] == old["appointment_at"]
    application = (await api.client.get(f"/api/v1/dossiers/{old['code']}/application", headers=who.an)).json()
    assert application["procedure"] == {"code": code, "name": old["procedure"]["name"], "version": 1}
    v1 = (await api.client.get(f"/api/v1/procedures/{code}/versions/1")).json()
    assert v1["definition"]["fee"]["online_amount_vnd"] == 3000 and v1["in_force"] is False


async def test_a_version_in_force_from_tomorrow_waits_for_its_date(api, who, intake_settings, intake_app):
    from intake.service import _version_on_receipt

    code = new_code("later")
    await published(api, who.quan, code, draft(intake_settings, "1.001193"))
    clock = intake_app.state.clock
    next_day = clock.calendar.next_working_day(today())
    v2 = await published(
        api, who.quan, code, draft(intake_settings, "1.001193", name="Bản 2", effective_from=next_day.isoformat())
    )
    assert v2["in_force"] is False
    versions = (await api.client.get(f"/api/v1/procedures/{code}/versions")).json()["items"]
    assert versions[0]["in_force"] and versions[0]["effective_to"] == (next_day - timedelta(days=1)).isoformat()
    detail = (await api.client.get(f"/api/v1/procedures/{code}")).json()
    assert detail["version"] == 1
    # a same-day dossier that arrives after 15:00 counts as received on the next working day: it is received
    # under the version in force then
    late = datetime.combine(today(), datetime.min.time(), VN).replace(hour=16)
    async with intake_app.state.pool.acquire() as conn:
        procedure, received = await _version_on_receipt(conn, clock, code, late)
    assert received.date() == next_day and procedure.definition.version == 2
    early = datetime.combine(today(), datetime.min.time(), VN).replace(hour=9)
    if clock.calendar.is_working_day(today()):
        async with intake_app.state.pool.acquire() as conn:
            procedure, received = await _version_on_receipt(conn, clock, code, early)
        assert received.date() == today() and procedure.definition.version == 1


async def test_a_late_submission_reads_the_receipt_dates_version_in_its_first_statement(
    api, who, intake_settings, intake_app, monkeypatch
):
    """After the cut-off and on days off a dossier counts as received on the next working day, under the version in
    force then: the submission's first statement reads that version beside today's, so no other look-up is sent
    for it (the version in force on the receipt date was one statement more per submission)."""
    from intake import service
    from intake.schemas import DossierCreate

    code = new_code("late")
    await published(api, who.quan, code, draft(intake_settings, "1.001193"))  # a same-day procedure: 15:00 cut-off
    state = intake_app.state
    clock = state.clock
    next_day = clock.calendar.next_working_day(today())
    later = draft(intake_settings, "1.001193", name="Bản 2", effective_from=next_day.isoformat())
    await published(api, who.quan, code, later)

    async def no_look_up(*args: object) -> None:
        raise AssertionError("a statement of its own for the version in force on the receipt date")

    monkeypatch.setattr(service, "in_force", no_look_up)
    principal = await state.verifier.verify(who.an["Authorization"].removeprefix("Bearer "))

    async def submit(at: datetime) -> dict:
        receipt, replayed = await service.submit(
            state.pool,
            state.registry,
            clock,
            state.settings,
            principal=principal,
            body=DossierCreate.model_validate({"procedure_code": code}),
            idempotency_key=str(uuid.uuid4()),
            request_id=None,
            submitted_at=at,
        )
        assert not replayed
        return receipt.model_dump(mode="json")

    def at(day: date, hour: int) -> datetime:
        return datetime.combine(day, datetime.min.time(), VN).replace(hour=hour)

    opening = datetime.combine(next_day, clock.office_hours.opening, VN)
    # 16:00 today: received at the next working day's opening, under version 2 that comes into force then
    late = await submit(at(today(), 16))
    assert late["procedure"]["version"] == 2 and datetime.fromisoformat(late["received_at"]) == opening
    assert late["code"].split("-")[1] == today().strftime("%y%m%d")  # numbered on the day it arrived
    # 14:59 on a working day: received at once, under the version in force today (nothing asked of the next day)
    if clock.calendar.is_working_day(today()):
        early = await submit(at(today(), 14).replace(minute=59))
        assert early["procedure"]["version"] == 1
        assert datetime.fromisoformat(early["received_at"]) == at(today(), 14).replace(minute=59)
    assert clock.later_receipt_day(at(today(), 14).replace(minute=59)) == (
        None if clock.calendar.is_working_day(today()) else next_day
    )
    # a day off: received the working day after it, under the version in force on that day
    day_off = next(
        d for d in (today() + timedelta(days=n) for n in range(1, 15)) if not clock.calendar.is_working_day(d)
    )
    weekend = await submit(at(day_off, 10))
    receipt_day = clock.calendar.next_working_day(day_off)
    assert clock.later_receipt_day(at(day_off, 10)) == receipt_day
    assert weekend["procedure"]["version"] == 2
    assert datetime.fromisoformat(weekend["received_at"]) == datetime.combine(
        receipt_day, clock.office_hours.opening, VN
    )


# --- Submissions that follow the definition --------------------------------------------------------------------


async def test_a_channel_the_procedure_does_not_accept_is_refused(api, who, reg):
    refused = await api.submit(who.an, {"procedure_code": "1.007073"})  # counters and post only
    problem = api.problem(refused, 422, "channel-not-allowed")
    assert problem["title"].startswith("Thủ tục này không tiếp nhận hồ sơ trực tuyến")
    assert problem["errors"] == [{"field": "channel", "message": "not one of ['counter', 'service_centre', 'post']"}]
    by_post = await api.submit(
        who.post,
        {
            "procedure_code": "MC-CO-UU-DAI",
            "channel": "post",
            "applicant": {"kind": "organisation", "tax_code": reg.COMPANY},
        },
    )
    assert api.problem(by_post, 422, "channel-not-allowed")["title"].endswith("trực tuyến, tại bộ phận một cửa")


async def test_the_fee_of_the_channel_is_on_the_receipt_in_the_event_and_stored(api, who, reg, intake_app):
    online = await api.submitted(who.an, {"procedure_code": "1.004222"})
    counter = await api.submitted(
        who.minh,
        {"procedure_code": "1.004222", "channel": "counter", "applicant": {"kind": "citizen", "personal_id": reg.DUNG}},
    )
    assert (online["fee_vnd"], counter["fee_vnd"]) == (10_000, 20_000)
    assert online["budget"] == {"working_days": 7, "working_hours": None} and online["processing_days"] == 7
    for receipt, fee in ((online, 10_000), (counter, 20_000)):
        [row] = [r for r in await api.outbox(receipt["code"]) if r["event_type"] == DossierSubmitted.type_name()]
        assert DossierSubmitted.model_validate(row["payload"]["data"]).fee_vnd == fee
        async with intake_app.state.pool.acquire() as conn:
            assert await conn.fetchval("SELECT fee_vnd FROM dossiers WHERE code = $1", receipt["code"]) == fee


async def test_an_hour_budget_and_an_inter_agency_unit(api, who, reg):
    co = await api.submitted(
        who.an, {"procedure_code": "MC-CO-UU-DAI", "applicant": {"kind": "organisation", "tax_code": reg.COMPANY}}
    )
    assert co["budget"] == {"working_days": None, "working_hours": 8} and co["processing_days"] == 1
    assert co["unit"]["code"] == "VCCI.HN"
    received, due = datetime.fromisoformat(co["received_at"]), datetime.fromisoformat(co["appointment_at"])
    assert timedelta(hours=8) <= due - received <= timedelta(days=5)  # eight office hours, weekends between
    liaison = await api.submitted(
        who.hoa,
        {"procedure_code": "1.007073", "channel": "counter", "applicant": {"kind": "citizen", "personal_id": reg.DUNG}},
    )
    [row] = [r for r in await api.outbox(liaison["code"]) if r["event_type"] == DossierSubmitted.type_name()]
    data = DossierSubmitted.model_validate(row["payload"]["data"])
    assert data.performer_units is not None and data.performer_units["commune_police"].code == POLICE
    assert data.unit_code == COMMUNE and data.processing_days == 5


# --- Bundles (Project 06) ---------------------------------------------------------------------------------------

BIRTH_BUNDLE = "MC-LT-KHAI-SINH"


async def test_a_bundle_is_submitted_as_linked_dossiers_all_due_within_its_budget(api, who, reg, intake_app):
    body = {
        "procedure_code": BIRTH_BUNDLE,
        "applicant": {"kind": "citizen", "personal_id": reg.KHOI},
        "components": [{"code": "TK-LT01", "file_name": "to-khai.pdf"}, {"code": "GCS", "file_name": "gcs.pdf"}],
    }
    key = str(uuid.uuid4())
    resp = await api.submit(who.an, body, key)
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    bundle = receipt["bundle"]
    dossiers = bundle["dossiers"]
    assert [d["procedure"]["code"] for d in dossiers] == ["1.001193", "1.004222", "MC-BHYT-TRE-EM"]
    assert [d["unit"]["code"] for d in dossiers] == [COMMUNE, POLICE, SOCIAL_INSURANCE]
    assert receipt["code"] == dossiers[0]["code"] and len({d["code"] for d in dossiers}) == 3
    assert bundle["procedure"]["code"] == BIRTH_BUNDLE and "liên thông" in receipt["message"]
    clock = intake_app.state.clock
    received = datetime.fromisoformat(receipt["received_at"]).astimezone(VN)
    due = datetime.combine(clock.calendar.add_working_days(received.date(), 3), clock.office_hours.closing, VN)
    assert datetime.fromisoformat(bundle["due_at"]) == due
    assert all(datetime.fromisoformat(d["appointment_at"]) <= due for d in dossiers)
    # permanent residence takes 7 working days on its own: the bundle's 3 cap it
    assert datetime.fromisoformat(dossiers[1]["appointment_at"]) == due
    assert [d["fee_vnd"] for d in dossiers] == [0, 10_000, 0] and bundle["fee_vnd"] == 10_000
    # one submitted event per dossier, each naming the bundle and its dossiers; a contact event per dossier
    ids = [d["id"] for d in dossiers]
    for d in dossiers:
        rows = await api.outbox(d["code"])
        [submitted] = [r for r in rows if r["event_type"] == DossierSubmitted.type_name()]
        data = DossierSubmitted.model_validate(submitted["payload"]["data"])
        assert data.bundle is not None and data.bundle.code == BIRTH_BUNDLE
        assert [str(i) for i in data.bundle.dossier_ids] == ids and str(data.dossier_id) == d["id"]
        assert data.procedure_code == d["procedure"]["code"] and data.procedure_version == 1
        assert data.appointment_at == datetime.fromisoformat(d["appointment_at"])
        assert [r["event_type"] for r in rows].count(DossierContact.type_name()) == 1
    # the same key again: the same bundle
    again = await api.submit(who.an, body, key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["bundle"] == bundle
    # each dossier is readable on its own
    for d in dossiers:
        assert (await api.client.get(f"/api/v1/dossiers/{d['code']}", headers=who.an)).status_code == 200


async def test_a_bundle_is_stored_whole_or_not_at_all(api, who, reg, intake_app):
    """A real failure inside the transaction (a trigger refusing the third member's row): no dossier, no event."""
    marker = f"fail-{uuid.uuid4().hex[:8]}"
    async with intake_app.state.pool.acquire() as conn:
        await conn.execute(
            f"""CREATE FUNCTION refuse_{marker.replace("-", "_")}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.form_data ? '{marker}' AND NEW.procedure_code = 'MC-BHYT-TRE-EM' THEN
                RAISE EXCEPTION 'refused by the test';
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_{marker.replace("-", "_")} BEFORE INSERT ON dossiers
              FOR EACH ROW EXECUTE FUNCTION refuse_{marker.replace("-", "_")}();"""
        )
        outbox_before = await conn.fetchval("SELECT count(*) FROM outbox")
    try:
        with pytest.raises(asyncpg.RaiseError, match="refused by the test"):
            await api.submit(
                who.an,
                {
                    "procedure_code": BIRTH_BUNDLE,
                    "applicant": {"kind": "citizen", "personal_id": reg.KHOI},
                    "form_data": {marker: True},
                },
            )
    finally:
        async with intake_app.state.pool.acquire() as conn:
            await conn.execute(f"DROP TRIGGER refuse_{marker.replace('-', '_')} ON dossiers")
            await conn.execute(f"DROP FUNCTION refuse_{marker.replace('-', '_')}()")
    async with intake_app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dossiers WHERE form_data ? $1", marker) == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox_before


async def test_intake_refuses_to_start_before_the_catalogue_is_loaded(intake_settings):
    from intake.main import MIGRATIONS, create_app
    from motcua_common.db import SchemaNotReady
    from motcua_common.testing import create_database, drop_database

    bare = intake_settings.model_copy(update={"database": intake_settings.database + "_bare"})
    await create_database(bare, MIGRATIONS)  # the migrations, not the shipped versions
    try:
        app = create_app(bare)
        with pytest.raises(SchemaNotReady, match=r"1\.001193\.v1 is not loaded.*make migrate"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await drop_database(bare)


async def test_in_a_bundle_each_member_keeps_its_own_cut_off(intake_app, reg):
    """Submitted at 16:00: the bundle (3 working days) counts from 16:00, the same-day birth registration from the
    next working day's morning (15:00 rule), and no member is due after the bundle."""
    from intake.schemas import DossierCreate
    from intake.service import _plan

    clock = intake_app.state.clock
    day = clock.calendar.next_working_day(today())
    at_four = datetime.combine(day, datetime.min.time(), VN).replace(hour=16)
    body = DossierCreate.model_validate(
        {"procedure_code": BIRTH_BUNDLE, "applicant": {"kind": "citizen", "personal_id": reg.KHOI}}
    )
    async with intake_app.state.pool.acquire() as conn:
        plan = await _plan(conn, clock, body, at_four)
    next_day = clock.calendar.next_working_day(day)
    assert plan.received_at == at_four
    assert plan.due_at == datetime.combine(clock.calendar.add_working_days(day, 3), clock.office_hours.closing, VN)
    birth, residence, card = plan.dossiers
    assert birth.appointment_at == datetime.combine(next_day, clock.office_hours.closing, VN)
    assert residence.appointment_at == card.appointment_at == plan.due_at
    assert residence.budget.working_days == 3 and birth.budget.working_days == 0
