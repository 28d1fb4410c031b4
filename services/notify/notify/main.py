"""The notify service: consumes every dossier event and each dossier's contact (restricted personal topic),
records the recipient's notifications (in-app inbox and email) and delivers the emails over SMTP.

Run with ``uvicorn --factory notify.main:create_app --port 8104``.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from motcua_common import READINESS, Runtime, instrument_app, setup_tracing
from motcua_common import create_app as create_base_app
from motcua_common.auth import make_verifier
from motcua_common.telemetry import configure_logging

from . import routes
from .handlers import HANDLERS
from .sender import Deliverer
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter)
    runtime = Runtime(settings, migrations=MIGRATIONS, relay=False)  # publishes nothing; keeps a producer for DLQ
    # Dossier events and, on the restricted personal topic, each dossier's contact (in any order).
    runtime.consume("notify", HANDLERS, topics=[settings.dossier_topic, settings.personal_topic])
    providers = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.sender_batch_size))
    sender = Deliverer(settings, lambda: runtime.pool, providers)
    runtime.loop("deliverer", sender.run)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5) as client, runtime.lifespan(app):
            app.state.verifier = make_verifier(settings, client)
            yield
        await sender.aclose()  # its SMTP sessions and the providers' client

    app = create_base_app(
        title="Một Cửa notify",
        description="Tells applicants about their dossiers, in Vietnamese: in-app inbox, e-mail, SMS and OTT.",
        lifespan=lifespan,
        readiness=READINESS,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.email_sender = app.state.deliverer = sender
    app.include_router(routes.router)
    app.include_router(routes.callbacks)
    instrument_app(app)
    return app
