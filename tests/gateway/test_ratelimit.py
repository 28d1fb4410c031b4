"""Rate limits on the real PostgreSQL counter database: shared by replicas, per citizen / client / IP, the strict
public-lookup and login buckets, 429 with Retry-After, old windows cleaned up, and fail-open when the counter
database is missing or goes away."""

import logging

import asyncpg
import httpx
import pytest
from starlette.requests import Request

from gateway.ratelimit import MIGRATIONS, client_ip
from motcua_common.testing import create_database, drop_database

pytestmark = pytest.mark.integration


def other_client(app, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50001)), base_url="http://gw.test")


async def test_two_gateway_replicas_share_one_counter(gateway_factory, issuer, pinned_clock, problem):
    clock = pinned_clock(1, into_window=30)
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-replicas"))
    async with (
        gateway_factory(rate_citizen_per_minute=5) as (app_a, gw_a),
        gateway_factory(rate_citizen_per_minute=5) as (app_b, gw_b),
    ):
        app_a.state.limiter.clock = app_b.state.limiter.clock = clock
        statuses = []
        for n in range(5):
            gw = gw_a if n % 2 == 0 else gw_b
            statuses.append((await gw.get("/api/v1/me/dossiers", headers=token)).status_code)
        assert statuses == [200] * 5  # 3 on replica A, 2 on replica B: neither alone reached 5
        for gw in (gw_a, gw_b):
            resp = await gw.get("/api/v1/me/dossiers", headers=token)
            body = problem(resp, 429, "too-many-requests")
            assert resp.headers["retry-after"] == "30"  # seconds to the end of the window
            assert body["title"] == "Quá nhiều yêu cầu, vui lòng thử lại sau"
        # the next window starts from zero
        app_a.state.limiter.clock = pinned_clock(1, into_window=90)
        assert (await gw_a.get("/api/v1/me/dossiers", headers=token)).status_code == 200


async def test_retry_after_counts_down_to_the_window_end(gateway_factory, issuer, pinned_clock, problem):
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-retry"))
    async with gateway_factory(rate_citizen_per_minute=1) as (app, gw):
        app.state.limiter.clock = pinned_clock(2, into_window=0.5)
        assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200
        assert problem(await gw.get("/api/v1/me/dossiers", headers=token), 429, "too-many-requests")
        assert (await gw.get("/api/v1/me/dossiers", headers=token)).headers["retry-after"] == "60"
        app.state.limiter.clock = pinned_clock(2, into_window=59.5)
        assert (await gw.get("/api/v1/me/dossiers", headers=token)).headers["retry-after"] == "1"


async def test_citizen_officer_client_and_ip_buckets_are_independent(gateway_factory, issuer, pinned_clock, problem):
    an = issuer.bearer(issuer.citizen("001090001234", sub="c-an-buckets"))
    binh = issuer.bearer(issuer.citizen("079195005678", sub="c-binh-buckets"))
    officer = issuer.bearer(issuer.officer("000.26.01.H29", "receiving_officer", sub="hoa-buckets"))
    partner = issuer.bearer(issuer.partner("vcci-buckets", "dossiers:read"))
    limits = {
        "rate_citizen_per_minute": 3,
        "rate_officer_per_minute": 2,
        "rate_client_per_minute": 4,
        "rate_anonymous_per_minute": 2,
    }
    async with gateway_factory(ip="203.0.113.10", **limits) as (app, gw):
        app.state.limiter.clock = pinned_clock(3)
        path = "/api/v1/dossiers/C1"

        async def statuses(headers: dict, n: int, client: httpx.AsyncClient = gw) -> list[int]:
            return [(await client.get(path, headers=headers)).status_code for _ in range(n)]

        assert await statuses(an, 4) == [200, 200, 200, 429]
        assert await statuses(binh, 3) == [200, 200, 200]  # the same app, another citizen: own bucket
        assert await statuses(partner, 5) == [200, 200, 200, 200, 429]  # a partner: per client id
        assert await statuses(officer, 3) == [200, 200, 429]
        assert await statuses(binh, 1) == [429]  # Bình used hers up too, nobody else's
        # anonymous calls from the same IP are counted by IP, not in any of the buckets above
        assert [(await gw.get("/api/v1/procedures")).status_code for _ in range(3)] == [200, 200, 429]
        async with other_client(app, "203.0.113.11") as elsewhere:
            assert (await elsewhere.get("/api/v1/procedures")).status_code == 200
            # a citizen is one bucket wherever they call from
            problem(await elsewhere.get(path, headers=an), 429, "too-many-requests")
        # a token on a public route: counted as that person, not as the IP (whose bucket is used up)
        assert (
            await gw.get("/api/v1/procedures", headers=issuer.bearer(issuer.citizen("1", sub="c-new")))
        ).status_code == 200


