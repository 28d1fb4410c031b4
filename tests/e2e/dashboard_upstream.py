"""A STAND-IN for processing's issue 9 statistics endpoints, used ONLY as the data source of the dashboard's browser
test (tests/e2e/test_dashboard.py) until the real ones (branch wt-measure) are merged.

It answers the shapes fixed in the agreed API (public statistics, ranking, a unit's series and Decision 766 index,
the unit list, a unit head's follow-ups) with made-up but self-consistent figures, and forwards every other request
(the work queue, health, OpenAPI) to the real processing service of the e2e system. Nothing here is a statement
about how the real figures are computed; the browser test only checks that the page shows what the API answers,
whichever source answers it. ``STATISTICS_ROUTES`` are the gateway routes of those endpoints, which the gateway's
own table will carry once processing serves them."""

import base64
import hashlib
import json
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request, Response

from gateway.routing import Route

STATISTICS_ROUTES = [
    Route("GET", "/api/v1/public/units", "processing", "public"),
    Route("GET", "/api/v1/public/statistics", "processing", "public"),
    Route("GET", "/api/v1/public/ranking", "processing", "public"),
    Route("GET", "/api/v1/public/units/{unit_code}/statistics", "processing", "public"),
    Route("GET", "/api/v1/public/units/{unit_code}/index", "processing", "public"),
    Route("GET", "/api/v1/follow-ups", "processing"),
]

UNITS = [
    ("000.26.01.H29", "Ủy ban nhân dân phường Hoàn Kiếm", "unit"),
    ("000.26.02.H29", "Công an phường Hoàn Kiếm", "unit"),
    ("000.27.01.H29", "Ủy ban nhân dân phường Ba Đình", "unit"),
    ("000.28.01.H29", "Ủy ban nhân dân xã Đông Anh", "unit"),  # nothing received: listed last, unranked
    ("000.00.01.H29", "Trung tâm Phục vụ hành chính công thành phố Hà Nội", "centre"),
    ("000.00.02.H29", "Chi nhánh số 1 Trung tâm Phục vụ hành chính công thành phố Hà Nội", "centre"),
    ("000.00.03.H29", "Chi nhánh số 2 Trung tâm Phục vụ hành chính công thành phố Hà Nội", "centre"),
]
EMPTY_UNIT = "000.28.01.H29"
FOLLOW_UP_UNIT = "000.26.01.H29"


def bounds(period: str, day: date) -> tuple[date, date]:
    if period == "day":
        return day, day
    if period == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    months = 3 if period == "quarter" else 1
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    after = date(start.year + (first_month + months > 12), (first_month + months - 1) % 12 + 1, 1)
    return start, after - timedelta(days=1)


def _numbers(code: str, start: date, n: int) -> list[int]:
    digest = hashlib.sha256(f"{code}/{start}".encode()).digest()
    return list(digest[:n])


def figures(code: str, name: str, kind: str, period: str, start: date, end: date) -> dict[str, Any]:
    r = _numbers(code, start, 16)
    scale = {"day": 1, "month": 8, "quarter": 24, "year": 96}[period] * (0 if code == EMPTY_UNIT else 1)
    online, counter, centre, post = (scale * (x % 40 + 5) for x in r[:4])
    if kind == "unit":
        centre = 0
    early, late = scale * (r[4] % 30), scale * (r[5] % 6)
    on_time = scale * (r[6] % 50 + 10)
    resolved = early + on_time + late
    received = online + counter + centre + post
    ratings = scale * (r[7] % 12)
    return {
        "unit_code": code,
        "unit_name": name,
        "kind": kind,
        "period": period,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "received": {"online": online, "counter": counter, "service_centre": centre, "post": post, "total": received},
        "resolved": {"early": early, "on_time": on_time, "late": late, "total": resolved},
        "in_progress": scale * (r[8] % 9),
        "overdue": scale * (r[9] % 3),
        "on_time_rate": (early + on_time) / resolved if resolved else None,
        "avg_processing_days": round(1.5 + r[10] % 60 / 10, 1) if resolved else None,
        "online_share": online / received if received else None,
        "paid_online": scale * (r[11] % 10),
        "results_electronic": scale * (r[12] % 20),
        "once_only_components": scale * (r[13] % 30),
        "components_total": scale * (r[13] % 30 + 25),
        "supplement_requests": scale * (r[14] % 7),
        "refusals": scale * (r[15] % 3),
        "satisfaction": {
            "ratings": ratings,
            "average": round(3 + r[7] % 20 / 10, 1) if ratings else None,
            "satisfied_share": round(0.6 + r[7] % 40 / 100, 2) if ratings else None,
        },
    }


def _ranking_value(item: dict[str, Any], by: str) -> tuple[float | None, int]:
    if by == "satisfaction":
        return item["satisfaction"]["average"], item["satisfaction"]["ratings"]
    basis = item["received"]["total"] if by == "online_share" else item["resolved"]["total"]
    return item[by], basis


GROUPS = [
    ("transparency", "Công khai, minh bạch", 18),
    ("progress", "Tiến độ, kết quả giải quyết", 20),
    ("digitisation", "Số hóa hồ sơ", 22),
    ("online", "Cung cấp dịch vụ trực tuyến", 22),
    ("satisfaction", "Mức độ hài lòng", 18),
]


