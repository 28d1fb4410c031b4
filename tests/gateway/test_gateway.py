"""Gateway behaviour with stand-in upstreams: routing, forwarding, fallback, failures, the identity routes, the
callback page and the merged OpenAPI. The real services behind it are exercised in tests/e2e."""

import gc

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from gateway.routing import ROUTES

pytestmark = pytest.mark.integration  # the rate-limit counters are in the real PostgreSQL


@pytest.fixture(scope="module")
async def gw(gateway_factory):
    async with gateway_factory(max_body_bytes=1000) as (app, client):
        yield client


@pytest.fixture(scope="module")
def citizen(issuer):
    return issuer.bearer(issuer.citizen("001090001234", sub="c-an"))


async def test_routes_to_the_owning_service_and_forwards_selected_headers(gw, citizen, seen):
    resp = await gw.post(
        "/api/v1/dossiers",
        json={"a": 1},
        headers={**citizen, "Idempotency-Key": "k1", "X-Request-ID": "rid-1", "Cookie": "secret=1"},
    )
    assert resp.status_code == 201 and resp.json()["served_by"] == "intake"
    assert resp.headers["location"] == "/x" and resp.headers["idempotent-replayed"] == "true"
    assert "set-cookie" not in resp.headers
    assert resp.headers["x-request-id"] == "rid-1"
    # a file's name (the official forms, documents) and the no-sniffing of its type reach the client
    assert resp.headers["content-disposition"] == "inline; filename*=UTF-8''Gi%E1%BA%A5y.pdf"
    assert resp.headers["x-content-type-options"] == "nosniff"
    sent = seen[-1]
    assert sent.headers["idempotency-key"] == "k1" and sent.headers["x-request-id"] == "rid-1"
    assert "cookie" not in sent.headers
    assert "traceparent" in sent.headers
    assert (await gw.get("/api/v1/procedures", params={"limit": 2})).json()["served_by"] == "intake"
    assert seen[-1].url.params["limit"] == "2"


@pytest.mark.parametrize(
    ("method", "path", "owner"),
    [
        ("GET", "/api/v1/me/profile", "citizen-id"),
        ("GET", "/api/v1/me/access-log", "citizen-id"),
        ("GET", "/api/v1/me/mandates", "citizen-id"),
        ("GET", "/api/v1/procedures/P1/once-only", "intake"),
        ("POST", "/api/v1/dossiers/preview", "intake"),
        ("GET", "/api/v1/dossiers/C1/application", "intake"),
        ("POST", "/api/v1/dossiers/C1/corrections", "intake"),
        ("POST", "/api/v1/me/documents", "intake"),
        ("GET", "/api/v1/me/documents", "intake"),
        ("GET", "/api/v1/dossiers/C1", "processing"),
        ("GET", "/api/v1/public/dossiers/C1", "processing"),
        ("GET", "/api/v1/me/dossiers", "processing"),
        ("POST", "/api/v1/dossiers/C1/actions/return-result", "processing"),
        ("GET", "/api/v1/work-queue", "processing"),
        ("GET", "/api/v1/dossiers/C1/forms/05", "processing"),
        ("GET", "/api/v1/me/notifications", "notify"),
        ("POST", "/api/v1/me/notifications/n1/read", "notify"),
        ("GET", "/api/v1/dossiers/C1/notifications", "notify"),
        ("GET", "/api/v1/me/notification-preferences", "notify"),
        ("PUT", "/api/v1/me/notification-preferences", "notify"),
        ("GET", "/api/v1/notification-templates", "notify"),
        ("POST", "/api/v1/notification-templates/vn.motcua.dossier.submitted.v2/sms/preview", "notify"),
        ("GET", "/api/v1/notification-dead-letters", "notify"),
        ("POST", "/api/v1/notification-dead-letters/d1/replay", "notify"),
        ("GET", "/.well-known/openid-configuration", "citizen-id"),
        ("GET", "/oauth/jwks", "citizen-id"),
        ("GET", "/oauth/authorize", "citizen-id"),
        ("POST", "/oauth/token", "citizen-id"),
    ],
)
async def test_every_public_path_reaches_its_owner(gw, citizen, method, path, owner):
    resp = await gw.request(method, path, headers=citizen)
    assert resp.status_code in (200, 201), resp.text
    assert resp.json()["served_by"] == owner and resp.json()["path"] == path


async def test_multipart_upload_is_forwarded_byte_for_byte(gw, citizen, seen):
    resp = await gw.post("/api/v1/me/documents", headers=citizen, files={"file": ("cccd.pdf", b"%PDF-1.7 x")})
    assert resp.status_code == 201
    assert seen[-1].headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b"%PDF-1.7 x" in seen[-1].content


