"""The citizen-id service: a mock national population database (CSDL quốc gia về dân cư) and identity
provider. Run with ``python -m citizen_id.main`` or ``uvicorn --factory citizen_id.main:create_app``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from motcua_common import Runtime, check_database, instrument_app, setup_tracing
from motcua_common import create_app as create_base_app
from motcua_common.auth import TokenVerifier
from motcua_common.telemetry import configure_logging

from . import keys, oidc
from .accounts import seed_accounts
from .handlers import HANDLERS
from .oidc_routes import router as oidc_router
from .routes import router
from .service import warn_if_unseeded
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()
    setup_tracing(settings.service_name, settings.otel_exporter, settings.otel_sample_ratio)
    runtime = Runtime(settings, migrations=MIGRATIONS, relay=False)  # publishes no events (yet)
    runtime.loop("oidc-housekeeping", lambda stop: oidc.housekeeping(lambda: runtime.pool, stop))
    runtime.consume("registry", HANDLERS, topics=[settings.personal_topic], background=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            await warn_if_unseeded(app.state.pool)
            async with app.state.pool.acquire() as conn:
                await keys.ensure_active_key(conn)  # replica-safe: advisory lock + one-active-key index
                if settings.seed_demo_accounts:
                    await seed_accounts(conn, settings)  # idempotent
            # Tokens are verified against our own keys, read from the database (no HTTP call to ourselves).
            app.state.verifier = TokenVerifier(
                keys.DatabaseJWKS(app.state.pool, settings), issuer=settings.issuer, audience=settings.audience
            )
            yield

    app = create_base_app(
        title="Một Cửa — citizen-id",
        description="Mock national population database (CSDL quốc gia về dân cư) and identity provider: "
        "verification, consented prefill with a stated purpose, and the citizen's access log.",
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
        readiness=[check_database],
    )
    app.state.settings = settings
    app.include_router(router)
    app.include_router(oidc_router)
    instrument_app(app)
    return app


if __name__ == "__main__":
    import uvicorn

    _settings = Settings()
    uvicorn.run(create_app(_settings), host=_settings.host, port=_settings.port)
