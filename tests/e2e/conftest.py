"""The whole system, end to end: citizen-id, intake, processing, notify and the gateway, each served
by a real uvicorn server on a loopback port, on the real PostgreSQL and Kafka, with a real SMTP
server (aiosmtpd) receiving notify's e-mail. All run in this process's event loop, so the
in-memory span exporter of the root conftest sees every hop of a trace.

The e2e suite has its own databases, topics and consumer groups (``e2e-*``)."""

import asyncio
import datetime as dt
import email
import email.policy
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller

from citizen_id.main import MIGRATIONS as CITIZEN_ID_MIGRATIONS
from citizen_id.main import create_app as citizen_id_app
from citizen_id.seed import seed
from citizen_id.settings import Settings as CitizenIdSettings
from gateway.main import create_app as gateway_app
from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
from gateway.settings import Settings as GatewaySettings
from intake.main import MIGRATIONS as INTAKE_MIGRATIONS
from intake.main import create_app as intake_app
from intake.settings import Settings as IntakeSettings
from intake.versions import load_catalogue, read_shipped
from motcua_common.oidc_client import client_credentials, login
from motcua_common.testing import (
    RUN_ID,
    create_database,
    create_topics,
    delete_topics,
    drop_database,
    per_run_settings,
)
from notify.main import MIGRATIONS as NOTIFY_MIGRATIONS
from notify.main import create_app as notify_app
from notify.settings import Settings as NotifySettings
from processing.main import MIGRATIONS as PROCESSING_MIGRATIONS
from processing.main import create_app as processing_app
from processing.measure.seed import demo_province, seed_history
from processing.settings import Settings as ProcessingSettings

TOPIC = f"test.{RUN_ID}.e2e.dossier.events"
DLQ = f"test.{RUN_ID}.e2e.dossier.events.dlq"
PERSONAL = f"test.{RUN_ID}.e2e.personal.events"
PERSONAL_DLQ = f"{PERSONAL}.dlq"
STATE = f"test.{RUN_ID}.e2e.dossier.state"  # processing's dossier state topic (its name follows TOPIC's)
CATALOGUE = f"test.{RUN_ID}.e2e.catalogue.events"
CATALOGUE_DLQ = f"{CATALOGUE}.dlq"
PORTAL = f"test.{RUN_ID}.e2e.portal.events"  # processing's reports to the national portal (its name follows TOPIC's)
# The shipped procedure whose definition is inter-agency (liên thông): death registration with removal from the
# residence register by the commune police (services/intake/intake/catalogue/1.007073.v1.json).
INTER_AGENCY = "1.007073"
# The statistics start from the demo's synthetic history (processing.measure.seed, as `make setup` counts it) of
# HISTORY dossiers received over the thirteen months up to HISTORY_UNTIL, a fixed day so that the dashboard test's
# periods (tests/e2e/test_dashboard.py) are the same whenever the suite runs; the projection adds the real dossiers
# of the run on top, on the days they happen.
HISTORY, HISTORY_UNTIL = 4_000, dt.date(2026, 11, 15)
PASSWORD = "demo1234"  # every demo account's password (README)
PARTNER_SECRETS = {
    "provincial-system": "provincial-system-secret",
    "vietnam-post": "vietnam-post-secret",
    "vcci": "vcci-secret",
}