async def test_public_lookup_has_a_strict_bucket_per_ip(gateway_factory, issuer, pinned_clock, problem):
    async with gateway_factory(ip="203.0.113.20", rate_public_lookup_per_minute=3, rate_anonymous_per_minute=100) as (
        app,
        gw,
    ):
        app.state.limiter.clock = pinned_clock(4)
        codes = [f"000.26.01.H29-260101-000{n}-ABCDEF" for n in range(4)]
        answers = [(await gw.get(f"/api/v1/public/dossiers/{c}")).status_code for c in codes]
        assert answers == [200, 200, 200, 429]
        resp = await gw.get("/api/v1/public/dossiers/X")
        problem(resp, 429, "too-many-requests")
        assert int(resp.headers["retry-after"]) == 30
        # a token does not lift the lookup limit of that address
        citizen = issuer.bearer(issuer.citizen("001090001234", sub="c-lookup"))
        problem(await gw.get("/api/v1/public/dossiers/X", headers=citizen), 429, "too-many-requests")
        # other routes from the same address, and the lookup from another address, are unaffected
        assert (await gw.get("/api/v1/procedures")).status_code == 200
        async with other_client(app, "203.0.113.21") as elsewhere:
            assert (await elsewhere.get("/api/v1/public/dossiers/X")).status_code == 200


async def test_login_endpoints_have_a_bucket_per_ip(gateway_factory, pinned_clock, problem):
    async with gateway_factory(ip="203.0.113.30", rate_login_per_minute=2) as (app, gw):
        app.state.limiter.clock = pinned_clock(5)
        form = {"personal_id": "001090001234", "password": "guess"}
        assert (await gw.post("/oauth/authorize", data=form)).status_code == 302
        assert (await gw.post("/oauth/token", data={"grant_type": "refresh_token"})).status_code == 201
        problem(await gw.post("/oauth/authorize", data=form), 429, "too-many-requests")
        assert (await gw.get("/oauth/authorize")).status_code == 200  # the login page itself is not counted there


async def test_old_windows_are_deleted_and_recent_ones_kept(gateway_factory, issuer, pinned_clock):
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-cleanup"))
    async with gateway_factory() as (app, gw):
        limiter = app.state.limiter
        for minutes_ago in (5, 2, 1, 0):
            limiter.clock = pinned_clock(6, into_window=30 - 60 * minutes_ago)
            assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200

        async def windows() -> list[int]:
            rows = await limiter.pool.fetch(
                "SELECT window_start FROM rate_counters WHERE bucket = 'citizen:c-cleanup' ORDER BY 1"
            )
            return [r["window_start"] for r in rows]

        now = int(pinned_clock(6, into_window=0)())
        assert await windows() == [now - 300, now - 120, now - 60, now]
        assert await limiter.cleanup() >= 2
        assert await windows() == [now - 60, now]  # the current and the previous window stay
        assert await limiter.cleanup() == 0


async def test_counter_database_unreachable_at_start_fails_open(gateway_factory, issuer, free_port, caplog):
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-down"))
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
        async with gateway_factory(pg_port=free_port(), rate_citizen_per_minute=1, rate_anonymous_per_minute=1) as (
            app,
            gw,
        ):
            assert app.state.limiter.pool is None
            assert [(await gw.get("/api/v1/me/dossiers", headers=token)).status_code for _ in range(5)] == [200] * 5
            assert [(await gw.get("/api/v1/procedures")).status_code for _ in range(5)] == [200] * 5
            ready = await gw.get("/readyz")
            assert ready.status_code == 503 and "counter_database" in ready.json()["failures"]
    assert any("limits are off" in r.getMessage() for r in caplog.records)


