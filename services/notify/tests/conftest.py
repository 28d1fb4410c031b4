"""Fixtures of the notify tests: a real SMTP server (aiosmtpd) that keeps messages in memory, and the
notify app running against the real PostgreSQL and Kafka."""

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
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
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


@pytest.fixture(scope="module")
async def notify_app(kafka_topics, personal_topic, smtp, issuer):
    settings = per_run_settings(Settings, "notify", smtp_port=smtp[1], personal_topic=personal_topic)
    await create_database(settings, MIGRATIONS)  # migrations are a step before any app starts
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            assert app.state.verifier is not None  # the lifespan built the real one; tests trust the issuer
            app.state.verifier = issuer.verifier()
            yield app
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
