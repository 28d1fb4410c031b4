"""intake's client for citizen-id on both of its paths, against a real loopback server: straight through aiohttp
(a read outside a recorded trace) and through the httpx client (inside a recorded trace, or without a session).
Both send the same headers and body, and turn the registry's answers and failures into the same problems."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from intake.clients import ApplicantQuery, CitizenRegistry, registry_session
from motcua_common.problems import ProblemError
from motcua_common.telemetry import instrument_httpx

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
UNRECORDED = NonRecordingSpan(SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(0)))


class Registry:
    """A loopback HTTP server in front of the tests' fake citizen-id, recording each request's headers."""

    def __init__(self, fake, delay: float = 0.0):
        self.fake, self.delay = fake, delay
        self.headers: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        await asyncio.sleep(self.delay)
        forwarded = httpx.Request(
            request.method, str(request.url), headers=dict(request.headers), content=await request.read()
        )
        answer = await self.fake(forwarded)
        return web.Response(status=answer.status_code, body=answer.content, content_type="application/json")


@asynccontextmanager
async def serving(registry: Registry) -> AsyncIterator[str]:
    """``registry`` on a free loopback port; yields its base URL."""
    app = web.Application()
    app.router.add_post("/api/v1/identity/{kind}", registry.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@pytest.fixture
async def registry_server(citizen_id):
    server = Registry(citizen_id)
    async with serving(server) as url:
        server.url = url
        yield server


@pytest.fixture
def make_registry(citizen_id, registry_credentials):
    def make(url: str, session: aiohttp.ClientSession | None) -> CitizenRegistry:
        """The client as intake builds it; the service token comes from the fake (the httpx client only answers
        for the token when ``session`` carries the reads)."""
        client = httpx.AsyncClient(transport=httpx.MockTransport(citizen_id), base_url=url)
        credentials = registry_credentials(client, url)
        if session is None:  # every read through httpx (instrumented as intake's): a real transport to the server
            client = httpx.AsyncClient(base_url=url, transport=_TokenOrNetwork(citizen_id))
            instrument_httpx(client)
        return CitizenRegistry(client, credentials, session)

    return make


class _TokenOrNetwork(httpx.AsyncBaseTransport):
    """The token from the fake, the registry reads over the network."""

    def __init__(self, fake):
        self.fake, self.network = fake, httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return await self.fake(request)
        return await self.network.handle_async_request(request)


@pytest.fixture(params=["aiohttp", "httpx"])
async def path(request, registry_server, make_registry):
    """A registry client on one of the two paths (the calls are made outside a recorded trace)."""
    if request.param == "httpx":
        yield make_registry(registry_server.url, None)
        return
    async with registry_session(registry_server.url, timeout=2.0) as session:
        yield make_registry(registry_server.url, session)


async def _principal(intake_app, headers: dict):
    return await intake_app.state.verifier.verify(headers["Authorization"].removeprefix("Bearer "))


async def test_a_read_carries_the_tokens_the_request_id_and_the_trace(path, registry_server, intake_app, who, reg):
    an = await _principal(intake_app, who.an)
    with trace.use_span(UNRECORDED):
        answer = await path.prefill(an, ApplicantQuery("citizen", personal_id=reg.AN), "dossier:X-1", "req-7")
    assert answer.subject == reg.subject_of(reg.AN) and answer.on_behalf_via == "self"
    assert answer.values["full_name"] == reg.PEOPLE[reg.AN]["full_name"]
    sent = registry_server.headers[-1]
    assert sent["x-on-behalf-of"] == an.token and sent["x-request-id"] == "req-7"
    assert sent["authorization"].startswith("Bearer ") and "cookie" not in sent
    assert sent["traceparent"].split("-")[1] == f"{TRACE_ID:032x}"  # the caller's trace goes on in citizen-id


async def test_refusals_and_failures_become_the_same_problems(path, registry_server, intake_app, who, reg):
    an, hoa = await _principal(intake_app, who.an), await _principal(intake_app, who.hoa)

    async def problem(user, personal_id: str) -> ProblemError:
        with pytest.raises(ProblemError) as caught:
            await path.prefill(user, ApplicantQuery("citizen", personal_id=personal_id), "dossier:X-2", None)
        return caught.value

    not_mine = await problem(an, reg.CUONG)  # no mandate for someone else's record
    assert (not_mine.status, not_mine.slug) == (403, "applicant-not-permitted")
    # a receiving officer at the counter may ask for anyone: the registry's own answers
    unknown = await problem(hoa, "001000000000")
    assert (unknown.status, unknown.slug) == (422, "applicant-not-found")
    invalid = await problem(hoa, "999000000001")
    assert (invalid.status, invalid.slug, invalid.detail) == (422, "invalid-personal-id", "unknown province 999")
    down = await problem(hoa, "001099999999")  # the registry answers 503
    assert (down.status, down.slug) == (503, "citizen-registry-unavailable")


async def test_an_unreachable_or_slow_registry_is_unavailable(citizen_id, make_registry, intake_app, who, reg):
    an = await _principal(intake_app, who.an)
    query = ApplicantQuery("citizen", personal_id=reg.AN)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with registry_session(closed, timeout=2.0) as session:
        with pytest.raises(ProblemError) as caught:
            await make_registry(closed, session).prefill(an, query, "dossier:X-3", None)
    assert (caught.value.status, caught.value.slug) == (503, "citizen-registry-unavailable")

    async with serving(Registry(citizen_id, delay=1.0)) as url, registry_session(url, timeout=0.2) as session:
        with pytest.raises(ProblemError) as caught:
            await make_registry(url, session).prefill(an, query, "dossier:X-4", None)
    assert (caught.value.status, caught.value.slug) == (503, "citizen-registry-unavailable")


async def test_a_read_inside_a_recorded_trace_goes_through_httpx(
    registry_server, citizen_id, make_registry, intake_app, who, reg
):
    """The httpx client's instrumentation makes the client span of a recorded trace: the session is not used."""
    an = await _principal(intake_app, who.an)
    seen: list[str] = []

    async def network(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return await citizen_id(request)
        seen.append(request.url.path)
        return await citizen_id(request)

    async with registry_session(registry_server.url, timeout=2.0) as session:
        registry = make_registry(registry_server.url, session)
        registry.client = httpx.AsyncClient(transport=httpx.MockTransport(network), base_url=registry_server.url)
        before = len(registry_server.headers)
        with trace.get_tracer("test").start_as_current_span("recorded") as span:
            assert span.is_recording()
            answer = await registry.prefill(an, ApplicantQuery("citizen", personal_id=reg.AN), "dossier:X-5", None)
        assert answer.on_behalf_via == "self"
        assert seen == ["/api/v1/identity/prefill"] and len(registry_server.headers) == before
        # and outside it, the session carries the read
        await registry.prefill(an, ApplicantQuery("citizen", personal_id=reg.AN), "dossier:X-6", None)
        assert seen == ["/api/v1/identity/prefill"] and len(registry_server.headers) == before + 1
        assert registry_server.headers[-1]["x-on-behalf-of"] == an.token