async def test_a_slow_counter_database_fails_open(gateway_factory, counter_settings, issuer, pinned_clock, caplog):
    """The production timeout: a counter statement that waits longer than ``rate_db_timeout`` (here a row lock held by
    another session) lets the request through, and the database is skipped for ``rate_db_retry`` seconds."""
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-slow"))
    async with gateway_factory(rate_citizen_per_minute=1) as (app, gw):
        limiter = app.state.limiter
        limiter.clock = pinned_clock(7)
        generous = limiter.settings  # the tests' timeout: the counts before and after the lock must not fail open
        assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200  # counted: the row exists
        locker = await asyncpg.connect(counter_settings.dsn)
        try:
            async with locker.transaction():
                await locker.execute("SELECT n FROM rate_counters WHERE bucket = 'citizen:c-slow' FOR UPDATE")
                limiter.settings = generous.model_copy(update={"rate_db_timeout": 0.25})  # production's
                with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
                    # over the limit, but the count cannot be had in time: through, unlimited
                    assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200
                assert any("unlimited" in r.getMessage() and "TimeoutError" in r.getMessage() for r in caplog.records)
                assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200  # skipped meanwhile
        finally:
            await locker.close()
        limiter.settings = generous
        limiter._skip_until = 0.0  # rate_db_retry seconds later
        assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 429  # counting again


async def test_counter_database_lost_while_running_fails_open(gateway_factory, counter_settings, issuer, caplog):
    settings = counter_settings.model_copy(update={"database": counter_settings.database + "_lost"})
    await create_database(settings, MIGRATIONS)
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-lost"))
    try:
        async with gateway_factory(database=settings.database, rate_citizen_per_minute=1) as (app, gw):
            assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200
            assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 429  # counting works
            await drop_database(settings)  # terminates the gateway's connections
            with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
                assert [(await gw.get("/api/v1/me/dossiers", headers=token)).status_code for _ in range(3)] == [200] * 3
            assert any("unlimited" in r.getMessage() for r in caplog.records)
            assert (await gw.get("/readyz")).status_code == 503
    finally:
        await drop_database(settings)


async def test_the_gateway_does_not_migrate_and_counts_once_migrated(gateway_factory, counter_settings, issuer):
    """Migrations are `make migrate`'s: a gateway whose counter database is missing or unmigrated serves without
    limits and says why in /readyz; once migrated, it counts."""
    settings = counter_settings.model_copy(update={"database": counter_settings.database + "_fresh"})
    await drop_database(settings)
    token = issuer.bearer(issuer.citizen("001090001234", sub="c-fresh"))
    try:
        async with gateway_factory(database=settings.database, rate_citizen_per_minute=1) as (app, gw):
            assert app.state.limiter.pool is None
            ready = await gw.get("/readyz")
            assert ready.status_code == 503 and "does not exist" in ready.json()["failures"]["counter_database"]
            await create_database(settings)  # there, but not migrated
            await app.state.limiter._try_connect()
            assert app.state.limiter.pool is None
            assert "make migrate" in (await gw.get("/readyz")).json()["failures"]["counter_database"]
            assert [(await gw.get("/api/v1/me/dossiers", headers=token)).status_code for _ in range(2)] == [200] * 2

            await create_database(settings, MIGRATIONS)  # `make migrate`
            await app.state.limiter._try_connect()  # what its maintenance loop does every rate_db_retry seconds
            assert (await gw.get("/readyz")).json()["status"] == "ready"
            assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 200
            assert (await gw.get("/api/v1/me/dossiers", headers=token)).status_code == 429
            limiter = app.state.limiter  # to mypy, `app.state.limiter.pool` is still None (asserted above)
            persistence = await limiter.pool.fetchval(
                "SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_counters'"
            )
            assert persistence == "u"  # UNLOGGED
    finally:
        await drop_database(settings)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "10.0.0.2"),  # no trusted proxy: a client-sent X-Forwarded-For is ignored
        (1, None, "10.0.0.2"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the spoofed first entry is not believed
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.1", "198.51.100.1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(hops, forwarded, expected):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "headers": headers, "client": ("10.0.0.2", 1234)})
    assert client_ip(request, hops) == expected
