"""The web dashboard (/dashboard/) in a real headless Chromium from Debian's packages, driven by Selenium through
Debian's chromedriver (scripts/ensure-browser.sh installs both; nothing is downloaded): the pages load, the charts
are drawn, the figures shown are the API's, the layout holds at a phone's width (390 px) and on a desktop, and a
unit head logs in through the platform's own login page (authorization code + PKCE) and sees their unit's overdue
and due-soon dossiers and follow-ups. Screenshots are saved under .run/screenshots/ (paths printed at the end).

The figures are the real statistics API's (processing's issue 9 endpoints, through the e2e gateway): the e2e
system's statistics start from the demo's synthetic history of dossiers (tests/e2e/conftest.py, ``HISTORY_UNTIL``:
ranked units, units without a basis, twelve months of series), and the ``dashboard`` fixture adds a real dossier
driven through the officers' actions to its returned result and rated low by its applicant (a follow-up for the unit
head), then waits for the projection to count it. The assertions compare the page with what the API answers, never
with fixed numbers."""

import asyncio
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from .conftest import HISTORY_UNTIL, PASSWORD, SCREENSHOTS, eventually
from .test_flow import opened_by_processing, submit
from .test_statistics import drive_to_return

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".run" / "screenshots"
CHROMIUM = os.environ.get("MOTCUA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MOTCUA_CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP, PHONE = (1280, 900), (390, 844)
DAY = HISTORY_UNTIL.isoformat()  # the pages' period: the month (and quarter) the seeded history ends in
UNIT_HEAD = "officer son (unit head, UBND)"
UBND = "000.26.01.H29"


async def _settled(client: httpx.AsyncClient) -> None:
    """The projection consumes the dossier topic asynchronously (this run's earlier tests too): wait, with a bound,
    until the period's ranked figures of units and centres read the same twice a second apart."""
    last: list[str] = []

    async def unchanged() -> bool:
        now = []
        for kind in ("unit", "centre"):
            resp = await client.get("/api/v1/public/ranking", params={"period": "month", "date": DAY, "kind": kind})
            assert resp.status_code == 200, resp.text
            now.append(json.dumps(resp.json(), sort_keys=True))
        same = now == last
        last[:] = now
        return same

    await eventually(unchanged, wait_s=60, interval=1)


@pytest.fixture(scope="module")
async def dashboard(system, actors):
    """The e2e gateway, once a real dossier of the unit head's unit has been returned and rated 1/5 by its applicant
    (which opens a follow-up for the unit head) and the projection has counted what this run has done so far."""
    async with httpx.AsyncClient(base_url=system.gateway, timeout=15) as client:

        async def today() -> dict:
            resp = await client.get("/api/v1/public/statistics", params={"period": "day", "unit": UBND})
            assert resp.status_code == 200, resp.text
            items = resp.json()["items"]
            return items[0] if items else {"resolved": {"total": 0}}

        before = (await today())["resolved"]["total"]
        code = (await submit(client, actors["citizen An"])).json()["code"]
        await opened_by_processing(client, code, actors["officer hoa (receiving, UBND)"])
        await drive_to_return(client, actors, code)
        rated = await client.post(
            f"/api/v1/dossiers/{code}/ratings",
            json={"overall": 1, "comment": "Hẹn trả kết quả nhưng phải chờ thêm hai ngày."},
            headers=actors["citizen An"],
        )
        assert rated.status_code == 201 and rated.json()["follow_up_id"], rated.text

        async def counted() -> bool:
            return (await today())["resolved"]["total"] > before

        await eventually(counted)
        await _settled(client)
    yield system.gateway


def _start_browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with the driver's path too, Selenium never looks for (or fetches) one
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=vi-VN",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
async def browser():
    driver = await asyncio.to_thread(_start_browser)
    try:
        yield driver
    finally:
        await asyncio.to_thread(driver.quit)


async def in_browser(fn: Callable[..., Any], *args: Any) -> Any:
    """Selenium blocks; the servers run on this event loop, so every browser step runs in a worker thread."""
    return await asyncio.to_thread(fn, *args)


# ---- what the page should show for a figure, written independently of the page's script ----
def vi_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def vi_one(x: float) -> str:
    # Chromium's Intl.NumberFormat (ICU) rounds half up the shortest decimal that reads back as the double (a rate
    # of 0.6885 times 100 is the double 68.849999999999994, written 68.85: shown 68,9); Python's repr is that same
    # shortest decimal, and Decimal rounds it half up (Python's format would round the exact binary value)
    s = str(Decimal(repr(x)).quantize(Decimal("0.1"), ROUND_HALF_UP))
    whole, frac = s.split(".")
    return f"{vi_int(int(whole))},{frac}"


def vi_pct(r: float | None) -> str:
    return "Chưa có số liệu" if r is None else vi_one(r * 100) + "%"


def expected_figures(f: dict) -> dict[str, list[str]]:
    res, rec, sat = f["resolved"], f["received"], f["satisfaction"]
    return {
        "on_time_rate": [vi_pct(f["on_time_rate"]), f"{vi_int(res['early'] + res['on_time'])}/{vi_int(res['total'])}"],
        "avg_processing_days": [
            "Chưa có số liệu" if f["avg_processing_days"] is None else vi_one(f["avg_processing_days"]) + " ngày",
            vi_int(res["total"]),
        ],
        "satisfaction": [
            "Chưa có số liệu" if sat["average"] is None else vi_one(sat["average"]) + "/5",
            vi_int(sat["ratings"]),
        ],
        "online_share": [vi_pct(f["online_share"]), f"{vi_int(rec['online'])}/{vi_int(rec['total'])}"],
    }


def shown_figures(row) -> dict[str, list[str]]:
    out = {}
    for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]"):
        value = cell.find_element(By.CSS_SELECTOR, ".value").text
        basis = cell.find_elements(By.CSS_SELECTOR, ".basis")
        out[str(cell.get_attribute("data-field"))] = [value, basis[0].text if basis else ""]
    return out


