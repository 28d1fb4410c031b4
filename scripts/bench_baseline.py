"""The bare baselines ``make bench`` measures the services against, in the same run (issue 7):

- ``create_bare_app``: FastAPI + asyncpg and nothing else. ``POST /api/v1/dossiers`` validates the body with the
  same pydantic model intake uses (``intake.schemas.DossierCreate``) and inserts one row in one transaction;
  ``GET /api/v1/dossiers/{id}`` is a primary-key select of a processing ``dossiers`` row. No token, no tracing, no
  metrics, no outbox: what a submission or a tracking read costs at the least on this machine.
- ``create_proxy_app``: a bare reverse proxy written as one ASGI callable over one ``httpx.AsyncClient``: the least a
  gateway can cost in front of the same intake. (Hand-written because it must be the minimum; a proxy library would
  add its own work.)

Run by the benchmarks as ``uvicorn --app-dir scripts bench_baseline:create_bare_app --factory`` with
``BENCH_BASELINE_DSN`` (the database), or ``bench_baseline:create_proxy_app`` with ``BENCH_PROXY_UPSTREAM``.
"""

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException, Response

from intake.schemas import DossierCreate

BARE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bare_dossiers"
    " (id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)
TRACK_SQL = (
    "SELECT id, code, status, current_step, current_unit_code, procedure_code, received_at, due_at"
    " FROM dossiers WHERE id = $1"
)


def create_bare_app() -> FastAPI:
    dsn = os.environ["BENCH_BASELINE_DSN"]
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/dossiers", status_code=201)
    async def submit(body: DossierCreate) -> dict[str, str]:
        assert pool is not None
        dossier_id = uuid.uuid4()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO bare_dossiers (id, body) VALUES ($1, $2::jsonb)", dossier_id, body.model_dump_json()
            )
        return {"id": str(dossier_id)}

    @app.get("/api/v1/dossiers/{dossier_id}")
    async def track(dossier_id: uuid.UUID) -> Response:
        assert pool is not None
        row = await pool.fetchrow(TRACK_SQL, dossier_id)
        if row is None:
            raise HTTPException(404)
        return Response(json.dumps(dict(row), default=str), media_type="application/json")

    return app


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HOP_BY_HOP = {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length"}


def create_proxy_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    upstream = os.environ["BENCH_PROXY_UPSTREAM"]
    client: httpx.AsyncClient | None = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal client
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
                    client = httpx.AsyncClient(base_url=upstream, limits=limits, timeout=30, trust_env=False)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if client is not None:
                        await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http" or client is None:
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        path = scope["raw_path"].decode() if scope.get("raw_path") else scope["path"]
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode()
        resp = await client.request(scope["method"], path, headers=headers, content=body)
        out = [(k, v) for k, v in resp.headers.raw if k.lower() not in HOP_BY_HOP]
        out.append((b"content-length", str(len(resp.content)).encode()))
        await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
        await send({"type": "http.response.body", "body": resp.content})

    return app
