"""Who may see and do what in processing, on the real PostgreSQL, with tokens from a test issuer.

Each test names the attempts it makes: two citizens (owner vs stranger), a parent who submitted for a child,
officers of two units and of one unit with different roles, a provincial operator, partners with and
without the read scope and with a unit claim, a service, and callers without or with a forged token."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from motcua_common import sample_procedures
from motcua_common.auth import (
    APPROVER,
    OFFICER_ROLES,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SCOPE_DOSSIERS_READ,
    SCOPE_POST_SUBMIT,
    SPECIALIST,
    UNIT_HEAD,
)
from motcua_common.problems import PROBLEM_JSON
from motcua_common.testing_auth import TestIssuer

# The deprecated per-action endpoints on the standard definition the dossiers here run on: the body each needs,
# the step it acts on (its roles decide), and the actions that bring a submitted dossier to that step.
STANDARD = sample_procedures.standard()
PATHS = {
    "accept": None,
    "approve": None,
    "reject": {"reason": "Thiếu giấy tờ"},
    "issue-result": {},
    "return-result": {"method": "online"},
}
STEP_OF = {
    "accept": "receive",
    "reject": "receive",
    "approve": "appraise",
    "issue-result": "issue",
    "return-result": "return",
}
BEFORE = {
    "accept": [],
    "reject": [],
    "approve": ["accept"],
    "issue-result": ["accept", "approve"],
    "return-result": ["accept", "approve", "issue-result"],
}


def roles_for(action: str) -> set[str]:
    return set(STANDARD.step(STEP_OF[action]).roles)


def _status(resp, expected: int, what: str) -> dict:
    assert resp.status_code == expected, f"{what}: expected {expected}, got {resp.status_code} {resp.text}"
    if expected >= 400:
        assert resp.headers["content-type"].startswith(PROBLEM_JSON), what
    return resp.json()


def _unit() -> str:
    return f"U{uuid.uuid4().hex[:6]}.H29"


async def _act(client, code: str, action: str, headers: dict):
    return await client.post(f"/api/v1/dossiers/{code}/actions/{action}", json=PATHS[action], headers=headers)


@pytest.fixture
def world(issuer: TestIssuer):
    """Two units; a parent (An) who files for himself and for his child (Khôi); a stranger (Dung)."""

    class World:
        unit, other_unit, centre = _unit(), _unit(), _unit()
        an, khoi, dung = f"an-{uuid.uuid4().hex[:6]}", f"khoi-{uuid.uuid4().hex[:6]}", f"dung-{uuid.uuid4().hex[:6]}"

        @staticmethod
        def citizen(sub: str) -> dict:
            return issuer.bearer(issuer.citizen("001090001234", sub=sub))

        @classmethod
        def officer(cls, *roles: str, unit: str | None = None, sub: str | None = None, name: str = "Cán bộ") -> dict:
            return issuer.bearer(issuer.officer(unit or cls.unit, *roles, sub=sub, name=name))

        @staticmethod
        def partner(client_id: str, *scopes: str, **claims) -> dict:
            return issuer.bearer(issuer.partner(client_id, *scopes, **claims))

    return World


async def test_each_action_allowed_exactly_for_the_roles_of_its_step(client, make_submission, open_case, world):
    head = world.officer(UNIT_HEAD)  # may take every action: drives dossiers to each starting status
    for action in PATHS:
        allowed = roles_for(action)
        for role in OFFICER_ROLES:
            data, event = make_submission(unit_code=world.unit)
            await open_case(event)
            code = data.dossier_code
            for step in BEFORE[action]:
                _status(await _act(client, code, step, head), 200, f"unit head {step}")
            officer = world.officer(role, sub=f"{role}-1", name=f"Cán bộ {role}")
            resp = await _act(client, code, action, officer)
            what = f"{role} of the dossier's unit tries {action}"
            if role in allowed:
                view = _status(resp, 200, what)
                done = [s for s in view["timeline"] if s["completed_at"]][-1]
                assert (done["handler"], done["handler_name"]) == (f"{role}-1", f"Cán bộ {role}"), what
            else:
                body = _status(resp, 403, what)
                assert body["type"].endswith("/forbidden") and "roles" in body["detail"], what
                # Nothing changed: the dossier is still where it was.
                after = _status(await client.get(f"/api/v1/dossiers/{code}", headers=head), 200, "reload")
                assert len(after["timeline"]) == len(BEFORE[action]) + 1, what
    assert PROVINCIAL_OPERATOR not in set().union(*(roles_for(a) for a in PATHS))


async def test_actions_refused_outside_the_unit(client, make_submission, open_case, world, issuer):
    data, event = make_submission(unit_code=world.unit, receiving_unit_code=world.centre, channel="service_centre")
    await open_case(event)
    code = data.dossier_code
    unknown = await client.post("/api/v1/dossiers/KHONG-CO-MA-NAY/actions/accept", headers=world.officer(UNIT_HEAD))
    unknown_body = _status(unknown, 404, "accept on an unknown code")

    every_role = (RECEIVING_OFFICER, SPECIALIST, APPROVER, UNIT_HEAD)
    for action in PATHS:
        # An officer (with every role) of another unit: 404, the same answer as for an unknown code.
        resp = await _act(client, code, action, world.officer(*every_role, unit=world.other_unit))
        body = _status(resp, 404, f"officer of another unit tries {action}")
        assert (body["type"], body["title"]) == (unknown_body["type"], unknown_body["title"])
        # Those who may read it but not act: the receiving service centre and a provincial operator.
        resp = await _act(client, code, action, world.officer(*every_role, unit=world.centre))
        _status(resp, 403, f"officer of the receiving centre tries {action}")
        resp = await _act(client, code, action, world.officer(PROVINCIAL_OPERATOR, unit=world.other_unit))
        _status(resp, 403, f"provincial operator tries {action}")
        resp = await _act(client, code, action, world.officer(PROVINCIAL_OPERATOR))
        _status(resp, 403, f"provincial operator of the dossier's own unit tries {action}")
        # Not officers at all.
        _status(await _act(client, code, action, world.citizen(data.applicant.subject)), 403, f"owner {action}")
        _status(await _act(client, code, action, world.partner("provincial-system", SCOPE_DOSSIERS_READ)), 403, "p")
        _status(await _act(client, code, action, issuer.bearer(issuer.service("intake", "registry:read"))), 403, "s")
        _status(await _act(client, code, action, {}), 401, f"no token tries {action}")
        _status(await _act(client, code, action, {"Authorization": "Bearer not.a.jwt"}), 401, f"garbage {action}")

    view = _status(await client.get(f"/api/v1/dossiers/{code}", headers=world.officer(UNIT_HEAD)), 200, "reload")
    assert view["status"] == "submitted" and len(view["timeline"]) == 1  # none of the above changed anything


async def test_forged_identity_headers_and_tokens_are_refused(client, make_submission, open_case, world):
    data, event = make_submission(unit_code=world.unit)
    await open_case(event)
    url = f"/api/v1/dossiers/{data.dossier_code}/actions/accept"
    # The old gateway headers mean nothing now.
    _status(await client.post(url, headers={"X-Officer-Id": "cb-0042"}), 401, "X-Officer-Id header only")
    # A token signed by another key, and an expired one from the right key.
    forger = TestIssuer()
    forged = forger.bearer(forger.officer(world.unit, UNIT_HEAD))
    _status(await client.post(url, headers=forged), 401, "token signed by an unknown key")
    _status(await client.get(f"/api/v1/dossiers/{data.dossier_code}", headers=forged), 401, "forged read")


async def test_expired_token_is_refused(client, issuer, make_submission, open_case, world):
    data, event = make_submission(unit_code=world.unit)
    await open_case(event)
    expired = issuer.bearer(issuer.officer(world.unit, UNIT_HEAD, ttl=-120))
    resp = await client.post(f"/api/v1/dossiers/{data.dossier_code}/actions/accept", headers=expired)
    assert "expired" in _status(resp, 401, "expired token")["detail"]


async def test_who_may_read_a_dossier(client, make_submission, open_case, world):
    # An files for his child Khôi at a service centre of another unit; the dossier belongs to world.unit.
    data, event = make_submission(
        unit_code=world.unit,
        applicant=world.khoi,
        submitter=world.an,
        receiving_unit_code=world.centre,
        channel="service_centre",
    )
    await open_case(event)
    url = f"/api/v1/dossiers/{data.dossier_code}"
    allowed = {
        "the applicant (the child)": world.citizen(world.khoi),
        "the submitter (the parent)": world.citizen(world.an),
        "a specialist of the unit": world.officer(SPECIALIST),
        "a receiving officer of the receiving centre": world.officer(RECEIVING_OFFICER, unit=world.centre),
        "a provincial operator": world.officer(PROVINCIAL_OPERATOR, unit=world.other_unit),
        "partner with dossiers:read": world.partner("provincial-system", SCOPE_DOSSIERS_READ),
        "partner with dossiers:read for this unit": world.partner("vcci", SCOPE_DOSSIERS_READ, unit=world.unit),
    }
    refused = {
        "another citizen": world.citizen(world.dung),
        "an officer of another unit": world.officer(*OFFICER_ROLES[:4], unit=world.other_unit),
        "partner with dossiers:read for another unit": world.partner("vcci", SCOPE_DOSSIERS_READ, unit="VCCI.HN"),
        "partner without dossiers:read": world.partner("vietnam-post", SCOPE_POST_SUBMIT),
    }
    for who, headers in allowed.items():
        view = _status(await client.get(url, headers=headers), 200, who)
        assert view["code"] == data.dossier_code and view["timeline"], who
    unknown = _status(
        await client.get("/api/v1/dossiers/KHONG-CO-MA-NAY", headers=world.citizen(world.dung)), 404, "unknown code"
    )
    for who, headers in refused.items():
        body = _status(await client.get(url, headers=headers), 404, who)
        assert (body["type"], body["title"]) == (unknown["type"], unknown["title"]), who
    _status(await client.get(url), 401, "no token")


async def test_service_token_and_organisation_applicant(client, issuer, make_submission, open_case, world):
    # A company (tax code) is the applicant; An filed for it as its legal representative.
    data, event = make_submission(unit_code=world.unit, tax_code="0101234567", submitter=world.an)
    await open_case(event)
    url = f"/api/v1/dossiers/{data.dossier_code}"
    _status(await client.get(url, headers=world.citizen(world.an)), 200, "the company's representative who filed")
    _status(await client.get(url, headers=world.citizen(world.dung)), 404, "another citizen")
    _status(await client.get(url, headers=issuer.bearer(issuer.service("intake", "registry:read"))), 404, "service")
    # An officer who filed at the counter is not a "citizen submitter": an officer of another unit who
    # happens to have the same subject string as a citizen gets nothing from it.
    counter, counter_event = make_submission(
        unit_code=world.unit, applicant=world.dung, submitter="hoa.tiepnhan", submitter_kind="officer"
    )
    await open_case(counter_event)
    curl = f"/api/v1/dossiers/{counter.dossier_code}"
    _status(await client.get(curl, headers=world.citizen("hoa.tiepnhan")), 404, "citizen whose sub equals an officer")
    _status(await client.get(curl, headers=world.citizen(world.dung)), 200, "the applicant at the counter")


async def test_public_lookup_shows_no_personal_data(client, make_submission, open_case, world):
    data, event = make_submission(unit_code=world.unit, applicant=world.khoi, submitter=world.an)
    await open_case(event)
    code = data.dossier_code
    head = world.officer(UNIT_HEAD, sub="son.truong", name="Vũ Hồng Sơn")
    accepted = _status(await _act(client, code, "accept", head), 200, "accept")
    resp = await client.get(f"/api/v1/public/dossiers/{code}")  # no token at all
    body = _status(resp, 200, "public lookup")
    assert body == {
        "code": code,
        "status": "processing",
        "status_label": "Đang xử lý",
        "current_step_name": "Thẩm định, xử lý hồ sơ",
        "unit": {"code": world.unit, "name": f"Đơn vị {world.unit}"},
        "due_at": body["due_at"],
    }
    assert body["due_at"] == accepted["due_at"]
    for secret in (world.khoi, world.an, "son.truong", "Vũ Hồng Sơn", str(data.dossier_id)):
        assert secret not in resp.text
    # A token changes nothing about what the public lookup shows.
    assert (await client.get(f"/api/v1/public/dossiers/{code}", headers=world.citizen(world.dung))).json() == body
    _status(await client.get("/api/v1/public/dossiers/KHONG-CO-MA-NAY"), 404, "unknown code")


async def test_me_dossiers_newest_first_paged(app, client, make_submission, open_case, world):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    mine = []
    # An: 3 for himself, 2 for his child (two at the same instant: ordered by id), 1 company dossier.
    for offset, kwargs in [
        (5, {"applicant": world.an}),
        (1, {"applicant": world.an}),
        (3, {"applicant": world.khoi, "submitter": world.an}),
        (3, {"applicant": world.khoi, "submitter": world.an}),
        (4, {"tax_code": "0101234567", "submitter": world.an}),
        (2, {"applicant": world.an}),
    ]:
        data, event = make_submission(unit_code=world.unit, received_at=base + timedelta(hours=offset), **kwargs)
        await open_case(event)
        mine.append(data)
    other, other_event = make_submission(unit_code=world.unit, applicant=world.dung)
    await open_case(other_event)

    expected = sorted(mine, key=lambda d: (d.received_at, d.dossier_id), reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = _status(await client.get("/api/v1/me/dossiers", params=params, headers=world.citizen(world.an)), 200, "")
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert [i["code"] for i in seen] == [d.dossier_code for d in expected]
    flags = {i["code"]: (i["as_applicant"], i["as_submitter"]) for i in seen}
    for d in mine:
        own = d.applicant.subject == world.an
        assert flags[d.dossier_code] == (own, True)
    item = seen[0]
    assert item["status_label"] == "Đã nộp, chờ tiếp nhận" and item["procedure"]["name"] == "Đăng ký khai sinh"

    # The child sees only the two filed for him (as applicant, not submitter); the stranger only hers.
    child = (await client.get("/api/v1/me/dossiers", headers=world.citizen(world.khoi))).json()
    child_codes = [d.dossier_code for d in expected if d.applicant.subject == world.khoi]
    assert [i["code"] for i in child["items"]] == child_codes
    assert all((i["as_applicant"], i["as_submitter"]) == (True, False) for i in child["items"])
    stranger = (await client.get("/api/v1/me/dossiers", headers=world.citizen(world.dung))).json()
    assert [i["code"] for i in stranger["items"]] == [other.dossier_code]
    nobody = (await client.get("/api/v1/me/dossiers", headers=world.citizen("nobody-" + world.dung))).json()
    assert nobody == {"items": [], "next_cursor": None}

    _status(await client.get("/api/v1/me/dossiers"), 401, "no token")
    _status(await client.get("/api/v1/me/dossiers", headers=world.officer(UNIT_HEAD)), 403, "an officer")
    _status(
        await client.get("/api/v1/me/dossiers", headers=world.partner("provincial-system", SCOPE_DOSSIERS_READ)),
        403,
        "a partner",
    )
    bad = await client.get("/api/v1/me/dossiers", params={"cursor": "xyz"}, headers=world.citizen(world.an))
    assert _status(bad, 400, "bad cursor")["type"].endswith("/invalid-cursor")
    _status(await client.get("/api/v1/me/dossiers", params={"limit": 101}, headers=world.citizen(world.an)), 422, "")

    # The list is one range scan of the (subject, received_at DESC, dossier_id DESC) index.
    async with app.state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT d.id FROM dossier_parties p JOIN dossiers d ON d.id = p.dossier_id"
                " WHERE p.subject = $1 ORDER BY p.received_at DESC, p.dossier_id DESC LIMIT 21",
                world.an,
            )
        )
    assert "dossier_parties_by_subject_newest" in plan and "Sort" not in plan.split("->")[0], plan


async def test_work_queue_own_unit_only(client, make_submission, open_case, world):
    mine, mine_event = make_submission(unit_code=world.unit)
    theirs, theirs_event = make_submission(unit_code=world.other_unit)
    await open_case(mine_event)
    await open_case(theirs_event)

    def codes(resp) -> list[str]:
        return [i["code"] for i in _status(resp, 200, "queue")["items"]]

    # The dossiers wait at reception: a receiving officer's queue (test_processing_work_queue.py has the roles).
    receiver = world.officer(RECEIVING_OFFICER)
    assert codes(await client.get("/api/v1/work-queue", headers=receiver)) == [mine.dossier_code]
    params = {"unit_code": world.unit}
    assert codes(await client.get("/api/v1/work-queue", params=params, headers=receiver)) == [mine.dossier_code]
    assert codes(await client.get("/api/v1/work-queue", headers=world.officer(SPECIALIST))) == []
    body = _status(
        await client.get("/api/v1/work-queue", params={"unit_code": world.other_unit}, headers=receiver),
        403,
        "an officer asks for another unit's queue",
    )
    assert body["type"].endswith("/forbidden")
    _status(
        await client.get(
            "/api/v1/work-queue",
            params={"unit_code": world.unit},
            headers=world.officer(UNIT_HEAD, unit=world.other_unit),
        ),
        403,
        "the other unit's head asks for this unit's queue",
    )
    operator = world.officer(PROVINCIAL_OPERATOR, unit=world.centre)
    assert codes(await client.get("/api/v1/work-queue", params=params, headers=operator)) == [mine.dossier_code]
    other = {"unit_code": world.other_unit}
    assert codes(await client.get("/api/v1/work-queue", params=other, headers=operator)) == [theirs.dossier_code]
    # No unit_code: the whole province (other tests' dossiers included), page by page.
    everything, cursor = [], None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = _status(await client.get("/api/v1/work-queue", params=params, headers=operator), 200, "province")
        everything += [i["code"] for i in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert {mine.dossier_code, theirs.dossier_code} <= set(everything)
    _status(await client.get("/api/v1/work-queue", headers=world.citizen(world.an)), 403, "a citizen")
    _status(
        await client.get("/api/v1/work-queue", headers=world.partner("provincial-system", SCOPE_DOSSIERS_READ)),
        403,
        "a partner",
    )
    _status(await client.get("/api/v1/work-queue"), 401, "no token")