def assert_shows(shown: dict[str, list[str]], expected: dict[str, list[str]], where: str) -> None:
    for field, (value, count) in expected.items():
        assert shown[field][0] == value, (where, field, shown[field], value)
        assert shown[field][1].startswith(count), (where, field, shown[field], count)  # "195/200 hồ sơ đúng hạn"


# ---- browser steps (run in a thread) ----
def wait_ready(driver: WebDriver) -> None:
    def settled(d: WebDriver) -> str | None:
        state = d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        return state if state in ("ready", "error") else None

    state = WebDriverWait(driver, 20).until(settled)
    assert state == "ready", driver.find_element(By.ID, "status").text


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait_ready(driver)


def canvas_pixels(driver: WebDriver, canvas_id: str) -> int:
    """How many pixels of the canvas are drawn (not transparent)."""
    return driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;",
        canvas_id,
    )


def chart_data(driver: WebDriver, canvas_id: str) -> dict:
    return driver.execute_script(
        "const c = Chart.getChart(arguments[0]);"
        "return {labels: c.data.labels, datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))};",
        canvas_id,
    )


def assert_charts_drawn(driver: WebDriver, *ids: str) -> None:
    for canvas_id in ids:
        pixels = canvas_pixels(driver, canvas_id)
        assert pixels > 2000, (canvas_id, pixels)


def viewport(driver: WebDriver, size: tuple[int, int], height: int | None = None) -> None:
    """The page's viewport: a phone (narrower than 720 px: touch, mobile layout) or a desktop, emulated by Chromium
    itself (a headless window is never narrower than 500 px)."""
    metrics = {"width": size[0], "height": height or size[1], "deviceScaleFactor": 1, "mobile": size[0] < 720}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def fits_width(driver: WebDriver) -> None:
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    if driver.execute_script("return window.innerWidth") < 720:  # lists are cards: nothing to scroll sideways
        wide = driver.execute_script(
            "return [...document.querySelectorAll('table.cards-on-phone')]"
            ".filter(t => t.offsetParent && t.parentElement.scrollWidth > t.parentElement.clientWidth)"
            ".map(t => t.id || t.className)"
        )
        assert wide == [], f"cards wider than the screen: {wide}"


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page (the window made as tall as the page), saved under .run/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    viewport(driver, size, min(height, 10_000))
    path = SHOTS / f"{name}.png"
    try:
        assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000, path
    finally:
        viewport(driver, size)
    SCREENSHOTS.append(path)
    return path


