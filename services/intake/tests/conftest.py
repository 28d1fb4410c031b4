import asyncio
import base64
import hashlib
import json
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from intake.clients import CitizenRegistry
from intake.main import create_app, prepare_database
from intake.settings import Settings
from motcua_common.auth import ServiceCredentials
from motcua_common.events import CloudEvent
from motcua_common.kafka import client_options
from motcua_common.problems import ProblemError
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

ISSUER = TestIssuer()
SERVICE_TOKEN = ISSUER.service("intake", "registry:read", ttl=3600)
CITIZEN_ID = "http://citizen-id.test"

# A stand-in for citizen-id's HTTP answers (population + business registry, mandates): intake's own logic is
# under test here; the real citizen-id service is exercised by the end-to-end tests.
AN, KHOI, BINH, CUONG, DUNG = "001090001234", "001222001235", "079195005678", "048200001111", "092301002222"
COMPANY = "0101234567"
PEOPLE: dict[str, dict[str, Any]] = {
    AN: {
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-03-12",
        "sex": "male",
        "permanent_address": "Số 12 phố Hàng Bạc, phường Hoàn Kiếm, thành phố Hà Nội",
        "email": "an.nguyen@example.vn",
        "phone": "0912345678",
    },
    KHOI: {
        "full_name": "Nguyễn Minh Khôi",
        "date_of_birth": "2022-03-15",
        "sex": "male",
        "permanent_address": "Số 12 phố Hàng Bạc, phường Hoàn Kiếm, thành phố Hà Nội",
        "email": None,
        "phone": None,
    },
    BINH: {
        "full_name": "Trần Thị Bình",
        "date_of_birth": "1995-07-01",
        "sex": "female",
        "permanent_address": "Số 5 đường Lê Lợi, phường Sài Gòn, Thành phố Hồ Chí Minh",
        "email": None,
        "phone": None,
    },
    CUONG: {
        "full_name": "Lê Minh Cường",
        "date_of_birth": "2000-05-20",
        "sex": "male",
        "permanent_address": "Số 7 đường Bạch Đằng, phường Hải Châu, thành phố Đà Nẵng",
        "email": "cuong.le@example.vn",
        "phone": "0905111222",
    },
    DUNG: {
        "full_name": "Phạm Thu Dung",
        "date_of_birth": "2001-09-09",
        "sex": "female",
        "permanent_address": "Số 3 đường Hòa Bình, phường Ninh Kiều, thành phố Cần Thơ",
        "email": "dung.pham@example.vn",
        "phone": "0939000111",
    },
}
ORGANISATIONS = {
    COMPANY: {
        "name": "Công ty TNHH Một Cửa Số",
        "address": "Số 1 phố Tràng Tiền, phường Hoàn Kiếm, thành phố Hà Nội",
        "email": "lienhe@motcuaso.vn",
        "phone": None,
    }
}
MANDATES = {(AN, KHOI): "household", (BINH, CUONG): "authorization", (AN, COMPANY): "legal_representative"}
PROBLEM = {"content-type": "application/problem+json"}


def subject_of(personal_id: str) -> str:
    """An opaque subject id, as citizen-id issues them: never derived visibly from the personal id."""
    return "sub-" + hashlib.sha256(f"subject:{personal_id}".encode()).hexdigest()[:20]


