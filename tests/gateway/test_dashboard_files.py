"""The dashboard's static files as the gateway serves them (gateway/dashboard_site.py): types, caching, the
same-origin Content-Security-Policy, and the vendored chart library being the one pinned in
scripts/vendor-chartjs.sh. What the pages do in a browser is tested in tests/e2e/test_dashboard.py."""

import hashlib
from pathlib import Path

import pytest

from gateway.dashboard_site import DIRECTORY

pytestmark = pytest.mark.integration  # the gateway's rate-limit counters are in the real PostgreSQL

CHART_JS = "vendor/chart-4.6.1.umd.min.js"
# sha256 of dist/chart.umd.min.js in chart.js-4.6.1.tgz from the npm registry (integrity checked by the script)
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


@pytest.fixture(scope="module")
async def gw(gateway_factory):
    async with gateway_factory() as (app, client):
        yield client


async def test_pages_scripts_and_styles_have_their_types_and_a_same_origin_policy(gw):
    page, script, style = [await gw.get(p) for p in ("/dashboard/", "/dashboard/app.js", "/dashboard/style.css")]
    assert page.status_code == script.status_code == style.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert "Xếp hạng chất lượng phục vụ" in page.text and '<html lang="vi">' in page.text
    for resp in (page, script, style):
        csp = resp.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == directives["script-src"] == directives["connect-src"] == "'self'"
        assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in csp and "http" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert resp.headers["cache-control"] == "no-cache" and resp.headers["etag"]


async def test_the_versioned_chart_library_is_cached_and_is_the_pinned_release(gw):
    resp = await gw.get(f"/dashboard/{CHART_JS}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/javascript; charset=utf-8"
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(resp.content).hexdigest() == CHART_JS_SHA256
    assert (await gw.get("/dashboard/vendor/chart.js-LICENSE.md")).text.startswith("The MIT License")


async def test_the_page_loads_nothing_from_elsewhere(gw):
    for name in ("index.html", "app.js", "style.css"):
        text = (Path(DIRECTORY) / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, name  # no CDN, no absolute address


async def test_unknown_files_are_404_and_the_bare_path_redirects(gw):
    missing = await gw.get("/dashboard/nope.js")
    assert missing.status_code == 404  # the gateway's usual problem answer
    assert missing.headers["content-type"].startswith("application/problem+json"), missing.headers
    bare = await gw.get("/dashboard")
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/dashboard/")
    assert (await gw.get("/dashboard/../gateway/main.py")).status_code == 404