def console_errors(driver: WebDriver) -> list[str]:
    """Errors the pages wrote to the console (a CSP violation, a failed script or request, an exception). The
    login page (citizen-id's, not the dashboard) links no icon, so the browser's own /favicon.ico try is a 404."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return [m for m in errors if "/favicon.ico " not in m]


@dataclass
class Ranking:
    by: str
    api: dict


async def ranking(url: str, by: str, kind: str = "unit") -> Ranking:
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        resp = await client.get(
            "/api/v1/public/ranking", params={"period": "month", "date": DAY, "kind": kind, "by": by}
        )
    assert resp.status_code == 200, resp.text
    return Ranking(by, resp.json())


def check_ranking(driver: WebDriver, base: str, expected: Ranking) -> None:
    open_page(driver, f"{base}/dashboard/#/?period=month&date={DAY}&kind=unit&by={expected.by}")
    assert driver.title == "Bảng theo dõi chất lượng phục vụ · Một Cửa"
    assert driver.find_element(By.TAG_NAME, "h1").text == "Xếp hạng chất lượng phục vụ"
    assert "Tháng 11/2026 (từ 01/11/2026 đến 30/11/2026)" in driver.find_element(By.ID, "ranking-period").text
    rows = driver.find_elements(By.CSS_SELECTOR, "#ranking-table tbody tr")
    items = expected.api["items"]
    assert [r.get_attribute("data-unit") for r in rows] == [i["unit_code"] for i in items]
    assert any(i["rank"] is None for i in items)  # a unit with nothing resolved in the month: last, unranked
    for row, item in zip(rows, items, strict=True):
        assert row.find_element(By.CSS_SELECTOR, "td.name a").text == item["unit_name"]
        rank = row.find_element(By.CSS_SELECTOR, "td[data-field=rank] .value").text
        assert rank == ("Chưa xếp hạng" if item["rank"] is None else str(item["rank"]))
        assert_shows(shown_figures(row), expected_figures(item), item["unit_code"])
    # the chart: one bar per ranked unit, the ranking's values (rates in %)
    ranked = [i for i in items if i["rank"] is not None]
    chart = chart_data(driver, "ranking-chart")
    assert chart["labels"] == [i["unit_name"] for i in ranked][:10]
    scale = 100 if expected.by in ("on_time_rate", "online_share") else 1
    assert chart["datasets"][0]["data"] == pytest.approx([i["value"] * scale for i in ranked][:10])
    assert_charts_drawn(driver, "ranking-chart")


def choose_ranking(driver: WebDriver, by: str) -> list[str]:
    """Pick another ranking in the page's own control; the unit codes in the order shown."""
    Select(driver.find_element(By.ID, "f-by")).select_by_value(by)
    WebDriverWait(driver, 10).until(lambda d: f"by={by}" in d.current_url)
    wait_ready(driver)
    return [str(r.get_attribute("data-unit")) for r in driver.find_elements(By.CSS_SELECTOR, "#ranking-table tbody tr")]


def phone_layout(driver: WebDriver) -> None:
    viewport(driver, PHONE)
    driver.refresh()
    wait_ready(driver)
    assert driver.execute_script("return window.innerWidth") <= PHONE[0]
    fits_width(driver)
    # each row is a card: the column titles move into the cells
    head = driver.find_element(By.CSS_SELECTOR, "#ranking-table thead")
    assert head.rect["height"] <= 1 and head.rect["width"] <= 1  # kept for screen readers, not shown
    cell = driver.find_element(By.CSS_SELECTOR, "#ranking-table tbody tr td[data-field=on_time_rate]")
    assert driver.execute_script("return getComputedStyle(arguments[0]).display", cell) == "grid"
    label = driver.execute_script("return getComputedStyle(arguments[0], '::before').content", cell)
    assert label == '"Giải quyết đúng hạn"'
    assert_charts_drawn(driver, "ranking-chart")


