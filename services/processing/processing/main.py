"""The processing service: keeps procedure versions, consumes submitted dossiers, runs their workflow on the
generic engine, watches deadlines, serves tracking."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from motcua_common import READINESS, Runtime, instrument_app, setup_tracing
from motcua_common import create_app as create_base_app
from motcua_common.auth import make_verifier
from motcua_common.runtime import Loop
from motcua_common.telemetry import configure_logging

from . import forms_routes, handlers, service
from .deadlines import Clock
from .measure import portal, projection
from .measure import routes as measure_routes
from .routes import router
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("processing.deadlines")


def deadline_loop(runtime: Runtime, settings: Settings) -> Loop:
    """Every replica runs it: each pass claims what crossed a line with SKIP LOCKED and marks it in the transaction
    that writes the events, so nothing is announced twice."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            assert runtime.pool is not None
            async with runtime.pool.acquire() as conn, conn.transaction():
                counts = await service.detect_deadlines(conn, settings, limit=settings.deadline_batch_size)
            if any(counts.values()):
                log.info("deadlines: %s", counts)
            if max(counts.values()) >= settings.deadline_batch_size:
                continue  # more are waiting
            try:
                await asyncio.wait_for(stop.wait(), settings.deadline_interval_seconds)
            except TimeoutError:
                pass

    return run


def portal_loop(runtime: Runtime, settings: Settings) -> Loop:
    """Every replica runs it: the month just completed is reported once per unit (claimed in portal_reports)."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            assert runtime.pool is not None
            async with runtime.pool.acquire() as conn, conn.transaction():
                reported = await portal.report_month(conn, settings, portal.last_month())
            if reported:
                log.info("portal: %d monthly reports", reported)
            try:
                await asyncio.wait_for(stop.wait(), settings.portal_report_interval_seconds)
            except TimeoutError:
                pass

    return run


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter, settings.otel_sample_ratio)
    clock = Clock(settings.legal_clock())
    runtime = Runtime(settings, migrations=MIGRATIONS, relay=True)
    runtime.consume("processing", handlers.make_handlers(settings, clock))
    runtime.consume(
        "processing-catalogue",
        handlers.make_catalogue_handlers(settings, clock),
        topics=[settings.catalogue_topic],
    )
    # The statistics projection (issue 9): its own consumer group on the dossier topic, so it can be replayed alone.
    runtime.consume("processing-measure", projection.make_handlers(), background=True)
    # The national portal's reports (issue 9): every status change, and each completed month's figures.
    runtime.consume("processing-portal", portal.make_handlers(settings), background=True)
    runtime.loop("portal-statistics", portal_loop(runtime, settings))
    runtime.loop("deadlines", deadline_loop(runtime, settings))

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
        description="Dossier workflow after intake: procedure versions run by one engine, officer actions, "
        "supplements, extensions, deadlines, work queue, tracking, official forms (PDF).",
    )
    app.state.settings = settings
    app.state.clock = clock
    app.include_router(router)
    app.include_router(forms_routes.router)
    app.include_router(measure_routes.router)
    instrument_app(app)
    return app
