"""Local SMS and OTT provider simulators, for the tests and ``make run`` (deploy/supervisord.conf).

One ASGI app serves both channels, the way real providers behave as far as notify can tell:

- ``POST /{sms|ott}/messages`` with an ``Idempotency-Key`` header and ``{"to", "text", "callback_url"}``: answers
  ``202 {"message_id"}``; the same key again answers the first message's id with ``200`` and is not a new message.
  A moment later it posts a delivery receipt to ``callback_url``, signed with HMAC-SHA256 of the body under the
  shared secret (``X-Provider-Signature``, notify's ``NOTIFY_PROVIDER_CALLBACK_SECRET``), retried until notify
  answers 2xx or 4xx (for an hour, as real providers keep retrying while the receiver is down or restarting).
- ``POST /admin/behaviour`` tells a channel to ``fail`` (500), ``slow`` down (``delay_ms`` per request),
  ``refuse`` (400: a permanent refusal), ``rate_limit`` (429 with ``Retry-After``), accept but report the message
  ``undeliverable`` in its receipt, or behave ``normal``ly again; ``times`` limits it to the next N requests.
- ``GET /admin/stats``: per channel, the requests and accepted messages per idempotency key;
  ``GET /admin/messages?channel=sms``: what was accepted; ``POST /admin/reset`` forgets everything.

Run with ``uvicorn --factory notify.simulators:create_app --port 8105`` (127.0.0.1 only).
"""

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Header, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .providers import sign
from .settings import Settings

log = logging.getLogger("motcua.notify.simulators")
ChannelName = Literal["sms", "ott"]
Mode = Literal["normal", "fail", "slow", "refuse", "rate_limit", "undeliverable"]


class MessageIn(BaseModel):
    to: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)
    callback_url: str | None = None


class Behaviour(BaseModel):
    channel: ChannelName
    mode: Mode = "normal"
    delay_ms: int = Field(0, ge=0, le=60_000)
    retry_after: float = Field(1.0, ge=0, le=3600)
    times: int | None = Field(None, ge=1, description="only the next N requests; null: until told otherwise")


@dataclass
class ChannelState:
    behaviour: Behaviour
    requests: Counter = field(default_factory=Counter)  # per idempotency key, every request
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # per idempotency key, the message
    receipts_sent: int = 0


# A receipt is retried with a doubling back-off (``RECEIPT_BACKOFF``: first delay, longest delay) for
# ``RECEIPT_RETRY_SECONDS``. It used to give up after 20 tries (about 80 s): a notify restarted more slowly than that
# on a loaded machine never heard of the messages accepted just before its restart, which stayed ``sending``.
RECEIPT_BACKOFF = (0.2, 5.0)
RECEIPT_RETRY_SECONDS = 3600.0


def create_app(
    settings: Settings | None = None,
    *,
    receipt_backoff: tuple[float, float] = RECEIPT_BACKOFF,
    receipt_retry_seconds: float = RECEIPT_RETRY_SECONDS,
) -> FastAPI:
    settings = settings or Settings()
    secret = settings.provider_callback_secret.get_secret_value()
    channels: dict[str, ChannelState] = {}
    tasks: set[asyncio.Task] = set()
    client = httpx.AsyncClient(timeout=5)

    def reset() -> None:
        for name in ("sms", "ott"):
            channels[name] = ChannelState(Behaviour(channel=name))

    reset()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(tasks):
            task.cancel()
        await client.aclose()

    app = FastAPI(title="Một Cửa provider simulators (SMS, OTT)", lifespan=lifespan)

    async def send_receipt(url: str, receipt: dict[str, Any], state: ChannelState) -> None:
        body = json.dumps(receipt).encode()
        headers = {"Content-Type": "application/json", "X-Provider-Signature": sign(secret, body)}
        loop = asyncio.get_running_loop()
        delay, longest = receipt_backoff
        give_up = loop.time() + receipt_retry_seconds
        while True:
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.status_code < 500:
                    state.receipts_sent += 1
                    return
            except httpx.HTTPError:
                pass
            if loop.time() + delay > give_up:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
        log.warning("receipt for %s never reached %s", receipt["idempotency_key"], url)

    @app.post("/{channel}/messages")
    async def receive(
        channel: Annotated[ChannelName, Path()],
        message: MessageIn,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
    ) -> JSONResponse:
        state = channels[channel]
        state.requests[idempotency_key] += 1
        b = state.behaviour
        mode = b.mode
        if b.times is not None:
            b.times -= 1
            if b.times <= 0:
                state.behaviour = Behaviour(channel=channel)
        if mode == "slow" or b.delay_ms:
            await asyncio.sleep(b.delay_ms / 1000)
        if mode == "fail":
            return JSONResponse({"error": "simulated failure"}, status_code=500)
        if mode == "refuse":
            return JSONResponse({"error": "recipient refused"}, status_code=400)
        if mode == "rate_limit":
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": f"{b.retry_after:g}"})
        if idempotency_key in state.accepted:
            return JSONResponse({"message_id": state.accepted[idempotency_key]["message_id"]}, status_code=200)
        message_id = f"{channel}-{uuid.uuid4().hex[:16]}"
        state.accepted[idempotency_key] = {"message_id": message_id, "accepted_at": time.time(), **message.model_dump()}
        if message.callback_url:
            delivered = mode != "undeliverable"
            receipt = {
                "idempotency_key": idempotency_key,
                "message_id": message_id,
                "status": "delivered" if delivered else "failed",
                "error": None if delivered else "subscriber unreachable",
                "at": datetime.now(UTC).isoformat(),
            }
            task = asyncio.create_task(send_receipt(message.callback_url, receipt, state))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse({"message_id": message_id}, status_code=202)

    @app.post("/admin/behaviour")
    async def behave(b: Behaviour) -> dict[str, Any]:
        channels[b.channel].behaviour = b
        return b.model_dump()

    @app.post("/admin/reset")
    async def do_reset() -> dict[str, str]:
        reset()
        return {"status": "reset"}

    @app.get("/admin/stats")
    async def stats() -> dict[str, Any]:
        return {
            name: {
                "requests": sum(s.requests.values()),
                "accepted": len(s.accepted),
                "receipts_sent": s.receipts_sent,
                "requests_per_key": dict(s.requests),
            }
            for name, s in channels.items()
        }

    @app.get("/admin/messages")
    async def messages(channel: ChannelName) -> list[dict[str, Any]]:
        if channel not in channels:
            raise HTTPException(404)
        return [{"idempotency_key": k, **v} for k, v in channels[channel].accepted.items()]

    return app
