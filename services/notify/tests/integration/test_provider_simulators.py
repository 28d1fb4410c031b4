"""The SMS/OTT provider simulators' delivery receipts, posted to a real loopback receiver: retried until it answers,
as real providers do while the receiver is down or restarting."""

import asyncio

import httpx
import pytest
from aiohttp import web

from notify import simulators
from notify.settings import Settings

pytestmark = pytest.mark.integration

FAILURES = 30  # more tries than the simulator used to make (20, about 80 s) before it gave up


async def test_a_receipt_is_retried_until_the_receiver_answers():
    calls: list[dict] = []

    async def receipts(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.Response(status=503 if len(calls) <= FAILURES else 204)  # away (restarting), then back

    receiver = web.Application()
    receiver.router.add_post("/callbacks/v1/receipts/sms", receipts)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks/v1/receipts/sms"
    # the real back-off, shrunk: the number of tries is what counts here
    app = simulators.create_app(Settings(), receipt_backoff=(0.001, 0.005))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as sim,
        ):
            sent = await sim.post(
                "/sms/messages",
                json={"to": "0912345678", "text": "Hồ sơ đã có kết quả", "callback_url": url},
                headers={"Idempotency-Key": "receipt-retried"},
            )
            assert sent.status_code == 202, sent.text
            async with asyncio.timeout(60):
                while not (await sim.get("/admin/stats")).json()["sms"]["receipts_sent"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    assert len(calls) == FAILURES + 1
    assert {c["message_id"] for c in calls} == {sent.json()["message_id"]} and calls[-1]["status"] == "delivered"
