"""Gateway behaviour with stand-in upstreams: routing, auth, fallback, failures, the merged OpenAPI.
The real services behind it are exercised in tests/e2e."""

import httpx
import pytest

from gateway.main import create_app
from gateway.routing import ROUTES
from gateway.settings import Settings
from motcua_common.telemetry import instrument_httpx

SEEN: list[httpx.Request] = []


def upstream(name: str):
    def handle(request: httpx.Request) -> httpx.Response:
        SEEN.append(request)
        path = request.url.path
        if path == "/openapi.json":
            return httpx.Response(200, json=_doc(name))
        if path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if "slow" in path:
            raise httpx.ReadTimeout("slow", request=request)
        if "down" in path:
            raise httpx.ConnectError("refused", request=request)
        if name == "processing" and path.startswith("/api/v1/dossiers/") and path.endswith("NEW"):
            return httpx.Response(
                404,
                headers={"content-type": "application/problem+json"},
                json={"type": "x/dossier-not-found", "status": 404},
            )
        return httpx.Response(
            201 if request.method == "POST" else 200,
            json={"served_by": name, "path": path},
            headers={"location": "/x", "idempotent-replayed": "true", "set-cookie": "no=1"},
        )

    return handle


def _doc(name: str) -> dict:
    paths = {}
    for r in ROUTES:
        if r.upstream == name:
            paths.setdefault(r.path, {})[r.method.lower()] = {
                "operationId": f"{name}_{r.method}_{r.path}",
                "parameters": [{"name": "x-officer-id", "in": "header"}, {"name": "code", "in": "path"}],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            }
    return {
        "openapi": "3.1.0",
        "paths": paths,
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "title": f"Thing of {name}",
                    "properties": {"x": {"$ref": "#/components/schemas/Inner"}},
                },
                "Inner": {"type": "string"},
            }
        },
    }


@pytest.fixture(scope="module")
async def gateway():
    app = create_app(Settings(max_body_bytes=1000))
    async with app.router.lifespan_context(app):
        for name in list(app.state.clients):
            await app.state.clients[name].aclose()
            app.state.clients[name] = httpx.AsyncClient(
                transport=httpx.MockTransport(upstream(name)), base_url=f"http://{name}.test"
            )
            instrument_httpx(app.state.clients[name])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as c:
            yield c


def problem(resp, status, slug):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("/" + slug)


async def test_routes_to_the_owning_service_and_forwards_selected_headers(gateway):
    SEEN.clear()
    resp = await gateway.post(
        "/api/v1/dossiers",
        json={"a": 1},
        headers={"Idempotency-Key": "k1", "X-Request-ID": "rid-1", "Cookie": "secret=1"},
    )
    assert resp.status_code == 201 and resp.json()["served_by"] == "intake"
    assert resp.headers["location"] == "/x" and resp.headers["idempotent-replayed"] == "true"
    assert "set-cookie" not in resp.headers
    assert resp.headers["x-request-id"] == "rid-1"
    sent = SEEN[-1]
    assert sent.headers["idempotency-key"] == "k1" and sent.headers["x-request-id"] == "rid-1"
    assert "cookie" not in sent.headers
    assert "traceparent" in sent.headers
    assert (await gateway.get("/api/v1/procedures", params={"limit": 2})).json()["served_by"] == "intake"
    assert SEEN[-1].url.params["limit"] == "2"
    assert (await gateway.get("/api/v1/dossiers/C1/notifications")).json()["served_by"] == "notify"


async def test_odd_characters_in_path_parameters_reach_the_upstream_encoded(gateway):
    resp = await gateway.get("/api/v1/procedures/%04%C2%B1%20x")
    assert resp.status_code == 200
    assert SEEN[-1].url.raw_path == b"/api/v1/procedures/%04%C2%B1%20x"


async def test_tracking_falls_back_to_intake_while_processing_has_no_case(gateway):
    assert (await gateway.get("/api/v1/dossiers/C1")).json()["served_by"] == "processing"
    assert (await gateway.get("/api/v1/dossiers/C-NEW")).json()["served_by"] == "intake"


async def test_officer_routes_need_a_valid_token_and_pass_the_officer_on(gateway):
    path = "/api/v1/dossiers/C1/actions/accept"
    problem(await gateway.post(path, json={}), 401, "unauthorized")
    problem(await gateway.post(path, json={}, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    spoof = {"Authorization": "Bearer demo-officer-token", "X-Officer-Id": "someone-else"}
    resp = await gateway.post(path, json={}, headers=spoof)
    assert resp.status_code == 201 and resp.json()["served_by"] == "processing"
    assert SEEN[-1].headers["x-officer-id"] == "canbo.hoankiem.01"
    assert SEEN[-1].headers["x-officer-name"] == "Nguy%E1%BB%85n%20Th%E1%BB%8B%20Hoa"


async def test_upstream_failures_are_problems(gateway):
    problem(await gateway.get("/api/v1/procedures/slow"), 504, "upstream-timeout")
    down = await gateway.get("/api/v1/procedures/down")
    problem(down, 503, "upstream-unavailable")
    assert down.headers["retry-after"] == "5"


async def test_unknown_paths_methods_and_big_bodies_are_problems(gateway):
    problem(await gateway.get("/api/v1/nothing-here"), 404, "not-found")
    problem(await gateway.delete("/api/v1/procedures"), 405, "method-not-allowed")
    problem(await gateway.post("/api/v1/dossiers", content=b"x" * 2000), 413, "payload-too-large")


async def test_merged_openapi_has_every_route_with_schemas_and_security(gateway):
    doc = (await gateway.get("/openapi.json")).json()
    for r in ROUTES:
        assert r.method.lower() in doc["paths"][r.path], r
        op = doc["paths"][r.path][r.method.lower()]
        if r.officer:
            assert op["security"] == [{"officerBearer": []}]
        assert not [p for p in op.get("parameters", []) if p["name"].lower().startswith("x-officer")]
    schemas = doc["components"]["schemas"]
    # every service defines "Thing" differently: one keeps the name, the others are prefixed
    things = [k for k in schemas if k.endswith("Thing")]
    assert len(things) == 3 and "Inner" in schemas
    refs = str(doc["paths"])
    assert all(f"#/components/schemas/{t}" in refs for t in things)
    html = await gateway.get("/docs")
    assert "/docs-static/swagger-ui-bundle.js" in html.text
    assert (await gateway.get("/docs-static/swagger-ui-bundle.js")).status_code == 200


async def test_health_and_readiness(gateway):
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.get("/readyz")).json()["status"] == "ready"
