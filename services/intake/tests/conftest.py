import json

import httpx
import pytest

from intake.clients import CitizenRegistry
from intake.main import create_app
from intake.settings import Settings
from motcua_common.testing import create_database, drop_database, per_run_settings

# A stand-in for the population database's HTTP answers: intake's own logic is under test here; the
# real citizen-id service is exercised by the end-to-end tests.
PEOPLE = {
    "001090001234": {
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-03-12",
        "sex": "male",
        "permanent_address": "Số 12 phố Hàng Bạc, phường Hoàn Kiếm, thành phố Hà Nội",
        "email": "an.nguyen@example.vn",
        "phone": "0912345678",
    },
    "079195005678": {
        "full_name": "Trần Thị Bình",
        "date_of_birth": "1995-07-01",
        "sex": "female",
        "permanent_address": "Số 5 đường Lê Lợi, phường Sài Gòn, Thành phố Hồ Chí Minh",
        "email": None,
        "phone": None,
    },
}
PROBLEM = {"content-type": "application/problem+json"}


def fake_registry(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    pid = body["personal_id"]
    if pid == "001099999999":
        return httpx.Response(503, headers=PROBLEM, json={"type": "x/unavailable", "status": 503})
    if pid.startswith("999"):
        return httpx.Response(
            422,
            headers=PROBLEM,
            json={
                "type": "https://motcua.gov.vn/problems/invalid-personal-id",
                "detail": "unknown province code 999",
            },
        )
    if pid not in PEOPLE:
        return httpx.Response(404, headers=PROBLEM, json={"type": "x/citizen-not-found", "status": 404})
    assert body["purpose"].startswith("dossier:")
    return httpx.Response(200, json={"personal_id": pid, "verified": True, "person": PEOPLE[pid]})


@pytest.fixture(scope="session")
async def intake_settings(kafka_topics):
    settings = per_run_settings(Settings, "intake")
    await create_database(settings)
    yield settings
    await drop_database(settings)


@pytest.fixture(scope="session")
async def intake_app(intake_settings):
    app = create_app(intake_settings)
    async with app.router.lifespan_context(app):
        fake = httpx.AsyncClient(transport=httpx.MockTransport(fake_registry), base_url="http://citizen-id.test")
        app.state.registry = CitizenRegistry(fake)
        yield app
        await fake.aclose()


@pytest.fixture
async def client(intake_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake_app), base_url="http://intake.test") as c:
        yield c