async def test_the_public_ranking_shows_the_apis_figures_on_a_desktop_and_a_phone(dashboard, browser):
    on_time = await ranking(dashboard, "on_time_rate")
    await in_browser(viewport, browser, DESKTOP)
    await in_browser(check_ranking, browser, dashboard, on_time)
    assert await in_browser(console_errors, browser) == []
    desktop = await in_browser(screenshot, browser, "dashboard-ranking-desktop")
    # the page's own control re-ranks by processing time (shortest first), as the API does
    await in_browser(viewport, browser, DESKTOP)
    fastest = await ranking(dashboard, "avg_processing_days")
    assert await in_browser(choose_ranking, browser, "avg_processing_days") == [
        i["unit_code"] for i in fastest.api["items"]
    ]
    assert [i["unit_code"] for i in fastest.api["items"]] != [i["unit_code"] for i in on_time.api["items"]]
    await in_browser(check_ranking, browser, dashboard, fastest)
    await in_browser(phone_layout, browser)
    phone = await in_browser(screenshot, browser, "dashboard-ranking-phone")
    assert await in_browser(console_errors, browser) == []
    print(f"screenshots: {desktop} {phone}")


async def unit_api(url: str, code: str) -> dict[str, dict]:
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        got = {
            "statistics": await client.get(
                "/api/v1/public/statistics", params={"period": "month", "date": DAY, "kind": "unit", "unit": code}
            ),
            "series": await client.get(
                f"/api/v1/public/units/{code}/statistics",
                params={"period": "month", "from": "2025-12-01", "to": "2026-11-30"},
            ),
            "index": await client.get(f"/api/v1/public/units/{code}/index", params={"period": "quarter", "date": DAY}),
        }
    for resp in got.values():
        assert resp.status_code == 200, resp.text
    return {name: resp.json() for name, resp in got.items()}


def check_unit(driver: WebDriver, base: str, code: str, api: dict[str, dict]) -> None:
    open_page(driver, f"{base}/dashboard/#/?period=month&date={DAY}&kind=unit&by=on_time_rate")
    driver.find_element(By.CSS_SELECTOR, f"#ranking-table tr[data-unit='{code}'] td.name a").click()
    WebDriverWait(driver, 10).until(lambda d: "/don-vi/" in d.current_url)
    wait_ready(driver)
    assert driver.find_element(By.ID, "unit-name").text == api["series"]["unit_name"]
    # this month's figures
    figures = api["statistics"]["items"][0]
    cards = {
        str(c.get_attribute("data-field")): [
            c.find_element(By.CSS_SELECTOR, ".value").text,
            c.find_element(By.CSS_SELECTOR, ".basis").text,
        ]
        for c in driver.find_elements(By.CSS_SELECTOR, "#unit-cards .card")
    }
    assert_shows(cards, expected_figures(figures), "cards")
    assert cards["received"][0] == vi_int(figures["received"]["total"])
    assert cards["resolved"][0] == vi_int(figures["resolved"]["total"])
    # twelve months, in the charts and in the table (newest first)
    series = api["series"]["series"]
    assert len(series) == 12
    resolved = chart_data(driver, "chart-resolved")
    assert [d["label"] for d in resolved["datasets"]] == ["Trước hạn", "Đúng hạn", "Quá hạn"]
    for dataset, key in zip(resolved["datasets"], ("early", "on_time", "late"), strict=True):
        assert dataset["data"] == [f["resolved"][key] for f in series]
    rates = chart_data(driver, "chart-rates")
    # one decimal of a percentage, halves rounded up as JavaScript's Math.round does (Python's round: half to even)
    per_mille = [math.floor(f["on_time_rate"] * 1000 + 0.5) for f in series]
    assert rates["datasets"][0]["data"] == pytest.approx([p / 10 for p in per_mille])
    channels = chart_data(driver, "chart-channels")
    assert channels["datasets"][0]["data"] == [f["received"]["online"] for f in series]
    assert resolved["labels"][0] == "12/2025" and resolved["labels"][-1] == "11/2026"
    rows = driver.find_elements(By.CSS_SELECTOR, "#series-table tbody tr")
    assert [r.get_attribute("data-start") for r in rows] == [f["start"] for f in reversed(series)]
    for row, f in zip(rows, reversed(series), strict=True):
        shown = shown_figures(row)
        assert_shows(shown, expected_figures(f), f["start"])
        assert shown["received"][0] == vi_int(f["received"]["total"])
        assert shown["resolved"][0] == vi_int(f["resolved"]["total"])
    # the Decision 766 index: total, groups, and the points that could not be measured, shown as such
    index = api["index"]
    assert driver.find_element(By.ID, "index-points").text == vi_one(index["points"])
    assert vi_one(index["not_measured"]) in driver.find_element(By.ID, "index-not-measured").text
    assert "Quý 4/2026" in driver.find_element(By.ID, "index-period").text
    for group in index["groups"]:
        box = driver.find_element(By.CSS_SELECTOR, f".group[data-group='{group['key']}']")
        assert (
            box.find_element(By.TAG_NAME, "h3").text
            == f"{group['name']} {vi_one(group['points'])}/{vi_int(round(group['max']))} điểm"
        )
        for item in group["inputs"]:
            row = box.find_element(By.CSS_SELECTOR, f"tr[data-input='{item['key']}']")
            assert ("not-measured" in (row.get_attribute("class") or "")) == (not item["measured"])
            if not item["measured"]:
                assert "Chưa đo" in row.text and "— /" in row.text
    index_chart = chart_data(driver, "chart-index")
    assert index_chart["datasets"][0]["data"] == [g["points"] for g in index["groups"]]
    assert index_chart["datasets"][2]["data"] == [g["not_measured"] for g in index["groups"]]
    assert_charts_drawn(driver, "chart-resolved", "chart-rates", "chart-channels", "chart-index")
    fits_width(driver)


