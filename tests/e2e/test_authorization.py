"""Who may do what, end to end through the gateway on the real servers: every actor tries every endpoint on
its own objects, on other people's objects and above its role (OWASP API1 object-level, API3 property-level,
API5 function-level authorization). Each attempt is named, and the whole matrix is written to
``.run/authorization-matrix.md`` by the run, so the note on an issue can quote what was exercised.

Actors: citizens An (parent of Khôi, legal representative of company 0101234567) and Bình (holds a written
authorization from Cường), officers of two units with different roles, a provincial operator, partners with
and without scopes, and nobody at all."""

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .conftest import eventually

AN, KHOI, BINH, CUONG, DUNG = "001090001234", "001222001235", "079195005678", "048200001111", "092301002222"
COMPANY = "0101234567"
UBND, POLICE = "000.26.01.H29", "000.26.02.H29"
MATRIX_FILE = Path(__file__).resolve().parents[2] / ".run" / "authorization-matrix.md"


@dataclass
class Matrix:
    rows: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, actor: str, attempt: str, resp: httpx.Response, expected: int) -> httpx.Response:
        verdict = "allowed" if resp.status_code < 400 else "refused"
        self.rows.append((actor, attempt, verdict, resp.status_code, expected))
        if resp.status_code != expected:
            self.failures.append(f"{actor} / {attempt}: expected {expected}, got {resp.status_code} {resp.text[:300]}")
        elif resp.status_code >= 400:
            assert resp.headers["content-type"].startswith("application/problem+json"), (actor, attempt)
        return resp

    def write(self) -> None:
        MATRIX_FILE.parent.mkdir(parents=True, exist_ok=True)
        lines = ["| actor | attempt | result | status |", "|---|---|---|---|"]
        lines += [f"| {a} | {t} | {v} | {s} |" for a, t, v, s, _ in self.rows]
        MATRIX_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def body(procedure: str, applicant: dict | None = None, **extra) -> dict:
    return {"procedure_code": procedure, **({"applicant": applicant} if applicant else {}), **extra}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_every_actor_on_every_endpoint(api, system, actors, access_log_of):
    m = Matrix()
    an, binh = actors["citizen An"], actors["citizen Bình"]
    hoa, lan, tuan = (
        actors["officer hoa (receiving, UBND)"],
        actors["officer lan (specialist, UBND)"],
        actors["officer tuan (approver, UBND)"],
    )
    minh, quan = actors["officer minh (police)"], actors["operator quan (province)"]
    prov, post, vcci = actors["partner provincial-system"], actors["partner vietnam-post"], actors["partner vcci"]
    nobody: dict[str, str] = {}

    async def post_(h, path, json=None, **kw):
        return await api.post(path, json=json, headers={**h, **kw.pop("headers", {})}, **kw)

    # ---- submission: for whom, on which channel
    d_an = m.check(
        "citizen An", "submit for self", await post_({**an, **key()}, "/api/v1/dossiers", body("1.004873")), 201
    ).json()["code"]
    d_khoi = m.check(
        "citizen An",
        "submit for his minor son (household)",
        await post_({**an, **key()}, "/api/v1/dossiers", body("1.004873", {"kind": "citizen", "personal_id": KHOI})),
        201,
    ).json()["code"]
    m.check(
        "citizen An",
        "submit for his company (legal representative)",
        await post_(
            {**an, **key()}, "/api/v1/dossiers", body("1.004873", {"kind": "organisation", "tax_code": COMPANY})
        ),
        201,
    )
    m.check(
        "citizen Bình",
        "submit for An (no mandate)",
        await post_({**binh, **key()}, "/api/v1/dossiers", body("1.004873", {"kind": "citizen", "personal_id": AN})),
        403,
    )
    m.check(
        "citizen Bình",
        "submit for An's company",
        await post_(
            {**binh, **key()}, "/api/v1/dossiers", body("1.004873", {"kind": "organisation", "tax_code": COMPANY})
        ),
        403,
    )
    d_cuong = m.check(
        "citizen Bình",
        "submit for Cường (written authorization)",
        await post_({**binh, **key()}, "/api/v1/dossiers", body("1.004873", {"kind": "citizen", "personal_id": CUONG})),
        201,
    ).json()["code"]
    d_binh = m.check(
        "citizen Bình",
        "submit for self (police procedure)",
        await post_({**binh, **key()}, "/api/v1/dossiers", body("1.004194")),
        201,
    ).json()["code"]
    m.check(
        "citizen An",
        "submit at the counter channel",
        await post_({**an, **key()}, "/api/v1/dossiers", body("1.004873", channel="counter")),
        403,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "take a dossier at the counter for Dung",
        await post_(
            {**hoa, **key()},
            "/api/v1/dossiers",
            body("1.004873", {"kind": "citizen", "personal_id": DUNG}, channel="counter"),
        ),
        201,
    )
    m.check(
        "officer tuan (approver, UBND)",
        "take a dossier at the counter (not a receiving officer)",
        await post_(
            {**tuan, **key()},
            "/api/v1/dossiers",
            body("1.004873", {"kind": "citizen", "personal_id": DUNG}, channel="counter"),
        ),
        403,
    )
    m.check(
        "partner vietnam-post",
        "submit a dossier received at the post office",
        await post_(
            {**post, **key()},
            "/api/v1/dossiers",
            body("1.004873", {"kind": "citizen", "personal_id": CUONG}, channel="post"),
        ),
        201,
    )
    m.check(
        "partner provincial-system",
        "submit (no submit scope)",
        await post_(
            {**prov, **key()},
            "/api/v1/dossiers",
            body("1.004873", {"kind": "citizen", "personal_id": CUONG}, channel="post"),
        ),
        403,
    )
    m.check("nobody", "submit without a token", await post_(key(), "/api/v1/dossiers", body("1.004873")), 401)
    m.check("nobody", "preview without a token", await post_(nobody, "/api/v1/dossiers/preview", body("1.004873")), 401)
    m.check(
        "citizen Bình",
        "preview An's registry data",
        await post_(binh, "/api/v1/dossiers/preview", body("1.004873", {"kind": "citizen", "personal_id": AN})),
        403,
    )

    # the registry was never read for An on Bình's behalf: every read in An's log is An's own
    an_log = await access_log_of(an)
    assert an_log and all(e["who"]["is_self"] for e in an_log), an_log
    # the counter read of Dung is logged as the receiving officer's, with her unit and the dossier
    dung_log = await access_log_of(actors["citizen Dung"])
    assert any(
        e["who"] == {**e["who"], "kind": "officer", "id": "hoa.tiepnhan", "unit": UBND}
        and e["on_behalf_via"] == "counter"
        for e in dung_log
    ), dung_log
    # Cường's record was read by Bình (his written authorization) and by the post office, each named
    cuong_log = await access_log_of(actors["citizen Cường"])
    vias = {(e["who"]["kind"], e["on_behalf_via"]) for e in cuong_log}
    assert {("citizen", "authorization"), ("partner", "post")} <= vias, cuong_log

    async def opened(code: str, headers: dict) -> bool:
        # Processing's own view: the tracking GET falls back to intake's while the case is not yet open.
        return (await api.get(f"/api/v1/dossiers/{code}/actions", headers=headers)).status_code == 200

    for code in (d_an, d_binh):
        await eventually(lambda c=code: opened(c, prov))

    # ---- tracking
    m.check("citizen An", "track own dossier", await api.get(f"/api/v1/dossiers/{d_an}", headers=an), 200)
    m.check("citizen An", "track his son's dossier", await api.get(f"/api/v1/dossiers/{d_khoi}", headers=an), 200)
    m.check("citizen Bình", "track An's dossier", await api.get(f"/api/v1/dossiers/{d_an}", headers=binh), 404)
    m.check("citizen An", "track Bình's dossier", await api.get(f"/api/v1/dossiers/{d_binh}", headers=an), 404)
    m.check(
        "citizen Bình",
        "track the dossier she filed for Cường",
        await api.get(f"/api/v1/dossiers/{d_cuong}", headers=binh),
        200,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "track a dossier of her unit",
        await api.get(f"/api/v1/dossiers/{d_an}", headers=hoa),
        200,
    )
    m.check(
        "officer minh (police)",
        "track a dossier of another unit",
        await api.get(f"/api/v1/dossiers/{d_an}", headers=minh),
        404,
    )
    m.check(
        "operator quan (province)",
        "track any unit's dossier",
        await api.get(f"/api/v1/dossiers/{d_binh}", headers=quan),
        200,
    )
    m.check(
        "partner provincial-system",
        "track any dossier (dossiers:read)",
        await api.get(f"/api/v1/dossiers/{d_an}", headers=prov),
        200,
    )
    m.check(
        "partner vcci", "track a dossier outside its unit", await api.get(f"/api/v1/dossiers/{d_an}", headers=vcci), 404
    )
    m.check(
        "partner vietnam-post",
        "track a dossier (no read scope)",
        await api.get(f"/api/v1/dossiers/{d_an}", headers=post),
        404,
    )
    m.check("nobody", "track without a token", await api.get(f"/api/v1/dossiers/{d_an}"), 401)
    public = m.check("nobody", "public lookup by code", await api.get(f"/api/v1/public/dossiers/{d_an}"), 200).json()
    assert set(public) <= {"code", "status", "status_label", "current_step", "current_step_name", "unit", "due_at"}, (
        public
    )
    m.check(
        "nobody", "public lookup of a guessed code", await api.get(f"/api/v1/public/dossiers/{d_an[:-6]}AAAAAA"), 404
    )

    # ---- the application as submitted (personal data)
    m.check(
        "citizen An", "read own application", await api.get(f"/api/v1/dossiers/{d_an}/application", headers=an), 200
    )
    m.check(
        "citizen Bình",
        "read An's application",
        await api.get(f"/api/v1/dossiers/{d_an}/application", headers=binh),
        404,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "read an application of her unit",
        await api.get(f"/api/v1/dossiers/{d_an}/application", headers=hoa),
        200,
    )
    m.check(
        "officer minh (police)",
        "read an application of another unit",
        await api.get(f"/api/v1/dossiers/{d_an}/application", headers=minh),
        404,
    )

    # ---- own lists
    mine = m.check("citizen An", "list own dossiers", await api.get("/api/v1/me/dossiers", headers=an), 200).json()
    assert d_an in {d["code"] for d in mine["items"]} and d_binh not in {d["code"] for d in mine["items"]}
    m.check(
        "officer hoa (receiving, UBND)",
        "list citizen dossiers (citizens only)",
        await api.get("/api/v1/me/dossiers", headers=hoa),
        403,
    )
    m.check("nobody", "list own dossiers without a token", await api.get("/api/v1/me/dossiers"), 401)

    # ---- officer actions: unit and role
    m.check(
        "officer minh (police)",
        "accept a dossier of another unit",
        await post_(minh, f"/api/v1/dossiers/{d_an}/actions/accept", {}),
        404,
    )
    m.check("citizen An", "accept his own dossier", await post_(an, f"/api/v1/dossiers/{d_an}/actions/accept", {}), 403)
    m.check(
        "partner provincial-system",
        "accept a dossier",
        await post_(prov, f"/api/v1/dossiers/{d_an}/actions/accept", {}),
        403,
    )
    m.check(
        "officer lan (specialist, UBND)",
        "accept (not a receiving officer)",
        await post_(lan, f"/api/v1/dossiers/{d_an}/actions/accept", {}),
        403,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "accept a dossier of her unit",
        await post_(hoa, f"/api/v1/dossiers/{d_an}/actions/accept", {"note": "Hồ sơ đầy đủ"}),
        200,
    )
    m.check(
        "officer lan (specialist, UBND)",
        "forward the appraised dossier to approval",
        await post_(lan, f"/api/v1/dossiers/{d_an}/actions", {"action": "forward"}),
        200,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "approve (not an approver)",
        await post_(hoa, f"/api/v1/dossiers/{d_an}/actions/approve", {}),
        403,
    )
    m.check(
        "operator quan (province)",
        "approve (operators do not act)",
        await post_(quan, f"/api/v1/dossiers/{d_an}/actions/approve", {}),
        403,
    )
    m.check(
        "officer tuan (approver, UBND)",
        "approve a dossier of his unit",
        await post_(tuan, f"/api/v1/dossiers/{d_an}/actions/approve", {}),
        200,
    )
    m.check(
        "officer tuan (approver, UBND)",
        "act on another unit's dossier",
        await post_(tuan, f"/api/v1/dossiers/{d_binh}/actions/accept", {}),
        404,
    )
    m.check(
        "nobody", "act without a token", await post_(nobody, f"/api/v1/dossiers/{d_an}/actions/issue-result", {}), 401
    )

    # ---- work queues
    queue = m.check(
        "officer hoa (receiving, UBND)", "own unit's work queue", await api.get("/api/v1/work-queue", headers=hoa), 200
    ).json()
    assert d_binh not in {i["code"] for i in queue["items"]}
    m.check(
        "officer hoa (receiving, UBND)",
        "another unit's work queue",
        await api.get("/api/v1/work-queue", params={"unit_code": POLICE}, headers=hoa),
        403,
    )
    m.check(
        "operator quan (province)",
        "any unit's work queue",
        await api.get("/api/v1/work-queue", params={"unit_code": POLICE}, headers=quan),
        200,
    )
    m.check("citizen An", "a work queue", await api.get("/api/v1/work-queue", headers=an), 403)
    m.check("partner provincial-system", "a work queue", await api.get("/api/v1/work-queue", headers=prov), 403)

    # ---- notifications
    async def an_notes():
        r = await api.get("/api/v1/me/notifications", headers=an)
        return r.json()["items"] if r.status_code == 200 and r.json()["items"] else None

    notes = await eventually(an_notes)
    m.check("citizen An", "list own notifications", await api.get("/api/v1/me/notifications", headers=an), 200)
    m.check(
        "citizen Bình",
        "mark An's notification read",
        await post_(binh, f"/api/v1/me/notifications/{notes[0]['id']}/read"),
        404,
    )
    m.check(
        "citizen An",
        "mark own notification read",
        await post_(an, f"/api/v1/me/notifications/{notes[0]['id']}/read"),
        200,
    )
    m.check(
        "citizen Bình",
        "read the notifications of An's dossier",
        await api.get(f"/api/v1/dossiers/{d_an}/notifications", headers=binh),
        404,
    )
    m.check(
        "officer hoa (receiving, UBND)",
        "list notifications (citizens only)",
        await api.get("/api/v1/me/notifications", headers=hoa),
        403,
    )

    # ---- registry: own data only
    m.check("citizen An", "own access log", await api.get("/api/v1/me/access-log", headers=an), 200)
    m.check(
        "officer hoa (receiving, UBND)",
        "an access log (citizens only)",
        await api.get("/api/v1/me/access-log", headers=hoa),
        403,
    )
    m.check("nobody", "an access log without a token", await api.get("/api/v1/me/access-log"), 401)
    m.check("citizen An", "own mandates", await api.get("/api/v1/me/mandates", headers=an), 200)

    # ---- corrections and documents
    m.check(
        "citizen Bình",
        "flag a field of An's dossier",
        await post_(binh, f"/api/v1/dossiers/{d_an}/corrections", {"field": "permanent_address"}),
        404,
    )
    m.check(
        "citizen An",
        "flag a prefilled field of his dossier",
        await post_(
            an, f"/api/v1/dossiers/{d_an}/corrections", {"field": "permanent_address", "note": "Đã chuyển nhà"}
        ),
        201,
    )
    upload = m.check(
        "citizen An",
        "upload a document to his vault",
        await api.post(
            "/api/v1/me/documents",
            headers=an,
            data={"doc_type": "TK-XNHN"},
            files={"file": ("to-khai.pdf", b"%PDF-1.4\n% demo\n", "application/pdf")},
        ),
        201,
    ).json()
    m.check(
        "citizen Bình",
        "attach An's vault document to her dossier",
        await post_(
            {**binh, **key()},
            "/api/v1/dossiers",
            body("1.004873", components=[{"code": "TK-XNHN", "document_id": upload["id"]}]),
        ),
        422,
    )
    m.check(
        "citizen Bình",
        "download An's document",
        await api.get(f"/api/v1/me/documents/{upload['id']}/content", headers=binh),
        404,
    )
    m.check("nobody", "list a vault without a token", await api.get("/api/v1/me/documents"), 401)

    m.write()
    assert not m.failures, "\n".join(m.failures)
