"""The processing service: consumes submitted dossiers, runs their workflow, serves tracking."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from motcua_common import READINESS, Runtime, instrument_app, setup_tracing
from motcua_common import create_app as create_base_app
from motcua_common.auth import make_verifier
from motcua_common.telemetry import configure_logging

from . import forms_routes, handlers
from .routes import router
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter)
    runtime = Runtime(settings, migrations=MIGRATIONS, relay=True)
    runtime.consume("processing", handlers.make_handlers(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The identity provider's keys are fetched on first use and cached (refreshed on an unknown kid).
        async with httpx.AsyncClient(timeout=5) as client, runtime.lifespan(app):
            app.state.verifier = make_verifier(settings, client)
            yield

    app = create_base_app(
        title="Một Cửa processing",
        lifespan=lifespan,
        readiness=READINESS,
        max_body_bytes=settings.max_body_bytes,
        description="Dossier workflow after intake: officer actions, work queue, tracking, official forms (PDF).",
    )
    app.state.settings = settings
    app.include_router(router)
    app.include_router(forms_routes.router)
    instrument_app(app)
    return app
