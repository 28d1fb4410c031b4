"""Intake service: the procedure catalogue and dossier submission on every channel."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from motcua_common import READINESS, Runtime, instrument_app, instrument_httpx
from motcua_common import create_app as create_base_app
from motcua_common.auth import ServiceCredentials, make_verifier
from motcua_common.db import migrate
from motcua_common.http_client import upstream_client
from motcua_common.telemetry import configure_logging, setup_tracing

from .clients import CitizenRegistry, registry_session
from .handlers import HANDLERS
from .routes import router
from .settings import Settings
from .versions import check_shipped, load_catalogue, read_shipped

MIGRATIONS = Path(__file__).parent / "migrations"
UPLOAD_PATH = "/api/v1/me/documents"
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file


async def prepare_database(settings: Settings) -> list[str]:
    """What `make migrate` does for intake: its migrations, then the shipped procedure versions (each stored and
    announced once). Returns what was applied or loaded."""
    applied = await migrate(settings.dsn, MIGRATIONS)
    return applied + await load_catalogue(
        settings.dsn, topic=settings.catalogue_topic, directory=settings.catalogue_dir
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter, settings.otel_sample_ratio)
    runtime = Runtime(settings, migrations=MIGRATIONS)
    runtime.consume("intake-vault", HANDLERS, background=True)  # results reach the vault a fraction later

    shipped = read_shipped(settings.catalogue_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            runtime.lifespan(app),
            upstream_client(settings.citizen_id_url, timeout=httpx.Timeout(settings.citizen_id_timeout)) as client,
            registry_session(settings.citizen_id_url, timeout=settings.citizen_id_timeout) as session,
        ):
            await check_shipped(app.state.pool, shipped)  # loaded by `make migrate`, as the migrations
            instrument_httpx(client)
            app.state.verifier = make_verifier(settings, client)
            credentials = ServiceCredentials(
                client,
                token_url=settings.token_url,
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
                scope=settings.registry_scope,
            )
            app.state.registry = CitizenRegistry(client, credentials, session)
            yield

    app = create_base_app(
        title="Một Cửa intake",
        description="Procedure catalogue and dossier submission.",
        lifespan=lifespan,
        readiness=READINESS,
        max_body_bytes=settings.max_body_bytes,
        body_limits={UPLOAD_PATH: settings.max_document_bytes + UPLOAD_OVERHEAD},  # a document upload
    )
    app.state.settings = settings
    app.state.clock = settings.legal_clock()
    app.include_router(router)
    instrument_app(app)
    return app