@dataclass
class FakeCitizenId:
    """Checks intake's service token and the end user's X-On-Behalf-Of token like citizen-id does, and answers
    the mandate question. Records every registry read (``calls``) so tests can prove none happened."""

    calls: list[dict] = field(default_factory=list)
    token_requests: int = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return self._token(request)
        if request.url.path not in ("/api/v1/identity/prefill", "/api/v1/identity/preview"):
            return httpx.Response(404, headers=PROBLEM, json={"type": "x/not-found"})
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":
            return httpx.Response(401, headers=PROBLEM, json={"type": "x/unauthorized"})
        try:
            caller = await ISSUER.verifier().verify(request.headers.get("x-on-behalf-of", ""))
        except ProblemError:
            return httpx.Response(401, headers=PROBLEM, json={"type": "x/unauthorized"})
        body = json.loads(request.content)
        self.calls.append({"path": request.url.path, "caller": caller.subject, "body": body})
        # the registry's request shapes: a read states its purpose, a preview its procedure; fields for people only
        if request.url.path.endswith("/preview"):
            assert body["procedure_code"] and "purpose" not in body, body
        else:
            assert body["purpose"].startswith("dossier:") and "procedure_code" not in body, body
        assert ("fields" in body) == ("personal_id" in body), body
        target = body.get("personal_id") or body.get("tax_code")
        via = self._mandate(caller, target)
        if via is None:
            return httpx.Response(403, headers=PROBLEM, json={"type": "x/not-permitted", "status": 403})
        if target == "001099999999":
            return httpx.Response(503, headers=PROBLEM, json={"type": "x/unavailable", "status": 503})
        if target.startswith("999"):
            return httpx.Response(
                422,
                headers=PROBLEM,
                json={"type": "https://motcua.gov.vn/problems/invalid-personal-id", "detail": "unknown province 999"},
            )
        if "tax_code" in body:
            if target not in ORGANISATIONS:
                return httpx.Response(404, headers=PROBLEM, json={"type": "x/organisation-not-found"})
            record = {f: ORGANISATIONS[target].get(f) for f in ("tax_code", "name", "address")}
            return httpx.Response(
                200,
                json={"tax_code": target, "verified": True, "organisation": record, "on_behalf_via": via},
            )
        if target not in PEOPLE:
            return httpx.Response(404, headers=PROBLEM, json={"type": "x/citizen-not-found", "status": 404})
        person = {f: PEOPLE[target].get(f) for f in body["fields"]}
        return httpx.Response(
            200,
            json={
                "personal_id": target,
                "subject": subject_of(target),
                "verified": True,
                "person": person,
                "on_behalf_via": via,
            },
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(b"intake:intake-secret").decode()
        form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
        if request.headers.get("authorization") != f"Basic {expected}" or form.get("grant_type") != (
            "client_credentials"
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        assert form.get("scope") == "registry%3Aread", form
        self.token_requests += 1
        return httpx.Response(200, json={"access_token": SERVICE_TOKEN, "token_type": "Bearer", "expires_in": 3600})

    @staticmethod
    def _mandate(caller, target: str) -> str | None:
        if caller.kind == "citizen":
            if target == caller.personal_id:
                return "self"
            return MANDATES.get((caller.personal_id, target))
        if caller.kind == "officer" and "receiving_officer" in caller.roles:
            return "officer"
        if caller.kind == "partner" and "dossiers:submit-post" in caller.scopes:
            return "post"
        return None


def _citizen(personal_id: str, name: str) -> dict:
    return ISSUER.bearer(ISSUER.citizen(personal_id, sub=subject_of(personal_id), name=name, ttl=3600))


@dataclass(frozen=True)
class Callers:
    """Bearer headers of every kind of caller the tests use."""

    an: dict = field(
        default_factory=lambda: ISSUER.bearer(ISSUER.citizen(AN, sub=subject_of(AN), name="Nguyễn Văn An", ttl=3600))
    )
    khoi: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.citizen(KHOI, sub=subject_of(KHOI), name="Nguyễn Minh Khôi", ttl=3600)
        )
    )
    binh: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.citizen(BINH, sub=subject_of(BINH), name="Trần Thị Bình", ttl=3600)
        )
    )
    cuong: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.citizen(CUONG, sub=subject_of(CUONG), name="Lê Minh Cường", ttl=3600)
        )
    )
    dung: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.citizen(DUNG, sub=subject_of(DUNG), name="Phạm Thu Dung", ttl=3600)
        )
    )
    # receiving officer and specialist of the People's Committee (the competent unit of the civil-status procedures)
    hoa: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.26.01.H29", "receiving_officer", sub="hoa.tiepnhan", ttl=3600)
        )
    )
    lan: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.26.01.H29", "specialist", sub="lan.chuyenvien", ttl=3600)
        )
    )
    # an officer of another unit (police), with every processing role
    minh: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.26.02.H29", "receiving_officer", "specialist", "approver", sub="minh.congan", ttl=3600)
        )
    )
    # the provincial service centre: a receiving officer and the provincial operator
    ha: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.00.01.H29", "receiving_officer", sub="ha.tthcc", ttl=3600)
        )
    )
    quan: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.00.01.H29", "provincial_operator", sub="quan.vanhanh", ttl=3600)
        )
    )
    # a second provincial operator (publishing procedure versions is theirs), in another unit of the province
    thu: dict = field(
        default_factory=lambda: ISSUER.bearer(
            ISSUER.officer("000.10.00.H29", "provincial_operator", sub="thu.vanhanh", ttl=3600)
        )
    )
    post: dict = field(
        default_factory=lambda: ISSUER.bearer(ISSUER.partner("vietnam-post", "dossiers:submit-post", ttl=3600))
    )
    provincial: dict = field(
        default_factory=lambda: ISSUER.bearer(ISSUER.partner("provincial-system", "dossiers:read", ttl=3600))
    )
    vcci: dict = field(
        default_factory=lambda: ISSUER.bearer(ISSUER.partner("vcci", "dossiers:read", unit="VCCI.HN", ttl=3600))
    )
    service: dict = field(
        default_factory=lambda: ISSUER.bearer(ISSUER.service("processing", "registry:read", ttl=3600))
    )