async def test_login_form_is_forwarded_and_its_redirect_passed_through_unchanged(gw, seen):
    form = {"personal_id": "001090001234", "password": "demo1234", "state": "s1"}
    resp = await gw.post("/oauth/authorize", data=form, params={"client_id": "motcua-app"})
    assert resp.status_code == 302
    assert resp.headers["location"] == "vn.motcua.app:/oauth/callback?code=c%2Fd&state=s1"
    assert "set-cookie" not in resp.headers
    sent = seen[-1]
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.content == b"personal_id=001090001234&password=demo1234&state=s1"
    assert sent.url.params["client_id"] == "motcua-app"


async def test_token_endpoint_passes_client_basic_auth_and_no_store(gw, seen):
    resp = await gw.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "dossiers:read"},
        auth=("provincial-system", "provincial-system-secret"),
    )
    assert resp.status_code == 201 and resp.headers["cache-control"] == "no-store"
    assert seen[-1].headers["authorization"].startswith("Basic ")
    assert seen[-1].content == b"grant_type=client_credentials&scope=dossiers%3Aread"


async def test_callback_page_shows_the_code_escaped(gw):
    resp = await gw.get("/oauth/callback", params={"code": "abc<script>x</script>", "state": 's"1'})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "Đăng nhập thành công" in resp.text
    assert "abc&lt;script&gt;x&lt;/script&gt;" in resp.text and "<script>" not in resp.text
    assert "s&quot;1" in resp.text
    assert resp.headers["cache-control"] == "no-store" and resp.headers["referrer-policy"] == "no-referrer"
    err = await gw.get("/oauth/callback", params={"error": "access_denied", "error_description": "<b>no</b>"})
    assert err.status_code == 400 and "Đăng nhập không thành công" in err.text
    assert "&lt;b&gt;no&lt;/b&gt;" in err.text
    assert (await gw.get("/oauth/callback")).status_code == 400


async def test_odd_characters_in_path_parameters_reach_the_upstream_encoded(gw, seen):
    resp = await gw.get("/api/v1/procedures/%04%C2%B1%20x")
    assert resp.status_code == 200
    assert seen[-1].url.raw_path == b"/api/v1/procedures/%04%C2%B1%20x"


async def test_tracking_and_public_lookup_fall_back_to_intake_while_processing_has_no_case(gw, citizen):
    assert (await gw.get("/api/v1/dossiers/C1", headers=citizen)).json()["served_by"] == "processing"
    assert (await gw.get("/api/v1/dossiers/C-NEW", headers=citizen)).json()["served_by"] == "intake"
    assert (await gw.get("/api/v1/public/dossiers/C1")).json()["served_by"] == "processing"
    assert (await gw.get("/api/v1/public/dossiers/C-NEW")).json()["served_by"] == "intake"


async def test_upstream_failures_are_problems(gateway_factory, citizen, free_port, problem):
    # an answer slower than the timeout: 504
    async with gateway_factory(upstream_timeout=0.5) as (app, gw):
        problem(await gw.get("/api/v1/procedures/slow"), 504, "upstream-timeout")
    async with gateway_factory() as (app, gw):
        # the connection closed without an answer: 503, try again later
        dropped = await gw.get("/api/v1/procedures/drop")
        problem(dropped, 503, "upstream-unavailable")
        assert dropped.headers["retry-after"] == "5"
    # nothing listening at the service's address: 503, and the other services still answer
    async with gateway_factory(intake_url=f"http://127.0.0.1:{free_port()}") as (app, gw):
        down = await gw.get("/api/v1/procedures")
        problem(down, 503, "upstream-unavailable")
        assert down.headers["retry-after"] == "5"
        assert (await gw.get("/api/v1/me/notifications", headers=citizen)).status_code == 200
        assert (await gw.get("/readyz")).status_code == 503


async def test_unknown_paths_methods_and_big_bodies_are_problems(gw, citizen, problem):
    problem(await gw.get("/api/v1/nothing-here"), 404, "not-found")
    problem(await gw.delete("/api/v1/procedures"), 405, "method-not-allowed")
    problem(await gw.post("/api/v1/dossiers", content=b"x" * 2000, headers=citizen), 413, "payload-too-large")


