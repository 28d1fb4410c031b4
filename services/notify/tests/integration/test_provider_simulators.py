"""The SMS/OTT provider simulators' delivery receipts, posted to a real loopback receiver: retried until it answers,
as real providers do while the receiver is down or restarting, and given up after the retry period."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from notify import simulators
from notify.settings import Settings

pytestmark = pytest.mark.integration

FAILURES = 30  # more tries than the simulator used to make (20, about 80 s) before it gave up


@asynccontextmanager
async def receiver(failures: int) -> AsyncIterator[tuple[str, list[dict]]]:
    """A receipt endpoint that answers 503 (away, restarting) ``failures`` times, then 204: its URL and the receipts
    it was sent."""
    calls: list[dict] = []

    async def receipts(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.Response(status=503 if len(calls) <= failures else 204)

    app = web.Application()
    app.router.add_post("/callbacks/v1/receipts/sms", receipts)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks/v1/receipts/sms", calls
    finally:
        await runner.cleanup()


async def send_sms(sim: httpx.AsyncClient, callback_url: str) -> str:
    sent = await sim.post(
        "/sms/messages",
        json={"to": "0912345678", "text": "Hồ sơ đã có kết quả", "callback_url": callback_url},
        headers={"Idempotency-Key": "receipt-retried"},
    )
    assert sent.status_code == 202, sent.text
    return sent.json()["message_id"]


async def test_a_receipt_is_retried_until_the_receiver_answers():
    # the real back-off, shrunk: the number of tries is what counts here
    app = simulators.create_app(Settings(), receipt_backoff=(0.001, 0.005))
    async with (
        receiver(FAILURES) as (url, calls),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as sim,
    ):
        message_id = await send_sms(sim, url)
        async with asyncio.timeout(60):
            while not (await sim.get("/admin/stats")).json()["sms"]["receipts_sent"]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert len(calls) == FAILURES + 1
    assert {c["message_id"] for c in calls} == {message_id} and calls[-1]["status"] == "delivered"


async def test_a_receipt_is_given_up_after_the_retry_period(caplog):
    app = simulators.create_app(Settings(), receipt_backoff=(0.001, 0.005), receipt_retry_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="motcua.notify.simulators"):
        async with (
            receiver(10_000) as (url, calls),
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as sim,
        ):
            await send_sms(sim, url)
            async with asyncio.timeout(60):
                while not any("never reached" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert (await sim.get("/admin/stats")).json()["sms"]["receipts_sent"] == 0
    assert 1 < len(calls) < 10_000