class LogRecorder(logging.Handler):
    """Keeps every log line the services write during the e2e run (formatted, with tracebacks), so the privacy
    test can scan them for personal data. Installed at import, before any service starts."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is kept raw rather than dropped
            self.lines.append(repr(record.__dict__))


# Screenshots the dashboard's browser test saved (tests/e2e/test_dashboard.py), listed at the end of the run.
SCREENSHOTS: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.section("dashboard screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


LOGS = LogRecorder()
logging.getLogger().addHandler(LOGS)
if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
    logging.getLogger().setLevel(logging.INFO)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps every delivered message, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class System:
    gateway: str
    urls: dict[str, str]
    settings: dict[str, object]
    mailbox: Mailbox
    apps: dict[str, object] = field(default_factory=dict)


async def _serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    return server, task


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


@pytest.fixture(scope="session")
async def system():
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    await create_topics(
        IntakeSettings().kafka_bootstrap, *(TOPIC, DLQ, PERSONAL, PERSONAL_DLQ, STATE, CATALOGUE, CATALOGUE_DLQ, PORTAL)
    )
    ports = {name: free_port() for name in ("citizen-id", "intake", "processing", "notify", "gateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common = {
        "dossier_topic": TOPIC,
        "dlq_topic": DLQ,
        "personal_topic": PERSONAL,
        "catalogue_topic": CATALOGUE,
        "issuer": urls["gateway"],
        "jwks_url": f"{urls['citizen-id']}/oauth/jwks",
        "token_url": f"{urls['citizen-id']}/oauth/token",
    }
    settings = {
        # actors log in once for the whole e2e tier, which takes longer than the production 10 minutes of an access
        # token on a loaded machine (every request of the tests after that would be a 401)
        "citizen-id": per_run_settings(
            CitizenIdSettings, "e2e-citizen-id", port=ports["citizen-id"], access_token_ttl=3 * 3600, **common
        ),
        "intake": per_run_settings(
            IntakeSettings, "e2e-intake", port=ports["intake"], citizen_id_url=urls["citizen-id"], **common
        ),
        "processing": per_run_settings(
            ProcessingSettings,
            "e2e-processing",
            port=ports["processing"],
            deadline_interval_seconds=0.5,  # the overdue test waits for the detector's next pass
            **common,
        ),
        "notify": per_run_settings(NotifySettings, "e2e-notify", port=ports["notify"], smtp_port=smtp.port, **common),
    }
    migrations = {
        "citizen-id": CITIZEN_ID_MIGRATIONS,
        "intake": INTAKE_MIGRATIONS,
        "processing": PROCESSING_MIGRATIONS,
        "notify": NOTIFY_MIGRATIONS,
    }
    for name, s in settings.items():  # migrations are a step before any app starts (`make migrate`)
        await create_database(s, migrations[name])
    intake_settings = settings["intake"]
    assert isinstance(intake_settings, IntakeSettings)
    await load_catalogue(intake_settings.dsn, topic=CATALOGUE, directory=intake_settings.catalogue_dir)
    await seed(settings["citizen-id"].dsn, 10_000, verbose=False)
    conn = await asyncpg.connect(settings["processing"].dsn)
    try:
        definitions = [d for d in read_shipped(intake_settings.catalogue_dir) if d.bundle is None]
        await seed_history(conn, province=demo_province(), definitions=definitions, total=HISTORY, today=HISTORY_UNTIL)
    finally:
        await conn.close()
    gateway_settings = per_run_settings(
        GatewaySettings,
        "e2e-gateway",
        **common,
        port=ports["gateway"],
        intake_url=urls["intake"],
        processing_url=urls["processing"],
        citizen_id_url=urls["citizen-id"],
        notify_url=urls["notify"],
        # the suite polls and runs many journeys per demo account: limits far above it (their own tests
        # are in tests/gateway and test_rate_limits below)
        **{f"rate_{k}_per_minute": 1_000_000 for k in ("citizen", "officer", "client", "anonymous", "login")},
        rate_public_lookup_per_minute=1_000_000,
    )
    await create_database(gateway_settings, GATEWAY_MIGRATIONS)
    factories: dict[str, Callable[[Any], Any]] = {
        "citizen-id": citizen_id_app,
        "intake": intake_app,
        "processing": processing_app,
        "notify": notify_app,
    }
    apps = {name: factories[name](settings[name]) for name in factories}
    apps["gateway"] = gateway_app(gateway_settings)
    servers = []
    try:
        for name in ("citizen-id", "intake", "processing", "notify", "gateway"):
            servers.append(await _serve(apps[name], ports[name]))
        for url in urls.values():
            await _wait_ready(url)
        yield System(
            gateway=urls["gateway"],
            urls=urls,
            settings={**settings, "gateway": gateway_settings},
            mailbox=mailbox,
            apps=apps,
        )
    finally:
        for server, _ in reversed(servers):
            server.should_exit = True
        await asyncio.gather(*(task for _, task in servers), return_exceptions=True)
        smtp.stop()
        for s in (*settings.values(), gateway_settings):
            await drop_database(s)
        await delete_topics(
            IntakeSettings().kafka_bootstrap,
            *(TOPIC, DLQ, PERSONAL, PERSONAL_DLQ, STATE, CATALOGUE, CATALOGUE_DLQ, PORTAL),
        )


@pytest.fixture
async def api(system):
    async with httpx.AsyncClient(base_url=system.gateway, timeout=15) as client:
        yield client


ACCOUNTS = {
    "citizen An": ("citizen", "001090001234"),
    "citizen Bình": ("citizen", "079195005678"),
    "citizen Cường": ("citizen", "048200001111"),
    "citizen Dung": ("citizen", "092301002222"),
    "officer hoa (receiving, UBND)": ("officer", "hoa.tiepnhan"),
    "officer lan (specialist, UBND)": ("officer", "lan.chuyenvien"),
    "officer tuan (approver, UBND)": ("officer", "tuan.lanhdao"),
    "officer son (unit head, UBND)": ("officer", "son.truong"),
    "officer minh (police)": ("officer", "minh.congan"),
    "operator quan (province)": ("officer", "quan.vanhanh"),
}


@pytest.fixture(scope="session")
async def actors(system) -> dict[str, dict[str, str]]:
    """Every demo actor logged in through the gateway (authorization code + PKCE for people, client
    credentials for partners): actor name -> Authorization header."""
    headers: dict[str, dict[str, str]] = {}
    async with httpx.AsyncClient(base_url=system.gateway, timeout=15) as api:
        for name, (account, username) in ACCOUNTS.items():
            headers[name] = (await login(api, username, PASSWORD, account=account)).headers
        for client_id, secret in PARTNER_SECRETS.items():
            headers[f"partner {client_id}"] = (await client_credentials(api, client_id, secret)).headers
    return headers


@pytest.fixture
def access_log_of(api):
    async def read(headers: dict[str, str]) -> list[dict]:
        resp = await api.get("/api/v1/me/access-log", params={"limit": 100}, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    return read


async def eventually(check, wait_s: float = 60.0, interval: float = 0.1):
    """Poll ``check`` (async, returns a truthy value when done) until it succeeds or time runs out (an upper bound
    for a loaded machine: a quiet one is done in a second or two)."""
    last = None
    async with asyncio.timeout(wait_s):
        while True:
            last = await check()
            if last:
                return last
            await asyncio.sleep(interval)
