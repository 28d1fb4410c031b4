"""Fixtures of the notify tests: a real SMTP server (aiosmtpd) that keeps messages in memory, the SMS and OTT
provider simulators served by uvicorn, and the notify app served by uvicorn (providers post their receipts to
it) against the real PostgreSQL and Kafka."""

import asyncio
import socket
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller

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
from notify import simulators as provider_simulators
from notify.main import MIGRATIONS, create_app
from notify.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectingHandler:
    """Keeps every accepted message; can refuse recipients for good (550) or answer 451 to the first
    DATA for some addresses, to exercise the sender's retries."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self.fail_first: set[str] = set()
        self.data_attempts: dict[str, list[float]] = defaultdict(list)
        self.peers: list[object] = []  # the client's address of each DATA: one per SMTP session
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.peers.append(session.peer)
            first = False
            for rcpt in envelope.rcpt_tos:
                self.data_attempts[rcpt].append(time.monotonic())
                first |= rcpt in self.fail_first and len(self.data_attempts[rcpt]) == 1
            if first:
                return "451 4.3.0 Try again later"
            content = envelope.original_content or envelope.content
            self.messages.append(message_from_bytes(content, policy=email_policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


async def start_smtp(handler, port: int) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    return controller


@pytest.fixture
async def smtp_factory():
    """Start SMTP servers on demand (``await start(port)`` -> handler); all stopped after the test."""
    controllers = []

    async def start(port: int) -> CollectingHandler:
        handler = CollectingHandler()
        controllers.append(await start_smtp(handler, port))
        return handler

    yield start
    for controller in controllers:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
async def smtp() -> AsyncIterator[tuple[CollectingHandler, int]]:
    handler, port = CollectingHandler(), free_port()
    controller = await start_smtp(handler, port)
    yield handler, port
    await asyncio.to_thread(controller.stop)


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
async def personal_topic(kafka_topics) -> AsyncIterator[str]:
    """This run's restricted personal topic (dossier contacts), created on the real broker."""
    name = f"test.{RUN_ID}.personal.events"
    bootstrap = Settings().kafka_bootstrap
    await create_topics(bootstrap, name)
    yield name
    await delete_topics(bootstrap, name)


async def serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    """Serve an ASGI app with uvicorn on 127.0.0.1:port in this event loop, once it has started."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    return server, task


async def stop(server: uvicorn.Server, task: asyncio.Task) -> None:
    server.should_exit = True
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(scope="module")
async def providers() -> AsyncIterator[str]:
    """The SMS and OTT provider simulators on a free port; yields their base URL (admin: ``/admin/...``)."""
    port = free_port()
    running = await serve(provider_simulators.create_app(Settings()), port)
    yield f"http://127.0.0.1:{port}"
    await stop(*running)


@pytest.fixture
async def sim(providers) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the simulators' admin API; every channel behaves normally again after the test."""
    async with httpx.AsyncClient(base_url=providers, timeout=60) as c:
        yield c
        for channel in ("sms", "ott"):
            await c.post("/admin/behaviour", json={"channel": channel, "mode": "normal"})


def notify_settings(smtp_port: int, personal_topic: str, providers: str, port: int, **overrides) -> Settings:
    return per_run_settings(
        Settings,
        "notify",
        port=port,
        smtp_port=smtp_port,
        personal_topic=personal_topic,
        sms_provider_url=f"{providers}/sms",
        ott_provider_url=f"{providers}/ott",
        callback_base_url=f"http://127.0.0.1:{port}",
        **overrides,
    )


@pytest.fixture(scope="module")
async def notify_app(kafka_topics, personal_topic, smtp, issuer, providers):
    port = free_port()
    settings = notify_settings(smtp[1], personal_topic, providers, port, retry_backoff_max=2.0)
    await create_database(settings, MIGRATIONS)  # migrations are a step before any app starts
    app = create_app(settings)
    try:
        running = await serve(app, port)
        try:
            assert app.state.verifier is not None  # the lifespan built the real one; tests trust the issuer
            app.state.verifier = issuer.verifier()
            yield app
        finally:
            await stop(*running)
    finally:
        await drop_database(settings)


@pytest.fixture(scope="module")
async def client(notify_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify_app), base_url="http://notify") as c:
        yield c


@pytest.fixture(scope="module")
async def producer(notify_app):
    p = AIOKafkaProducer(**client_options(kafka_admin_settings(notify_app.state.settings.kafka_bootstrap)))
    await p.start()
    yield p
    await p.stop()
