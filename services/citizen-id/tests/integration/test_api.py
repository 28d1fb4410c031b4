"""Integration tests on the real PostgreSQL and Kafka: seeding into a per-run database, then the HTTP API
through the app with its lifespan (migrations, pool, consumer) running and tokens from a test issuer."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from vietnam_provinces import Ward, WardCode

from citizen_id.domain import LEGACY_PROVINCES, parse_personal_id
from citizen_id.main import MIGRATIONS, create_app
from citizen_id.seed import seed
from citizen_id.settings import Settings
from citizen_id.subjects import citizen_subject
from motcua_common import PROBLEM_JSON, build_event
from motcua_common.auth import RECEIVING_OFFICER, SPECIALIST
from motcua_common.contracts import RegistryCorrectionRequested
from motcua_common.kafka import client_options
from motcua_common.testing import (
    RUN_ID,
    create_database,
    create_topics,
    delete_topics,
    drop_database,
    kafka_admin_settings,
    per_run_settings,
)
from motcua_common.testing_auth import TestIssuer

pytestmark = pytest.mark.integration
SEED_COUNT = 500
FIXED_COUNT = 6
TYPE_BASE = "https://motcua.gov.vn/problems/"
ABSENT_ID = "001450000001"  # well-formed (male born 2145), so certainly not in the registry
AN, KHOI, BINH, CUONG, DUNG, DECEASED = (
    "001090001234",
    "001222001235",
    "079195005678",
    "048200001111",
    "092301002222",
    "036045000999",
)
COMPANY = "0101234567"
UNIT_PEOPLES_COMMITTEE, UNIT_POLICE = "000.26.01.H29", "000.26.02.H29"
PERSONAL_TOPIC = f"test.{RUN_ID}.personal.events"
ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    s = per_run_settings(Settings, "citizen-id", personal_topic=PERSONAL_TOPIC)
    await drop_database(s)
    await create_database(s, MIGRATIONS)
    await create_topics(s.kafka_bootstrap, PERSONAL_TOPIC)
    yield s
    await drop_database(s)
    await delete_topics(s.kafka_bootstrap, PERSONAL_TOPIC)


@pytest.fixture(scope="module")
async def seeded(settings: Settings) -> int:
    return await seed(settings.dsn, SEED_COUNT, verbose=False, subject_secret=settings.subject_secret)


@pytest.fixture(scope="module")
async def app(settings: Settings, seeded: int):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.verifier = ISSUER.verifier()
        yield app


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://citizen-id") as c:
        yield c


@pytest.fixture(scope="module")
async def db(settings: Settings) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.dsn)
    yield conn
    await conn.close()


def sub(personal_id: str) -> str:
    return citizen_subject(personal_id, Settings().subject_secret)


def citizen(personal_id: str) -> str:
    return ISSUER.citizen(personal_id, sub=sub(personal_id))


def officer(unit: str, *roles: str, username: str = "hoa.tiepnhan") -> str:
    return ISSUER.officer(unit, *roles, sub=username)


INTAKE = ISSUER.service("intake", "registry:read", ttl=3600)


def assert_problem(resp: httpx.Response, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    return body


async def read(
    client: httpx.AsyncClient,
    user: str | None,
    personal_id: str | None = None,
    *,
    tax_code: str | None = None,
    purpose: str = "dossier:TEST-0001",
    service: str | None = INTAKE,
    endpoint: str = "prefill",
    **extra,
) -> httpx.Response:
    headers = {}
    if service is not None:
        headers["Authorization"] = f"Bearer {service}"
    if user is not None:
        headers["X-On-Behalf-Of"] = user
    body = {k: v for k, v in {"personal_id": personal_id, "tax_code": tax_code}.items() if v is not None}
    if endpoint == "prefill":
        body["purpose"] = purpose
    else:
        body.setdefault("procedure_code", "1.001193")
    return await client.post(f"/api/v1/identity/{endpoint}", json={**body, **extra}, headers=headers)


async def log_count(db: asyncpg.Connection, personal_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM access_log WHERE personal_id = $1", personal_id)


async def last_log(db: asyncpg.Connection, personal_id: str) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM access_log WHERE personal_id = $1 ORDER BY id DESC LIMIT 1", personal_id)


# --- seeding ---


async def test_seed_generates_consistent_citizens(seeded: int, db: asyncpg.Connection, settings: Settings):
    assert seeded == SEED_COUNT + FIXED_COUNT
    rows = await db.fetch(
        "SELECT personal_id, sex, date_of_birth, province_code, ward_code, email, phone,"
        " permanent_address, street, ward_name, subject FROM citizens"
    )
    assert len(rows) == SEED_COUNT + FIXED_COUNT
    for r in rows:
        parsed = parse_personal_id(r["personal_id"])
        assert parsed.sex == r["sex"], r["personal_id"]
        assert parsed.birth_year == r["date_of_birth"].year, r["personal_id"]
        assert parsed.province_code in LEGACY_PROVINCES
        ward = Ward.from_code(WardCode(int(r["ward_code"])))
        assert int(ward.province_code) == int(r["province_code"]) and ward.name == r["ward_name"]
        assert r["permanent_address"].startswith(f"{r['street']}, {r['ward_name']}, ")
        assert r["subject"] == citizen_subject(r["personal_id"], settings.subject_secret)
    adults = [r for r in rows if r["date_of_birth"].year <= 2008]
    with_email = sum(r["email"] is not None for r in adults)
    assert 0.15 * len(adults) < with_email < 0.45 * len(adults)


async def test_households_link_real_members(seeded: int, db: asyncpg.Connection):
    orphans = await db.fetchval(
        "SELECT count(*) FROM household_members m"
        " WHERE NOT EXISTS (SELECT 1 FROM citizens c WHERE c.personal_id = m.personal_id)"
    )
    assert orphans == 0
    homeless = await db.fetchval(
        "SELECT count(*) FROM citizens c"
        " WHERE NOT EXISTS (SELECT 1 FROM household_members m WHERE m.personal_id = c.personal_id)"
    )
    assert homeless == 0
    heads = await db.fetch(
        "SELECT household_id, count(*) FILTER (WHERE relation = 'head') AS heads FROM household_members GROUP BY 1"
    )
    assert all(h["heads"] == 1 for h in heads)
    # members share the head's address and date of birth as the population record has it
    mismatched = await db.fetchval(
        "SELECT count(*) FROM household_members m JOIN citizens c USING (personal_id) JOIN households h"
        " ON h.id = m.household_id WHERE c.permanent_address <> h.address OR c.date_of_birth <> m.date_of_birth"
    )
    assert mismatched == 0
    minors = await db.fetch(
        "SELECT m.household_id, m.personal_id, m.relation, c.family_name, c.date_of_birth FROM household_members m"
        " JOIN citizens c USING (personal_id) WHERE c.date_of_birth > (current_date - interval '18 years')"
    )
    assert len(minors) > SEED_COUNT // 10
    for m in minors:
        assert m["relation"] in ("child", "ward"), m
    # a child carries the family name of the household's man (the father) when there is one
    fathers = await db.fetch(
        "SELECT k.personal_id, ck.family_name AS child, cf.family_name AS father FROM household_members k"
        " JOIN citizens ck ON ck.personal_id = k.personal_id"
        " JOIN household_members f ON f.household_id = k.household_id AND f.relation IN ('head', 'spouse')"
        " JOIN citizens cf ON cf.personal_id = f.personal_id AND cf.sex = 'male' WHERE k.relation = 'child'"
    )
    assert fathers and all(f["child"] == f["father"] for f in fathers)
    demo = await db.fetch("SELECT personal_id, relation FROM household_members WHERE household_id = 1 ORDER BY 2")
    assert [tuple(r) for r in demo] == [(KHOI, "child"), (AN, "head")]


async def test_business_registry_and_authorizations(seeded: int, db: asyncpg.Connection):
    demo = await db.fetchrow("SELECT * FROM companies WHERE tax_code = $1", COMPANY)
    assert (demo["name"], demo["legal_representative"]) == ("Công ty TNHH Một Cửa Số", AN)
    companies = await db.fetch(
        "SELECT co.tax_code, c.date_of_birth FROM companies co"
        " JOIN citizens c ON c.personal_id = co.legal_representative"
    )
    assert len(companies) == await db.fetchval("SELECT count(*) FROM companies") == 1 + SEED_COUNT // 10
    assert all(len(c["tax_code"]) == 10 and c["date_of_birth"].year <= 2008 for c in companies)
    auth = await db.fetchrow("SELECT * FROM authorizations WHERE id = 1")
    assert (auth["grantor_id"], auth["grantee_id"], auth["valid_from"], auth["valid_to"]) == (
        CUONG,
        BINH,
        date(2026, 1, 1),
        date(2027, 12, 31),
    )


async def test_reseeding_adds_nothing_and_a_larger_count_adds_only_the_difference(
    settings: Settings, seeded: int, db: asyncpg.Connection
):
    members = await db.fetchval("SELECT count(*) FROM household_members")
    assert await seed(settings.dsn, SEED_COUNT, verbose=False) == 0
    assert await db.fetchval("SELECT count(*) FROM citizens") == SEED_COUNT + FIXED_COUNT
    assert await db.fetchval("SELECT count(*) FROM household_members") == members
    assert await seed(settings.dsn, SEED_COUNT + 20, verbose=False) == 20
    assert await seed(settings.dsn, SEED_COUNT + 20, verbose=False) == 0
    assert await db.fetchval("SELECT count(*) FROM household_members") == members + 20
    assert await db.fetchval("SELECT count(*) FROM citizens WHERE subject IS NULL") == 0


async def test_startup_warns_when_the_registry_is_empty(caplog: pytest.LogCaptureFixture):
    empty = per_run_settings(Settings, "citizen-id-empty", personal_topic=PERSONAL_TOPIC)
    await create_database(empty, MIGRATIONS)
    try:
        app = create_app(empty)
        with caplog.at_level(logging.WARNING, logger="citizen_id"):
            async with app.router.lifespan_context(app):
                pass
        assert any("citizens table is empty" in r.getMessage() for r in caplog.records)
    finally:
        await drop_database(empty)


# --- who may read: allowed ---


async def test_a_citizen_reads_their_own_record_and_the_read_is_logged(client, db):
    resp = await read(client, citizen(AN), AN, purpose="dossier:0c7b6a1e-self")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "verified": True,
        "on_behalf_via": "self",
        "personal_id": AN,
        "subject": sub(AN),
        "person": {
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-05-15",
            "sex": "male",
            "permanent_address": "Số 12, đường Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội",
        },
    }
    row = await last_log(db, AN)
    assert (row["caller_kind"], row["caller_id"], row["caller_unit"]) == ("citizen", sub(AN), None)
    assert (row["via_service"], row["on_behalf_via"], row["purpose"], row["dossier_ref"]) == (
        "intake",
        "self",
        "dossier:0c7b6a1e-self",
        "0c7b6a1e-self",
    )
    assert row["fields"] == ["full_name", "date_of_birth", "sex", "permanent_address"]


async def test_a_parent_reads_their_minor_child(client, db):
    resp = await read(client, citizen(AN), KHOI, fields=["full_name", "date_of_birth"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["on_behalf_via"] == "household" and body["subject"] == sub(KHOI)
    assert body["person"] == {"full_name": "Nguyễn Minh Khôi", "date_of_birth": "2022-03-15"}
    row = await last_log(db, KHOI)
    assert (row["caller_id"], row["on_behalf_via"]) == (sub(AN), "household")


async def test_a_grantee_reads_the_grantor_while_the_authorization_is_valid(client, db):
    resp = await read(client, citizen(BINH), CUONG)
    assert resp.status_code == 200, resp.text
    assert resp.json()["on_behalf_via"] == "authorization"
    assert (await last_log(db, CUONG))["caller_id"] == sub(BINH)


async def test_a_guardian_reads_a_ward_of_any_age_but_not_an_adult_child(client, db):
    adult_child = await db.fetchrow(
        "SELECT h.personal_id AS parent, k.personal_id AS child FROM household_members h"
        " JOIN household_members k ON k.household_id = h.household_id AND k.relation = 'child'"
        " WHERE h.relation = 'head' AND k.date_of_birth < current_date - interval '19 years' LIMIT 1"
    )
    before = await log_count(db, adult_child["child"])
    assert_problem(await read(client, citizen(adult_child["parent"]), adult_child["child"]), 403, "forbidden")
    assert await log_count(db, adult_child["child"]) == before
    # the same relation recorded as guardianship (an adult under guardianship) is a mandate
    await db.execute(
        "UPDATE household_members SET relation = 'ward' WHERE personal_id = $1 AND relation = 'child'",
        adult_child["child"],
    )
    resp = await read(client, citizen(adult_child["parent"]), adult_child["child"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["on_behalf_via"] == "household"


async def test_a_receiving_officer_reads_a_citizen_at_the_counter_logged_as_theirs(client, db):
    token = officer(UNIT_POLICE, RECEIVING_OFFICER, SPECIALIST, username="minh.congan")
    resp = await read(client, token, DUNG, purpose="dossier:000.26.02.H29-261123-0001-K7QXAB")
    assert resp.status_code == 200, resp.text
    assert resp.json()["on_behalf_via"] == "counter"
    row = await last_log(db, DUNG)
    assert (row["caller_kind"], row["caller_id"], row["caller_unit"], row["on_behalf_via"]) == (
        "officer",
        "minh.congan",
        UNIT_POLICE,
        "counter",
    )
    assert row["dossier_ref"] == "000.26.02.H29-261123-0001-K7QXAB"


async def test_post_office_staff_read_the_citizen_they_serve_logged_as_the_post(client, db):
    token = ISSUER.partner("vietnam-post", "dossiers:submit-post")
    resp = await read(client, token, DUNG, purpose="dossier:000.26.01.H29-261123-0002-K7QXAC")
    assert resp.status_code == 200, resp.text
    assert resp.json()["on_behalf_via"] == "post"
    row = await last_log(db, DUNG)
    assert (row["caller_kind"], row["caller_id"], row["on_behalf_via"]) == ("partner", "vietnam-post", "post")


async def test_the_legal_representative_reads_the_organisation(client, db):
    resp = await read(client, citizen(AN), tax_code=COMPANY)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "verified": True,
        "on_behalf_via": "organisation",
        "tax_code": COMPANY,
        "organisation": {
            "tax_code": COMPANY,
            "name": "Công ty TNHH Một Cửa Số",
            "address": "Số 1, đường Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
        },
        "role": "legal_representative",
    }
    row = await db.fetchrow("SELECT * FROM access_log WHERE tax_code = $1 ORDER BY id DESC LIMIT 1", COMPANY)
    assert (row["caller_id"], row["fields"]) == (sub(AN), ["tax_code", "name", "address"])


async def test_a_person_the_organisation_authorized_reads_it_only_while_valid(client, db):
    await db.execute(
        "INSERT INTO business_authorizations VALUES (900001, $1, $2, 'test', '2026-01-01', '2099-12-31', 'T-1'),"
        " (900002, $1, $3, 'test', '2020-01-01', '2020-12-31', 'T-2')",
        COMPANY,
        DUNG,
        CUONG,
    )
    resp = await read(client, citizen(DUNG), tax_code=COMPANY)
    assert resp.status_code == 200, resp.text
    assert resp.json()["role"] == "authorized"
    before = await db.fetchval("SELECT count(*) FROM access_log WHERE tax_code = $1", COMPANY)
    assert_problem(await read(client, citizen(CUONG), tax_code=COMPANY), 403, "forbidden")
    assert await db.fetchval("SELECT count(*) FROM access_log WHERE tax_code = $1", COMPANY) == before


async def test_preview_follows_the_same_rules_and_is_logged(client, db):
    resp = await read(client, citizen(AN), KHOI, endpoint="preview", procedure_code="1.001193")
    assert resp.status_code == 200, resp.text
    assert resp.json()["on_behalf_via"] == "household"
    row = await last_log(db, KHOI)
    assert (row["purpose"], row["dossier_ref"]) == ("preview:1.001193", None)
    before = await log_count(db, AN)
    assert_problem(await read(client, citizen(DUNG), AN, endpoint="preview"), 403, "forbidden")
    assert await log_count(db, AN) == before


async def test_prefill_returns_only_requested_fields_with_nulls_for_missing_contacts(client, db):
    resp = await read(client, citizen(DUNG), DUNG, fields=["email", "phone", "full_name", "email"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["person"] == {"email": None, "phone": None, "full_name": "Phạm Thu Dung"}
    assert (await last_log(db, DUNG))["fields"] == ["email", "phone", "full_name"]


# --- who may read: refused (and the victim's log stays untouched) ---

REFUSALS = {
    "another citizen": (lambda: citizen(DUNG), AN),
    "a child for their parent": (lambda: citizen(KHOI), AN),
    "the grantor for the grantee (authorizations are one-way)": (lambda: citizen(CUONG), BINH),
    "a specialist officer": (lambda: officer(UNIT_PEOPLES_COMMITTEE, SPECIALIST, username="lan.chuyenvien"), AN),
    "an approver and unit head": (lambda: officer(UNIT_PEOPLES_COMMITTEE, "approver", "unit_head"), AN),
    "a partner without the post-submission scope": (lambda: ISSUER.partner("provincial-system", "dossiers:read"), AN),
    "a stranger asking about a deceased person": (lambda: citizen(DUNG), DECEASED),
    "a stranger asking about an id not in the registry": (lambda: citizen(DUNG), ABSENT_ID),
}


@pytest.mark.parametrize("attempt", list(REFUSALS))
async def test_refused_reads_are_403_and_leave_no_trace(client, db, attempt):
    user, victim = REFUSALS[attempt]
    before = await db.fetchval("SELECT count(*) FROM access_log")
    assert_problem(await read(client, user(), victim), 403, "forbidden")
    assert await db.fetchval("SELECT count(*) FROM access_log") == before


async def test_an_authorization_outside_its_validity_is_refused(client, db):
    await db.execute(
        "INSERT INTO authorizations VALUES (900001, $1, $2, 'test', '2020-01-01', '2020-12-31', 'OLD'),"
        " (900002, $1, $2, 'test', '2099-01-01', '2099-12-31', 'FUTURE')",
        DUNG,
        CUONG,
    )
    before = await log_count(db, DUNG)
    assert_problem(await read(client, citizen(CUONG), DUNG), 403, "forbidden")
    assert await log_count(db, DUNG) == before


async def test_the_demo_authorization_holds_only_inside_its_period(db):
    from citizen_id import service  # the decision itself, on a date outside 2026-01-01..2027-12-31

    user = ISSUER.verifier()
    principal = await user.verify(citizen(BINH))
    async with db.transaction():
        assert await service.decide_person(db, principal, CUONG, date(2027, 12, 31)) == "authorization"
        for outside in (date(2025, 12, 31), date(2028, 1, 1)):
            with pytest.raises(Exception, match="no mandate"):
                await service.decide_person(db, principal, CUONG, outside)


@pytest.mark.parametrize(
    ("what", "headers", "status"),
    [
        ("no service token", {"X-On-Behalf-Of": "USER"}, 401),
        (
            "a citizen token in place of the service token",
            {"Authorization": "Bearer USER", "X-On-Behalf-Of": "USER"},
            403,
        ),
        ("a service token without registry:read", {"Authorization": "Bearer NOSCOPE", "X-On-Behalf-Of": "USER"}, 403),
        ("a partner token as the service", {"Authorization": "Bearer PARTNER", "X-On-Behalf-Of": "USER"}, 403),
        ("no end user", {"Authorization": "Bearer SERVICE"}, 401),
        ("a forged end-user token", {"Authorization": "Bearer SERVICE", "X-On-Behalf-Of": "FORGED"}, 401),
        ("a service as the end user", {"Authorization": "Bearer SERVICE", "X-On-Behalf-Of": "SERVICE"}, 403),
    ],
)
@pytest.mark.parametrize("endpoint", ["prefill", "preview"])
async def test_registry_reads_need_a_service_and_an_end_user(client, db, what, headers, status, endpoint):
    tokens = {
        "USER": citizen(AN),
        "SERVICE": INTAKE,
        "NOSCOPE": ISSUER.service("reporting", "dossiers:read"),
        "PARTNER": ISSUER.partner("provincial-system", "dossiers:read", "registry:read"),
        "FORGED": TestIssuer().citizen(AN, sub=sub(AN)),
    }
    headers = {k: v.replace(v.split()[-1], tokens[v.split()[-1]]) for k, v in headers.items()}
    before = await log_count(db, AN)
    body = (
        {"personal_id": AN, "purpose": "dossier:X"}
        if endpoint == "prefill"
        else {"personal_id": AN, "procedure_code": "1"}
    )
    resp = await client.post(f"/api/v1/identity/{endpoint}", json=body, headers=headers)
    assert_problem(resp, status, "unauthorized" if status == 401 else "forbidden")
    assert await log_count(db, AN) == before, what


async def test_deceased_is_409_for_a_counter_officer_and_nothing_is_logged(client, db):
    resp = await read(client, officer(UNIT_PEOPLES_COMMITTEE, RECEIVING_OFFICER), DECEASED)
    assert_problem(resp, 409, "citizen-not-active")
    assert await log_count(db, DECEASED) == 0


async def test_unknown_id_is_404_for_a_counter_officer(client):
    resp = await read(client, officer(UNIT_PEOPLES_COMMITTEE, RECEIVING_OFFICER), ABSENT_ID)
    body = assert_problem(resp, 404, "citizen-not-found")
    assert body["title"] == "Không tìm thấy công dân trong Cơ sở dữ liệu quốc gia về dân cư"


@pytest.mark.parametrize(
    ("pid", "detail"),
    [("12345", "exactly 12 digits"), ("00109000123x", "only the digits"), ("003090001234", "unknown province")],
)
async def test_malformed_personal_id_is_422(client, pid, detail):
    body = assert_problem(await read(client, citizen(AN), pid), 422, "invalid-personal-id")
    assert detail in body["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"personal_id": AN},
        {"personal_id": AN, "purpose": "   "},
        {"personal_id": AN, "purpose": "dossier:X", "fields": ["ethnicity"]},
        {"personal_id": AN, "purpose": "dossier:X", "fields": []},
        {"purpose": "dossier:X"},
        {"personal_id": AN, "tax_code": COMPANY, "purpose": "dossier:X"},
        {"tax_code": "12345", "purpose": "dossier:X"},
    ],
)
async def test_prefill_validation_errors(client, db, body):
    before = await db.fetchval("SELECT count(*) FROM access_log")
    headers = {"Authorization": f"Bearer {INTAKE}", "X-On-Behalf-Of": citizen(AN)}
    assert_problem(await client.post("/api/v1/identity/prefill", json=body, headers=headers), 422, "validation-error")
    assert await db.fetchval("SELECT count(*) FROM access_log") == before


# --- the citizen's own pages ---


async def test_access_log_shows_who_how_when_which_fields_and_why(client, db):
    await read(client, citizen(BINH), BINH, purpose="dossier:LOG-1", fields=["full_name"])
    await read(client, officer(UNIT_PEOPLES_COMMITTEE, RECEIVING_OFFICER, username="hoa.tiepnhan"), BINH,
               purpose="dossier:LOG-2")  # fmt: skip
    resp = await client.get("/api/v1/me/access-log", headers=ISSUER.bearer(citizen(BINH)), params={"limit": 2})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    newest, previous = page["items"]
    assert newest["who"] == {"kind": "officer", "id": "hoa.tiepnhan", "unit": UNIT_PEOPLES_COMMITTEE, "is_self": False}
    assert (newest["via_service"], newest["on_behalf_via"], newest["purpose"], newest["dossier"]) == (
        "intake",
        "counter",
        "dossier:LOG-2",
        "LOG-2",
    )
    assert newest["fields"] == ["full_name", "date_of_birth", "sex", "permanent_address"]
    assert previous["who"] == {"kind": "citizen", "id": sub(BINH), "unit": None, "is_self": True}
    assert previous["fields"] == ["full_name"] and previous["on_behalf_via"] == "self"
    assert datetime.fromisoformat(newest["accessed_at"]) >= datetime.fromisoformat(previous["accessed_at"])


async def test_access_log_pagination_newest_first(client):
    for n in (1, 2, 3):
        assert (await read(client, citizen(CUONG), CUONG, purpose=f"dossier:PAGE-{n}")).status_code == 200
    headers = ISSUER.bearer(citizen(CUONG))
    page1 = (await client.get("/api/v1/me/access-log", params={"limit": 2}, headers=headers)).json()
    assert [e["purpose"] for e in page1["items"]] == ["dossier:PAGE-3", "dossier:PAGE-2"]
    page2 = (await client.get("/api/v1/me/access-log", params={"limit": 2, "cursor": page1["next_cursor"]},
                              headers=headers)).json()  # fmt: skip
    assert [e["purpose"] for e in page2["items"]][0] == "dossier:PAGE-1"


async def test_access_log_of_a_citizen_never_looked_up_is_empty(client):
    resp = await client.get("/api/v1/me/access-log", headers=ISSUER.bearer(citizen("001195000042")))
    assert resp.status_code == 200
    assert resp.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [({"limit": 0}, 422, "validation-error"), ({"limit": 101}, 422, "validation-error"),
     ({"cursor": "not-a-cursor"}, 400, "invalid-cursor")],
)  # fmt: skip
async def test_access_log_bad_query_is_a_problem(client, params, status, slug):
    resp = await client.get("/api/v1/me/access-log", params=params, headers=ISSUER.bearer(citizen(AN)))
    assert_problem(resp, status, slug)


async def test_my_profile(client):
    resp = await client.get("/api/v1/me/profile", headers=ISSUER.bearer(citizen(CUONG)))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "personal_id": CUONG,
        "full_name": "Lê Minh Cường",
        "family_name": "Lê",
        "middle_name": "Minh",
        "given_name": "Cường",
        "date_of_birth": "2000-01-10",
        "sex": "male",
        "permanent_address": "Số 7, đường Bạch Đằng, Phường Hải Châu, Thành phố Đà Nẵng",
        "address": {
            "province_code": "48",
            "province_name": "Thành phố Đà Nẵng",
            "ward_code": "20242",
            "ward_name": "Phường Hải Châu",
            "street": "Số 7, đường Bạch Đằng",
        },
        "email": "cuong.le@example.vn",
        "phone": None,
        "status": "active",
        "subject": sub(CUONG),
        "open_corrections": [],
    }


async def test_my_mandates(client, db):
    resp = await client.get("/api/v1/me/mandates", headers=ISSUER.bearer(citizen(AN)))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "people": [
            {"personal_id": KHOI, "full_name": "Nguyễn Minh Khôi", "relation": "child", "valid_from": None,
             "valid_to": "2040-03-14", "document_ref": None},
        ],
        "organisations": [
            {"tax_code": COMPANY, "name": "Công ty TNHH Một Cửa Số", "role": "legal_representative",
             "valid_from": None, "valid_to": None},
        ],
    }  # fmt: skip
    row = await last_log(db, KHOI)
    assert (row["purpose"], row["caller_id"], row["fields"]) == ("mandates", sub(AN), ["full_name"])
    binh = (await client.get("/api/v1/me/mandates", headers=ISSUER.bearer(citizen(BINH)))).json()
    assert binh["people"] == [
        {"personal_id": CUONG, "full_name": "Lê Minh Cường", "relation": "authorization", "valid_from": "2026-01-01",
         "valid_to": "2027-12-31", "document_ref": "UQ-2026-000001"},
    ]  # fmt: skip
    assert binh["organisations"] == []
    khoi = (await client.get("/api/v1/me/mandates", headers=ISSUER.bearer(citizen(KHOI)))).json()
    assert khoi == {"people": [], "organisations": []}


@pytest.mark.parametrize("path", ["/api/v1/me/profile", "/api/v1/me/access-log", "/api/v1/me/mandates"])
async def test_my_pages_are_for_citizens_only(client, path):
    assert_problem(await client.get(path), 401, "unauthorized")
    assert_problem(
        await client.get(path, headers=ISSUER.bearer(officer(UNIT_POLICE, RECEIVING_OFFICER))), 403, "forbidden"
    )
    assert_problem(await client.get(path, headers=ISSUER.bearer(INTAKE)), 403, "forbidden")


@pytest.mark.parametrize("path", [f"/api/v1/citizens/{AN}", f"/api/v1/citizens/{AN}/access-log"])
async def test_the_open_citizen_endpoints_are_gone(client, path):
    resp = await client.get(path)
    assert resp.status_code == 404
    assert "Nguyễn" not in resp.text


# --- corrections ---


def correction(**fields) -> RegistryCorrectionRequested:
    values = {
        "dossier_id": uuid.uuid4(),
        "dossier_code": f"000.26.01.H29-261123-0001-{RUN_ID[:6].upper()}",
        "occurred_at": datetime.now(UTC),
        "correction_id": uuid.uuid4(),
        "personal_id": DUNG,
        "field": "permanent_address",
        "registry_value": "Số 88, đường Hòa Bình, Phường Ninh Kiều, Thành phố Cần Thơ",
        "proposed_value": "Số 90, đường Hòa Bình, Phường Ninh Kiều, Thành phố Cần Thơ",
    }
    return RegistryCorrectionRequested(**{**values, **fields})


async def test_a_correction_event_on_the_personal_topic_opens_a_request_once(client, db, settings):
    data = correction(note="Số nhà sai")
    event = build_event(data, source="/intake", subject=data.dossier_code)
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        for _ in range(2):  # a redelivery: same CloudEvent id
            await producer.send_and_wait(
                PERSONAL_TOPIC, event.model_dump_json().encode(), key=str(data.dossier_id).encode()
            )
    finally:
        await producer.stop()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await db.fetchval("SELECT count(*) FROM correction_requests WHERE correction_id = $1", data.correction_id):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # give a duplicate the chance to show up
    rows = await db.fetch("SELECT * FROM correction_requests WHERE correction_id = $1", data.correction_id)
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["field"], rows[0]["note"], rows[0]["event_id"]) == (
        "open",
        "permanent_address",
        "Số nhà sai",
        event.id,
    )
    profile = (await client.get("/api/v1/me/profile", headers=ISSUER.bearer(citizen(DUNG)))).json()
    assert [c["correction_id"] for c in profile["open_corrections"]] == [str(data.correction_id)]
    assert profile["open_corrections"][0]["proposed_value"] == data.proposed_value


async def test_the_correction_handler_is_idempotent_in_a_transaction(db):
    from citizen_id.handlers import HANDLERS

    data = correction(personal_id=BINH, field="email", proposed_value="binh@example.vn")
    event = build_event(data, source="/intake", subject=data.dossier_code)
    handler = HANDLERS["vn.motcua.registry.correction_requested.v1"]
    async with db.transaction():
        await handler(db, event)
        await handler(db, event)
    assert (
        await db.fetchval("SELECT count(*) FROM correction_requests WHERE correction_id = $1", data.correction_id) == 1
    )


async def test_openapi_declares_the_operations_and_problem_responses(client):
    spec = (await client.get("/openapi.json")).json()
    ops = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    assert set(ops) == {
        "citizen_id_prefill",
        "citizen_id_preview",
        "citizen_id_my_profile",
        "citizen_id_my_access_log",
        "citizen_id_my_mandates",
    }
    for op in ops.values():
        assert op["summary"]
        assert PROBLEM_JSON in op["responses"]["403"]["content"]
        assert "$ref" in op["responses"]["200"]["content"]["application/json"]["schema"]
