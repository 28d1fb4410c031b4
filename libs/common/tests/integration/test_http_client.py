"""The client for calls between our services (motcua_common.http_client: httpx's API on aiohttp's pool), against
real loopback servers: requests and answers pass unchanged, connections are reused, no cookie rides from one call
to the next, and each failure keeps its meaning (unreachable is not a timeout: the gateway answers 503, not 504)."""

import asyncio
import socket

import httpx
import pytest
from aiohttp import web

from motcua_common.http_client import upstream_client

# Generous: only test_a_slow_answer_is_a_timeout is about a timeout (its own); on a loaded machine a short one would
# turn a refused or dropped connection, which the tests tell apart from a timeout, into a timeout.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@pytest.fixture
async def server():
    peers: list[int] = []

    async def echo(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername")[1])
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path_qs,
                "cookie": request.headers.get("cookie"),
                "x_request_id": request.headers.get("x-request-id"),
                "body": body.decode(),
            },
            status=201,
            headers={"set-cookie": "session=someone-else", "etag": '"7"'},
        )

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", peers
    finally:
        await runner.cleanup()


async def test_requests_and_answers_pass_unchanged_on_reused_connections(server):
    url, peers = server
    async with upstream_client(url, timeout=TIMEOUT) as client:
        for n in range(5):
            resp = await client.post(
                "/echo/a%2Fb", params={"q": "Hoà"}, content=f'{{"n": {n}}}'.encode(), headers={"x-request-id": f"r{n}"}
            )
            assert resp.status_code == 201
            assert resp.headers["etag"] == '"7"'
            got = resp.json()
            assert got["method"] == "POST"
            assert got["path"] == "/echo/a%2Fb?q=Ho%C3%A0"
            assert got["x_request_id"] == f"r{n}"
            assert got["body"] == f'{{"n": {n}}}'
            assert got["cookie"] is None  # the cookie set by the answer before is not sent
    assert len(set(peers)) == 1  # one kept-alive connection for the five calls


async def test_a_refused_connection_is_a_connect_error_not_a_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    async with upstream_client(f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/echo/x")


async def test_a_connection_closed_mid_request_is_a_transport_error_not_a_timeout():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    srv = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        async with upstream_client(f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.get("/anything")
            assert not isinstance(caught.value, httpx.TimeoutException)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_a_slow_answer_is_a_timeout(server):
    url, _ = server
    async with upstream_client(url, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.get("/slow")
