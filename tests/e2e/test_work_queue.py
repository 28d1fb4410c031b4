"""Officers' work queues through the gateway, on the real servers: an inter-agency dossier (liên thông, 1.007073 as
shipped) is in the queue of the officer whose unit holds its current step and whose role the step names, leaves the
commune's queues when it is transferred to the commune police, appears in the police officer's queue, and comes back
when the police transfer it back; filters, and a cursor bound to them, on the way."""

from .conftest import INTER_AGENCY
from .test_flow import AN, opened_by_processing, problem, submit

HOA, LAN, TUAN = "officer hoa (receiving, UBND)", "officer lan (specialist, UBND)", "officer tuan (approver, UBND)"
SON, MINH = "officer son (unit head, UBND)", "officer minh (police)"
QUAN = "operator quan (province)"
UBND, POLICE_UNIT = "000.26.01.H29", "000.26.02.H29"


async def queue(api, headers: dict, **params) -> dict[str, dict]:
    """Every item of the caller's queue of 1.007073 dossiers (with ``params`` as filters), by code."""
    items: dict[str, dict] = {}
    cursor = None
    while True:
        query = {"procedure_code": INTER_AGENCY, "limit": 100, **params} | ({"cursor": cursor} if cursor else {})
        resp = await api.get("/api/v1/work-queue", params=query, headers=headers)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items.update((i["code"], i) for i in page["items"])
        if (cursor := page["next_cursor"]) is None:
            return items


async def act(api, code: str, headers: dict, action: str, **body) -> dict:
    resp = await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=headers)
    assert resp.status_code == 200, (action, resp.text)
    return resp.json()


async def test_a_dossier_moves_between_the_units_queues(api, actors):
    codes = []
    for _ in range(2):  # the second one stays at reception throughout
        resp = await submit(
            api,
            actors[HOA],
            procedure=INTER_AGENCY,
            channel="counter",
            applicant={"kind": "citizen", "personal_id": AN},
        )
        assert resp.status_code == 201, resp.text
        codes.append(resp.json()["code"])
        await opened_by_processing(api, codes[-1], actors[HOA])
    code, waiting = codes

    # A cursor belongs to its filters: one issued for the reception step is refused without that filter.
    params = {"limit": 1, "procedure_code": INTER_AGENCY, "step": "receive"}
    cursor = (await api.get("/api/v1/work-queue", params=params, headers=actors[HOA])).json()["next_cursor"]
    assert cursor is not None
    params = {**params, "cursor": cursor}
    assert (await api.get("/api/v1/work-queue", params=params, headers=actors[HOA])).status_code == 200
    del params["step"]
    problem(await api.get("/api/v1/work-queue", params=params, headers=actors[HOA]), 400, "invalid-cursor")

    async def holders() -> set[str]:
        """Which demo officers have the dossier in their own queue now."""
        return {name for name in (HOA, LAN, TUAN, SON, MINH) if code in await queue(api, actors[name])}

    # At reception: the receiving officer and the unit head of the commune.
    assert await holders() == {HOA, SON}
    item = (await queue(api, actors[HOA], step="receive"))[code]
    assert item["unit"]["code"] == UBND and item["current_step_name"] and item["status_label"]
    assert not item["paused"] and "overdue" in item and "due_soon" in item
    await act(api, code, actors[HOA], "receive")
    assert await holders() == {LAN, SON}  # register_death: the specialist
    await act(api, code, actors[LAN], "forward")
    assert await holders() == {TUAN, SON}  # approve: the approver (and the head)
    await act(api, code, actors[TUAN], "approve")
    assert await holders() == {LAN, SON}  # transfer_police: the specialist
    assert code in await queue(api, actors[LAN], step="transfer_police")

    # Transferred to the commune police: it leaves every commune queue and enters the police officer's.
    await act(api, code, actors[LAN], "transfer", transfer_unit_code=POLICE_UNIT)
    assert await holders() == {MINH}
    item = (await queue(api, actors[MINH], step="remove_residence"))[code]
    assert item["unit"]["code"] == POLICE_UNIT and item["current_step"] == "remove_residence"
    assert code not in await queue(api, actors[LAN], step="transfer_police")
    # The provincial operator finds it under the police unit, not under the commune.
    assert code in await queue(api, actors[QUAN], unit_code=POLICE_UNIT)
    assert code not in await queue(api, actors[QUAN], unit_code=UBND)

    # Back to the commune for the result: out of the police queue, into the commune's issue step.
    await act(api, code, actors[MINH], "transfer")
    assert code not in await queue(api, actors[MINH])
    assert (await queue(api, actors[SON], step="issue"))[code]["unit"]["code"] == UBND
    assert {LAN, TUAN, SON} <= await holders() and MINH not in await holders()
    # Officers of the commune cannot read the police unit's queue; citizens have none.
    problem(
        await api.get("/api/v1/work-queue", params={"unit_code": POLICE_UNIT}, headers=actors[SON]), 403, "forbidden"
    )
    problem(await api.get("/api/v1/work-queue", headers=actors["citizen An"]), 403, "forbidden")
    # The other dossier never moved: still at reception, in the commune's reception queue only.
    assert waiting in await queue(api, actors[HOA], step="receive")
    assert waiting not in await queue(api, actors[MINH])