@pytest.fixture(scope="session")
def who() -> Callers:
    return Callers()


@pytest.fixture(scope="session")
async def intake_settings(kafka_topics):
    settings = per_run_settings(Settings, "intake", personal_topic=f"test.{RUN_ID}.personal.events")
    await create_topics(settings.kafka_bootstrap, settings.personal_topic)
    await create_database(settings)
    await prepare_database(settings)  # migrations and the shipped catalogue are a step before any app starts
    yield settings
    await drop_database(settings)
    await delete_topics(settings.kafka_bootstrap, settings.personal_topic)


@pytest.fixture(scope="session")
def citizen_id() -> FakeCitizenId:
    return FakeCitizenId()


@pytest.fixture(scope="session")
def registry_credentials(intake_settings) -> Callable[[httpx.AsyncClient, str], ServiceCredentials]:
    """intake's service credentials, fetched through ``client`` from the citizen-id at ``url``."""

    def credentials(client: httpx.AsyncClient, url: str) -> ServiceCredentials:
        return ServiceCredentials(
            client,
            token_url=f"{url}/oauth/token",
            client_id=intake_settings.client_id,
            client_secret=intake_settings.client_secret.get_secret_value(),
            scope=intake_settings.registry_scope,
        )

    return credentials


@pytest.fixture(scope="session")
async def intake_app(intake_settings, citizen_id, registry_credentials):
    app = create_app(intake_settings)
    async with app.router.lifespan_context(app):
        fake = httpx.AsyncClient(transport=httpx.MockTransport(citizen_id), base_url=CITIZEN_ID)
        app.state.verifier = ISSUER.verifier()
        app.state.registry = CitizenRegistry(fake, registry_credentials(fake, CITIZEN_ID))
        yield app
        await fake.aclose()


@pytest.fixture
def calls(citizen_id) -> list[dict]:
    """The registry reads made during this test."""
    citizen_id.calls.clear()
    return citizen_id.calls


@pytest.fixture
async def client(intake_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake_app), base_url="http://intake.test") as c:
        yield c


def assert_problem(resp: httpx.Response, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    return body


class Api:
    """Small helpers over the test client, shared by the test modules (import mode importlib: no sibling imports)."""

    problem = staticmethod(assert_problem)

    def __init__(self, client: httpx.AsyncClient, app):
        self.client, self.app = client, app

    async def submit(self, headers: dict, body: dict, key: str | None = None) -> httpx.Response:
        return await self.client.post(
            "/api/v1/dossiers", json=body, headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())}
        )

    async def submitted(self, headers: dict, body: dict) -> dict:
        resp = await self.submit(headers, body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def kafka_record(
        self, topic: str, match: Callable[[CloudEvent], bool], wait_s: float = 20.0
    ) -> tuple[ConsumerRecord, CloudEvent]:
        """The first record of ``topic`` (read from the beginning as the broker's admin) whose event matches."""
        consumer = AIOKafkaConsumer(
            topic,
            **client_options(kafka_admin_settings(self.app.state.settings.kafka_bootstrap)),
            group_id=f"intake-test-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            async with asyncio.timeout(wait_s):
                async for record in consumer:
                    event = CloudEvent.model_validate(json.loads(record.value))
                    if match(event):
                        return record, event
        finally:
            await consumer.stop()
        raise AssertionError("unreachable")

    async def outbox(self, code: str) -> list[dict]:
        async with self.app.state.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT topic, event_type, payload FROM outbox WHERE payload->>'subject' = $1 ORDER BY created_at",
                code,
            )
        return [dict(r) for r in rows]


@pytest.fixture
def api(client, intake_app) -> Api:
    return Api(client, intake_app)


@pytest.fixture(scope="session")
def reg():
    """The fake registry's data, for assertions."""
    return types.SimpleNamespace(
        AN=AN,
        KHOI=KHOI,
        BINH=BINH,
        CUONG=CUONG,
        DUNG=DUNG,
        COMPANY=COMPANY,
        PEOPLE=PEOPLE,
        ORGANISATIONS=ORGANISATIONS,
        subject_of=subject_of,
    )