async def test_a_units_figures_series_and_index_match_the_api(dashboard, browser):
    code = UBND
    api = await unit_api(dashboard, code)
    assert any(not i["measured"] for g in api["index"]["groups"] for i in g["inputs"])
    await in_browser(viewport, browser, DESKTOP)
    await in_browser(check_unit, browser, dashboard, code, api)
    desktop = await in_browser(screenshot, browser, "dashboard-unit-desktop")
    await in_browser(viewport, browser, PHONE)
    await in_browser(check_unit, browser, dashboard, code, api)
    phone = await in_browser(screenshot, browser, "dashboard-unit-phone")
    assert await in_browser(console_errors, browser) == []
    print(f"screenshots: {desktop} {phone}")


def log_in(driver: WebDriver, base: str, username: str) -> None:
    """Through the dashboard's button and the platform's own login page, as a person would."""
    driver.delete_all_cookies()
    open_page(driver, f"{base}/dashboard/#/lanh-dao")
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    wait_ready(driver)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(lambda d: "/oauth/authorize" in d.current_url)
    driver.find_element(By.CSS_SELECTOR, "label[for=tab-officer]").click()
    driver.find_element(By.ID, "officer_username").send_keys(username)
    password = driver.find_element(By.ID, "officer_password")
    password.send_keys(PASSWORD)
    password.submit()
    WebDriverWait(driver, 15).until(lambda d: "/dashboard/" in d.current_url and "code=" not in d.current_url)
    wait_ready(driver)


def head_view(driver: WebDriver) -> dict[str, list[str]]:
    url = urlsplit(driver.current_url)
    assert url.query == "" and url.fragment == "/lanh-dao", driver.current_url  # the code was taken out of the address
    token = driver.execute_script("return sessionStorage.getItem('motcua.dashboard.token')")
    assert token and token not in driver.current_url
    assert driver.find_element(By.ID, "head-who").text == "Xin chào Vũ Hồng Sơn · Đơn vị 000.26.01.H29"
    return {
        table: [
            str(r.get_attribute("data-code"))
            for r in driver.find_elements(By.CSS_SELECTOR, f"#{table}-table tbody tr")
            if r.get_attribute("data-code")
        ]
        for table in ("overdue", "due-soon", "follow-ups")
    }