def index(code: str, name: str, period: str, start: date, end: date) -> dict[str, Any]:
    r = _numbers(code, start, 10)
    groups: list[dict[str, Any]] = []
    for i, (key, group_name, top) in enumerate(GROUPS):
        measured_max = top - 4 if i % 2 == 0 else top  # every other group has one input the platform cannot measure
        value = (r[i] % 40 + 60) / 100
        inputs: list[dict[str, Any]] = [
            {
                "key": f"{key}_rate",
                "name": f"{group_name}: tỷ lệ đạt yêu cầu",
                "measured": True,
                "value": value,
                "points": round(value * measured_max, 1),
                "max": measured_max,
                "source": "Sự kiện hồ sơ (dossier.events)",
                "formula": "số hồ sơ đạt / tổng số hồ sơ × điểm tối đa",
            }
        ]
        if measured_max < top:
            inputs.append(
                {
                    "key": f"{key}_survey",
                    "name": f"{group_name}: khảo sát độc lập",
                    "measured": False,
                    "value": None,
                    "points": None,
                    "max": 4,
                    "source": "Chưa có trên nền tảng",
                    "formula": "không tính",
                }
            )
        groups.append(
            {
                "key": key,
                "name": group_name,
                "max": top,
                "points": round(sum(x["points"] or 0 for x in inputs), 1),
                "not_measured": float(top - measured_max),
                "inputs": inputs,
            }
        )
    return {
        "unit_code": code,
        "unit_name": name,
        "period": period,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "points": round(sum(g["points"] for g in groups), 1),
        "max": 100,
        "not_measured": sum(g["not_measured"] for g in groups),
        "groups": groups,
    }


def _period_args(request: Request) -> tuple[str, date]:
    q = request.query_params
    return q.get("period", "month"), date.fromisoformat(q["date"]) if q.get("date") else date.today()


def _unit(code: str) -> tuple[str, str, str] | None:
    return next((u for u in UNITS if u[0] == code), None)


def create_app(processing_url: str) -> FastAPI:
    app = FastAPI(openapi_url=None)
    client = httpx.AsyncClient(base_url=processing_url, timeout=10)

    @app.get("/api/v1/public/units")
    async def units() -> dict:
        return {"items": [{"unit_code": c, "unit_name": n, "kind": k} for c, n, k in UNITS]}

    @app.get("/api/v1/public/statistics")
    async def statistics(request: Request) -> dict:
        period, day = _period_args(request)
        start, end = bounds(period, day)
        kind, unit = request.query_params.get("kind"), request.query_params.get("unit")
        items = [
            figures(c, n, k, period, start, end)
            for c, n, k in UNITS
            if (kind is None or k == kind) and (unit is None or c == unit)
        ]
        return {
            "period": period,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "items": items,
            "next_cursor": None,
        }

    @app.get("/api/v1/public/ranking")
    async def ranking(request: Request) -> dict:
        period, day = _period_args(request)
        start, end = bounds(period, day)
        kind, by = request.query_params.get("kind", "unit"), request.query_params.get("by", "on_time_rate")
        items = [figures(c, n, k, period, start, end) for c, n, k in UNITS if k == kind]
        for item in items:
            item["value"], item["basis"] = _ranking_value(item, by)
        has = [i for i in items if i["value"] is not None and i["basis"]]
        has.sort(key=lambda i: i["value"] if by == "avg_processing_days" else -i["value"])
        for rank, item in enumerate(has, 1):
            item["rank"] = rank
        rest = [{**i, "rank": None} for i in items if i not in has]
        return {"period": period, "start": start.isoformat(), "end": end.isoformat(), "by": by, "items": has + rest}

    @app.get("/api/v1/public/units/{unit_code}/statistics")
    async def series(unit_code: str, request: Request) -> dict:
        unit = _unit(unit_code)
        if unit is None:
            raise HTTPException(404)
        q = request.query_params
        period, first, last = q.get("period", "month"), date.fromisoformat(q["from"]), date.fromisoformat(q["to"])
        out, day = [], first
        while day <= last:
            start, end = bounds(period, day)
            out.append(figures(*unit, period, start, end))
            day = end + timedelta(days=1)
        return {"unit_code": unit[0], "unit_name": unit[1], "kind": unit[2], "series": out}

    @app.get("/api/v1/public/units/{unit_code}/index")
    async def unit_index(unit_code: str, request: Request) -> dict:
        unit = _unit(unit_code)
        if unit is None:
            raise HTTPException(404)
        period, day = _period_args(request)
        start, end = bounds(period, day)
        return index(unit[0], unit[1], period, start, end)

    @app.get("/api/v1/follow-ups")
    async def follow_ups(request: Request) -> dict:
        # The gateway has verified the token; the stand-in only reads its roles (the agreed API: a unit head sees
        # their unit's follow-ups, a provincial operator all; anyone else 403).
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise HTTPException(401)
        payload = auth.removeprefix("Bearer ").split(".")[1]
        roles = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles") or []
        if not {"unit_head", "provincial_operator"} & set(roles):
            raise HTTPException(403)
        items = [
            {
                "id": "5f1c1d2e-0000-4000-8000-00000000000" + str(i),
                "dossier_code": f"{FOLLOW_UP_UNIT}-261120-000{i}-ABCD",
                "unit_code": FOLLOW_UP_UNIT,
                "rating": {"overall": i, "comment": comment},
                "due_at": f"2026-11-2{5 + i}T10:00:00+07:00",
                "status": "open",
                "created_at": "2026-11-20T09:00:00+07:00",
            }
            for i, comment in ((1, "Cán bộ hẹn trả kết quả nhưng trễ hai ngày."), (2, "Phải đi lại nhiều lần."))
        ]
        return {"items": items, "next_cursor": None}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def forward(path: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        resp = await client.request(
            request.method, "/" + path, params=request.query_params, content=await request.body(), headers=headers
        )
        drop = {"content-length", "content-encoding", "transfer-encoding", "connection"}
        return Response(resp.content, resp.status_code, {k: v for k, v in resp.headers.items() if k not in drop})

    return app
