"""Issue 9 through the gateway, on the real servers: the public statistics, ranking and index need no login; the
applicant rates a returned dossier, a low rating opens a follow-up the unit head sees (not a receiving officer), and
the dossier and its rating appear in the unit's public figures."""

from .conftest import eventually
from .test_flow import AN, problem, submit

HOA, LAN, TUAN = "officer hoa (receiving, UBND)", "officer lan (specialist, UBND)", "officer tuan (approver, UBND)"
SON = "officer son (unit head, UBND)"
UBND = "000.26.01.H29"
PREFERENCE = ["receive", "approve", "issue_result", "return_result", "forward"]


async def drive_to_return(api, actors, code: str) -> None:
    for _ in range(12):
        view = (await api.get(f"/api/v1/dossiers/{code}", headers=actors[SON])).json()
        if view["status"] == "completed":
            return
        moves = []
        for who in (HOA, LAN, TUAN, SON):
            resp = await api.get(f"/api/v1/dossiers/{code}/actions", headers=actors[who])
            for action in resp.json()["actions"]:
                if action["action"] in PREFERENCE:
                    moves.append((PREFERENCE.index(action["action"]), who, action["action"]))
        assert moves, f"nobody can move {code} at {view['current_step']}"
        _, who, kind = min(moves)
        body = {"action": kind} | ({"return_method": "online"} if kind == "return_result" else {})
        resp = await api.post(f"/api/v1/dossiers/{code}/actions", json=body, headers=actors[who])
        assert resp.status_code == 200, (kind, resp.text)
    raise AssertionError(f"{code} did not reach its returned result")


async def test_public_figures_need_no_login_and_refuse_bad_input(api):
    units = await api.get("/api/v1/public/units")
    assert units.status_code == 200 and isinstance(units.json()["items"], list)
    stats = await api.get("/api/v1/public/statistics", params={"period": "month", "kind": "unit"})
    assert stats.status_code == 200, stats.text
    assert {"period", "start", "end", "items", "next_cursor"} <= set(stats.json())
    ranking = await api.get("/api/v1/public/ranking", params={"period": "month", "date": "2026-11-15"})
    assert ranking.status_code == 200, ranking.text
    for page in (stats.json(), ranking.json()):  # every figure object says which period it counts
        for item in page["items"]:
            assert (item["period"], item["start"], item["end"]) == (page["period"], page["start"], page["end"])
    assert ranking.json()["items"] and ranking.json()["start"] == "2026-11-01"
    problem(await api.get("/api/v1/public/ranking", params={"by": "price"}), 422, "validation-error")
    problem(await api.get("/api/v1/public/statistics", params={"period": "week"}), 422, "validation-error")
    problem(await api.get("/api/v1/public/units/KHONG.H29/index"), 404, "unit-not-found")
    problem(await api.post("/api/v1/dossiers/X/ratings", json={"overall": 5}), 401, "unauthorized")


async def test_a_citizen_rates_and_the_unit_head_follows_up(api, actors):
    resp = await submit(api, actors["citizen An"])
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]

    async def opened() -> bool:
        # Processing's own view (the tracking GET falls back to intake's while the case is not yet open).
        return (await api.get(f"/api/v1/dossiers/{code}/actions", headers=actors[SON])).status_code == 200

    await eventually(opened)
    problem(
        await api.post(f"/api/v1/dossiers/{code}/ratings", json={"overall": 4}, headers=actors["citizen An"]),
        409,
        "not-yet-returned",
    )
    await drive_to_return(api, actors, code)
    problem(
        await api.post(f"/api/v1/dossiers/{code}/ratings", json={"overall": 1}, headers=actors["citizen Dung"]),
        404,
        "dossier-not-found",
    )
    rated = await api.post(
        f"/api/v1/dossiers/{code}/ratings",
        json={"overall": 1, "comment": "Chờ lâu, phải đi lại"},
        headers=actors["citizen An"],
    )
    assert rated.status_code == 201, rated.text
    follow_up = rated.json()["follow_up_id"]
    assert follow_up
    mine = await api.get("/api/v1/follow-ups", params={"status": "open", "limit": 100}, headers=actors[SON])
    assert mine.status_code == 200 and follow_up in {f["id"] for f in mine.json()["items"]}
    problem(await api.get("/api/v1/follow-ups", headers=actors[HOA]), 403, "forbidden")

    async def counted() -> dict | None:
        resp = await api.get("/api/v1/public/statistics", params={"period": "day", "unit": UBND})
        items = resp.json()["items"]
        fig = items[0] if items else None
        return fig if fig and fig["resolved"]["total"] >= 1 and fig["satisfaction"]["ratings"] >= 1 else None

    fig = await eventually(counted)
    assert fig["received"]["total"] >= 1 and fig["results_electronic"] >= 1
    index = await api.get(f"/api/v1/public/units/{UBND}/index", params={"period": "quarter"})
    assert index.status_code == 200 and [g["max"] for g in index.json()["groups"]] == [18, 20, 22, 22, 18]
    assert AN not in index.text and AN not in (await api.get("/api/v1/public/ranking")).text