async def test_a_unit_head_sees_their_overdue_and_due_soon_dossiers_and_follow_ups(
    dashboard, browser, api, actors, system
):
    # two real dossiers of the unit head's unit: one moved past its due date, one due within the hour
    codes = []
    for _ in range(2):
        code = (await submit(api, actors["citizen An"])).json()["code"]
        await opened_by_processing(api, code, actors["officer hoa (receiving, UBND)"])
        codes.append(code)
    late, soon = codes
    conn = await asyncpg.connect(system.settings["processing"].dsn)
    try:
        await conn.execute("UPDATE dossiers SET due_at = now() - interval '1 hour' WHERE code = $1", late)
        await conn.execute("UPDATE dossiers SET due_at = now() + interval '1 hour' WHERE code = $1", soon)
    finally:
        await conn.close()

    await in_browser(viewport, browser, DESKTOP)
    await in_browser(log_in, browser, dashboard, "son.truong")
    shown = await in_browser(head_view, browser)

    head = actors[UNIT_HEAD]
    async with httpx.AsyncClient(base_url=dashboard, timeout=15) as client:

        async def listed(path: str, **params: str) -> list[str]:
            resp = await client.get(path, params={**params, "limit": "100"}, headers=head)
            assert resp.status_code == 200, resp.text
            return [i.get("code") or i["dossier_code"] for i in resp.json()["items"]]

        expected = {
            "overdue": await listed("/api/v1/work-queue", overdue="true"),
            "due-soon": await listed("/api/v1/work-queue", due_soon="true"),
            "follow-ups": await listed("/api/v1/follow-ups", status="open"),
        }
    assert late in shown["overdue"] and soon in shown["due-soon"]
    assert late not in shown["due-soon"] and soon not in shown["overdue"]
    assert shown == expected
    assert expected["follow-ups"]
    counts = await in_browser(
        lambda: [browser.find_element(By.ID, i).text for i in ("overdue-count", "due-soon-count", "follow-ups-count")]
    )
    assert counts == [f"({len(expected[t])})" for t in ("overdue", "due-soon", "follow-ups")]
    desktop = await in_browser(screenshot, browser, "dashboard-unit-head-desktop")
    await in_browser(viewport, browser, PHONE)
    await in_browser(browser.refresh)
    await in_browser(wait_ready, browser)
    assert await in_browser(head_view, browser) == shown  # the token outlives a reload (sessionStorage), not the tab
    await in_browser(fits_width, browser)
    phone = await in_browser(screenshot, browser, "dashboard-unit-head-phone")
    assert await in_browser(console_errors, browser) == []
    print(f"screenshots: {desktop} {phone}")


def refused(driver: WebDriver) -> str:
    body = driver.find_element(By.TAG_NAME, "body")
    WebDriverWait(driver, 15).until(lambda d: body.get_attribute("data-state") == "error")
    return driver.find_element(By.ID, "status").text


async def test_an_officer_who_is_not_a_unit_head_sees_only_what_their_role_allows(dashboard, browser, actors):
    """Another officer of the same unit logs in too: the page shows what the API gives that officer (the queue of
    their own role), and a citizen's token is refused by the work queue with a message in Vietnamese."""
    await in_browser(viewport, browser, DESKTOP)
    await in_browser(log_in, browser, dashboard, "lan.chuyenvien")
    names = await in_browser(lambda: browser.find_element(By.ID, "head-who").text)
    assert names == "Xin chào Lê Thị Lan · Đơn vị 000.26.01.H29"
    async with httpx.AsyncClient(base_url=dashboard, timeout=15) as client:
        lan = actors["officer lan (specialist, UBND)"]
        overdue = (
            await client.get("/api/v1/work-queue", params={"overdue": "true", "limit": "100"}, headers=lan)
        ).json()
    shown = await in_browser(
        lambda: [
            r.get_attribute("data-code") for r in browser.find_elements(By.CSS_SELECTOR, "#overdue-table tr[data-code]")
        ]
    )
    assert shown == [i["code"] for i in overdue["items"]]
    async with httpx.AsyncClient(base_url=dashboard, timeout=15) as client:
        follow_ups = await client.get("/api/v1/follow-ups", headers=lan)
    assert follow_ups.status_code == 403  # the API's rule; the page says so in that list and shows the others
    note = await in_browser(lambda: browser.find_element(By.CSS_SELECTOR, "#follow-ups-table tbody").text)
    assert note == "Chỉ lãnh đạo đơn vị xem được các việc này."
    # a citizen's session: the work queue answers 403 and the page says why
    citizen_token = actors["citizen An"]["Authorization"].removeprefix("Bearer ")
    await in_browser(
        browser.execute_script, "sessionStorage.setItem('motcua.dashboard.token', arguments[0])", citizen_token
    )
    await in_browser(browser.refresh)
    message = await in_browser(refused, browser)
    assert message == "Tài khoản này không phải tài khoản cán bộ của đơn vị: không xem được hồ sơ của đơn vị."