async def test_merged_openapi_has_every_route_with_schemas_and_security(gw):
    doc = (await gw.get("/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    flows = schemes["oauth2"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "http://127.0.0.1:8000/oauth/authorize"
    assert flows["authorizationCode"]["tokenUrl"] == "http://127.0.0.1:8000/oauth/token"
    assert "PKCE" in schemes["oauth2"]["description"]
    assert set(flows["clientCredentials"]["scopes"]) == {"dossiers:read", "dossiers:submit-post"}
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    for r in ROUTES:
        if not r.documented:  # the OAuth/OIDC protocol: described by the discovery document instead
            assert r.method.lower() not in doc["paths"].get(r.path, {}), r
            continue
        op = doc["paths"][r.path][r.method.lower()]
        if r.auth == "token":
            assert op["security"] == [{"bearer": []}, {"oauth2": []}], r
            assert {"401", "403"} <= set(op["responses"]), r
        else:
            assert {} in op["security"], r
        assert "429" in op["responses"]
        headers = [p["name"].lower() for p in op.get("parameters", []) if p.get("in") == "header"]
        assert headers == [], (r, headers)  # x-officer-*, x-on-behalf-of, authorization: none are client input
    assert "text/html" in doc["paths"]["/oauth/callback"]["get"]["responses"]["200"]["content"]
    description = doc["info"]["description"]
    assert "demo-officer-token" not in str(doc) and "demo1234" in description and "PKCE" in description
    assert "429" in description and "/api/v1/public/dossiers/" in description
    schemas = doc["components"]["schemas"]
    # every service defines "Thing" differently: one keeps the name, the others are prefixed
    things = [k for k in schemas if k.endswith("Thing")]
    assert len(things) == 4 and "Inner" in schemas and "Problem" in schemas
    refs = str(doc["paths"])
    assert all(f"#/components/schemas/{t}" in refs for t in things)
    html = await gw.get("/docs")
    assert "/docs-static/swagger-ui-bundle.js" in html.text
    assert (await gw.get("/docs-static/swagger-ui-bundle.js")).status_code == 200


async def test_health_and_readiness_include_the_counter_database(gw):
    assert (await gw.get("/healthz")).json() == {"status": "ok"}
    assert (await gw.get("/readyz")).json()["status"] == "ready"


async def test_a_proxied_request_is_counted_under_its_route_in_the_metrics(gw, citizen):
    assert (await gw.get("/api/v1/dossiers/H29-1", headers=citizen)).status_code == 200
    metrics = (await gw.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/api/v1/dossiers/{code}",status="200"}' in metrics


async def test_a_recorded_trace_has_a_client_span_whose_context_the_upstream_gets(gw, citizen, seen, spans):
    resp = await gw.post("/api/v1/dossiers", json={"a": 1}, headers=citizen)
    assert resp.status_code == 201
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind == SpanKind.SERVER]
    client = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert len(server) == 1 and len(client) == 1  # one server span: OpenTelemetry's, not also FastAPI's own
    assert server[0].name == "POST /api/v1/dossiers" and server[0].parent is None
    assert server[0].instrumentation_scope.name == "opentelemetry.instrumentation.fastapi"
    assert not [s for s in finished if s.instrumentation_scope.name == "fastapi"]
    call = client[0]
    by_id = {s.context.span_id: s for s in finished}
    ancestors, parent = [], call.parent
    while parent is not None:
        ancestors.append(parent.span_id)
        parent = by_id[parent.span_id].parent
    assert ancestors[-1] == server[0].context.span_id  # within the gateway's server span
    assert call.name == "POST" and call.attributes["http.request.method"] == "POST"
    assert call.attributes["http.response.status_code"] == 201
    assert call.attributes["url.full"].endswith("/api/v1/dossiers")
    assert call.attributes["server.address"] == "127.0.0.1" and call.status.status_code != StatusCode.ERROR
    sent = seen[-1].headers["traceparent"]
    assert sent.startswith(f"00-{call.context.trace_id:032x}-{call.context.span_id:016x}-")
    assert int(sent[-2:], 16) & 1  # sampled: the service records its part of the trace


async def test_an_upstream_error_status_marks_the_client_span(gw, citizen, spans):
    assert (await gw.get("/api/v1/dossiers/C-NEW", headers=citizen)).status_code == 200  # intake's fallback
    calls = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [c.attributes["http.response.status_code"] for c in calls] == [404, 200]
    assert calls[0].status.status_code == StatusCode.ERROR and calls[0].attributes["error.type"] == "404"


async def test_an_unrecorded_trace_travels_on_without_a_client_span(gw, citizen, seen, spans):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-00"  # the caller decided not to record this trace
    resp = await gw.get("/api/v1/me/dossiers", headers={**citizen, "traceparent": parent})
    assert resp.status_code == 200
    sent = seen[-1].headers["traceparent"]
    assert sent.startswith(f"00-{trace_id}-") and not int(sent[-2:], 16) & 1
    assert spans.get_finished_spans() == ()


async def test_a_body_without_content_type_is_forwarded_without_one(gw, citizen, seen):
    resp = await gw.post("/api/v1/dossiers/preview", content=b'{"a": 1}', headers=citizen)
    assert resp.status_code == 201
    assert "content-type" not in seen[-1].headers and seen[-1].content == b'{"a": 1}'
    assert resp.json()["body"] == '{"a": 1}'


async def test_cookies_an_upstream_sets_never_ride_on_later_calls(gw, citizen, seen):
    for _ in range(2):  # every stand-in answer sets a cookie
        assert (await gw.get("/api/v1/me/profile", headers=citizen)).status_code == 200
        assert "cookie" not in seen[-1].headers


async def test_the_startup_heap_is_left_out_of_garbage_collections(gateway_factory):
    gc.unfreeze()
    async with gateway_factory() as (app, gw):
        assert gc.get_freeze_count() > 0  # the app's and the libraries' objects
        assert (await gw.get("/api/v1/procedures")).status_code == 200
