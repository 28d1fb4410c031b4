"""Integration tests on the real PostgreSQL: seeding into a per-run database, then the HTTP API
through the app with its lifespan (migrations, pool) running."""

import logging

import asyncpg
import httpx
import pytest
from vietnam_provinces import Ward, WardCode

from citizen_id.domain import LEGACY_PROVINCES, parse_personal_id
from citizen_id.main import MIGRATIONS, create_app
from citizen_id.seed import seed
from citizen_id.settings import Settings
from motcua_common import PROBLEM_JSON
from motcua_common.testing import create_database, drop_database, per_run_settings

pytestmark = pytest.mark.integration
SEED_COUNT = 500
FIXED_COUNT = 5
TYPE_BASE = "https://motcua.gov.vn/problems/"
ABSENT_ID = "001450000001"  # well-formed (male born 2145), so certainly not in the registry


@pytest.fixture(scope="module")
async def settings() -> Settings:
    s = per_run_settings(Settings, "citizen-id")
    await drop_database(s)
    await create_database(s, MIGRATIONS)
    yield s
    await drop_database(s)


@pytest.fixture(scope="module")
async def seeded(settings: Settings) -> int:
    return await seed(settings.dsn, SEED_COUNT, verbose=False)


@pytest.fixture(scope="module")
async def client(settings: Settings, seeded: int) -> httpx.AsyncClient:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://citizen-id") as c:
            yield c


@pytest.fixture(scope="module")
async def db(settings: Settings) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.dsn)
    yield conn
    await conn.close()


def assert_problem(resp: httpx.Response, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    return body


async def prefill(
    client: httpx.AsyncClient, personal_id: str, purpose: str = "dossier:TEST-0001", **extra
) -> httpx.Response:
    return await client.post(
        "/api/v1/identity/prefill",
        json={"personal_id": personal_id, "purpose": purpose, "requested_by": "intake", **extra},
    )


# --- seeding ---


async def test_seed_generates_consistent_citizens(seeded: int, db: asyncpg.Connection):
    assert seeded == SEED_COUNT + FIXED_COUNT
    rows = await db.fetch(
        "SELECT personal_id, sex, date_of_birth, province_code, ward_code, email, phone,"
        " permanent_address, street, ward_name FROM citizens"
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
    with_email = sum(r["email"] is not None for r in rows)
    assert 0.1 * len(rows) < with_email < 0.4 * len(rows)


async def test_reseeding_adds_nothing_and_a_larger_count_adds_only_the_difference(
    settings: Settings, seeded: int, db: asyncpg.Connection
):
    assert await seed(settings.dsn, SEED_COUNT, verbose=False) == 0
    assert await db.fetchval("SELECT count(*) FROM citizens") == SEED_COUNT + FIXED_COUNT
    assert await seed(settings.dsn, SEED_COUNT + 20, verbose=False) == 20
    assert await seed(settings.dsn, SEED_COUNT + 20, verbose=False) == 0


async def test_startup_warns_when_the_registry_is_empty(caplog: pytest.LogCaptureFixture):
    empty = per_run_settings(Settings, "citizen-id-empty")
    await create_database(empty)
    try:
        app = create_app(empty)
        with caplog.at_level(logging.WARNING, logger="citizen_id"):
            async with app.router.lifespan_context(app):
                pass
        assert any("citizens table is empty" in r.getMessage() for r in caplog.records)
    finally:
        await drop_database(empty)


# --- prefill and the access log ---


async def test_prefill_returns_the_default_fields_and_logs_the_access(client: httpx.AsyncClient):
    resp = await prefill(client, "001090001234", purpose="dossier:0c7b6a1e-prefill-default")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "personal_id": "001090001234",
        "verified": True,
        "person": {
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-05-15",
            "sex": "male",
            "permanent_address": "Số 12, đường Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội",
        },
    }
    log = await client.get("/api/v1/citizens/001090001234/access-log")
    assert log.status_code == 200
    entries = [e for e in log.json()["items"] if e["purpose"] == "dossier:0c7b6a1e-prefill-default"]
    assert len(entries) == 1
    assert entries[0]["requested_by"] == "intake"
    assert entries[0]["fields"] == ["full_name", "date_of_birth", "sex", "permanent_address"]
    assert entries[0]["accessed_at"]


async def test_prefill_returns_only_requested_fields_with_nulls_for_missing_contacts(
    client: httpx.AsyncClient, db: asyncpg.Connection
):
    resp = await prefill(client, "092301002222", fields=["email", "phone", "full_name", "email"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["person"] == {"email": None, "phone": None, "full_name": "Phạm Thu Dung"}
    logged = await db.fetchval(
        "SELECT fields FROM access_log WHERE personal_id = $1 ORDER BY id DESC LIMIT 1", "092301002222"
    )
    assert logged == ["email", "phone", "full_name"]


async def test_access_log_pagination(client: httpx.AsyncClient):
    pid = "079195005678"
    for n in (1, 2, 3):
        assert (await prefill(client, pid, purpose=f"dossier:PAGE-{n}")).status_code == 200
    first = await client.get(f"/api/v1/citizens/{pid}/access-log", params={"limit": 2})
    assert first.status_code == 200
    page1 = first.json()
    assert [e["purpose"] for e in page1["items"]] == ["dossier:PAGE-3", "dossier:PAGE-2"]
    assert page1["next_cursor"]
    second = await client.get(f"/api/v1/citizens/{pid}/access-log", params={"limit": 2, "cursor": page1["next_cursor"]})
    assert second.status_code == 200
    page2 = second.json()
    assert [e["purpose"] for e in page2["items"]] == ["dossier:PAGE-1"]
    assert page2["next_cursor"] is None


async def test_access_log_of_a_citizen_never_looked_up_is_empty(client: httpx.AsyncClient):
    resp = await client.get("/api/v1/citizens/048200001111/access-log")
    assert resp.status_code == 200
    assert resp.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("pid", "detail"),
    [
        ("12345", "exactly 12 digits"),
        ("00109000123x", "only the digits"),
        ("003090001234", "unknown province"),
        ("001790001234", "gender-century digit"),
    ],
)
async def test_malformed_personal_id_is_422_on_every_endpoint(client: httpx.AsyncClient, pid: str, detail: str):
    responses = [
        await prefill(client, pid),
        await client.get(f"/api/v1/citizens/{pid}"),
        await client.get(f"/api/v1/citizens/{pid}/access-log"),
    ]
    for resp in responses:
        body = assert_problem(resp, 422, "invalid-personal-id")
        assert body["title"] == "Số định danh cá nhân không hợp lệ"
        assert detail in body["detail"]


async def test_unknown_citizen_is_404_on_every_endpoint(client: httpx.AsyncClient):
    responses = [
        await prefill(client, ABSENT_ID),
        await client.get(f"/api/v1/citizens/{ABSENT_ID}"),
        await client.get(f"/api/v1/citizens/{ABSENT_ID}/access-log"),
    ]
    for resp in responses:
        body = assert_problem(resp, 404, "citizen-not-found")
        assert body["title"] == "Không tìm thấy công dân trong Cơ sở dữ liệu quốc gia về dân cư"


async def test_deceased_citizen_is_409_and_nothing_is_logged(client: httpx.AsyncClient, db: asyncpg.Connection):
    assert_problem(await prefill(client, "036045000999"), 409, "citizen-not-active")
    assert await db.fetchval("SELECT count(*) FROM access_log WHERE personal_id = '036045000999'") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"personal_id": "001090001234", "requested_by": "intake"},
        {"personal_id": "001090001234", "purpose": "   ", "requested_by": "intake"},
        {
            "personal_id": "001090001234",
            "purpose": "dossier:X",
            "requested_by": "intake",
            "fields": ["ethnicity"],
        },
        {"personal_id": "001090001234", "purpose": "dossier:X", "requested_by": "intake", "fields": []},
        {"personal_id": "001090001234", "purpose": "dossier:X"},
    ],
)
async def test_prefill_validation_errors(client: httpx.AsyncClient, db: asyncpg.Connection, body: dict):
    before = await db.fetchval("SELECT count(*) FROM access_log")
    assert_problem(await client.post("/api/v1/identity/prefill", json=body), 422, "validation-error")
    assert await db.fetchval("SELECT count(*) FROM access_log") == before


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"limit": 0}, 422, "validation-error"),
        ({"limit": 101}, 422, "validation-error"),
        ({"cursor": "not-a-cursor"}, 400, "invalid-cursor"),
    ],
)
async def test_access_log_bad_query_is_a_problem(client: httpx.AsyncClient, params: dict, status: int, slug: str):
    resp = await client.get("/api/v1/citizens/001090001234/access-log", params=params)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    assert resp.json()["type"].endswith("/" + slug)


async def test_get_citizen_record(client: httpx.AsyncClient):
    resp = await client.get("/api/v1/citizens/048200001111")
    assert resp.status_code == 200
    assert resp.json() == {
        "personal_id": "048200001111",
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
    }


async def test_openapi_declares_the_operations_and_problem_responses(client: httpx.AsyncClient):
    spec = (await client.get("/openapi.json")).json()
    ops = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    assert set(ops) == {"citizen_id_prefill", "citizen_id_list_access_log", "citizen_id_get_citizen"}
    for op in ops.values():
        assert op["summary"]
        assert PROBLEM_JSON in op["responses"]["404"]["content"]
        assert "$ref" in op["responses"]["200"]["content"]["application/json"]["schema"]
