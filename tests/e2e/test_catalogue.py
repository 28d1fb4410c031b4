"""Procedure versions end to end, through the gateway on the real servers: the provincial operator publishes a
version, a citizen submits under it, a second version does not touch the first dossier; a Project 06 bundle
becomes linked dossiers that processing opens one by one."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from intake.settings import Settings as IntakeSettings
from intake.versions import read_shipped
from motcua_common.testing import RUN_ID

from .conftest import eventually

KHOI = "001222001235"  # An's son, in An's household
OPERATOR, HOA, AN = "operator quan (province)", "officer hoa (receiving, UBND)", "citizen An"


def draft(base: str = "1.004873", **changes) -> dict:
    shipped = {d.code: d for d in read_shipped(IntakeSettings().catalogue_dir)}[base]
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    return {**shipped.model_dump(mode="json", exclude={"version", "code"}), "effective_from": str(today), **changes}


async def submit(api, headers: dict, body: dict):
    return await api.post("/api/v1/dossiers", json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})


async def test_an_operator_publishes_a_version_and_dossiers_run_on_theirs(api, actors):
    operator, an, hoa = actors[OPERATOR], actors[AN], actors[HOA]
    code = f"E{RUN_ID}-XNHN"
    url = f"/api/v1/procedures/{code}/versions"
    params = {"unit_code": "000.26.01.H29"}
    body = draft(fee={"amount_vnd": 8000, "online_amount_vnd": 4000, "note": "8.000 đồng; trực tuyến 4.000 đồng"})
    # only the operator publishes: an officer of a unit and a citizen are refused, nobody without a token
    assert (await api.post(url, json=body, params=params, headers=hoa)).status_code == 403
    assert (await api.post(url, json=body, params=params, headers=an)).status_code == 403
    assert (await api.post(url, json=body, params=params)).status_code == 401
    v1 = await api.post(url, json=body, params=params, headers=operator)
    assert v1.status_code == 201, v1.text
    assert v1.headers["location"] == f"{url}/1" and v1.json()["in_force"]
    # anyone reads it, as the catalogue
    listed = (await api.get(url)).json()["items"]
    assert [v["version"] for v in listed] == [1] and listed[0]["definition"]["fee"]["online_amount_vnd"] == 4000
    assert (await api.get(f"/api/v1/procedures/{code}")).json()["fee_online_vnd"] == 4000

    first = await submit(api, an, {"procedure_code": code})
    assert first.status_code == 201, first.text
    assert (first.json()["procedure"]["version"], first.json()["fee_vnd"]) == (1, 4000)

    v2 = await api.post(url, json={**body, "fee": {"amount_vnd": 6000}}, headers=operator)  # the unit stays
    assert v2.status_code == 201 and v2.json()["version"] == 2, v2.text
    second = await submit(api, an, {"procedure_code": code})
    assert (second.json()["procedure"]["version"], second.json()["fee_vnd"]) == (2, 6000)

    # the first dossier is still version 1's: read back through the gateway
    application = (await api.get(f"/api/v1/dossiers/{first.json()['code']}/application", headers=an)).json()
    assert application["procedure"]["version"] == 1
    assert (await api.get(f"{url}/1")).json()["definition"]["fee"]["online_amount_vnd"] == 4000
    # processing opened both cases, each with its own appointment
    for receipt in (first.json(), second.json()):

        async def opened(code: str = receipt["code"]) -> bool:
            queue = await api.get("/api/v1/work-queue", params={"status": "submitted", "limit": 100}, headers=hoa)
            return code in {i["code"] for i in queue.json()["items"]}

        await eventually(opened)


async def test_a_project_06_bundle_becomes_linked_dossiers(api, actors):
    an = actors[AN]
    resp = await submit(
        api,
        an,
        {
            "procedure_code": "MC-LT-KHAI-SINH",
            "applicant": {"kind": "citizen", "personal_id": KHOI},
            "components": [{"code": "TK-LT01", "file_name": "to-khai.pdf"}, {"code": "GCS", "file_name": "gcs.pdf"}],
        },
    )
    assert resp.status_code == 201, resp.text
    bundle = resp.json()["bundle"]
    codes = [d["code"] for d in bundle["dossiers"]]
    assert [d["procedure"]["name"] for d in bundle["dossiers"]] == [
        "Đăng ký khai sinh",
        "Đăng ký thường trú",
        "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
    ]
    assert all(d["appointment_at"] <= bundle["due_at"] for d in bundle["dossiers"])

    async def all_opened() -> bool:  # processing opened a case per dossier, in its own unit
        mine = await api.get("/api/v1/me/dossiers", params={"limit": 100}, headers=an)
        return set(codes) <= {d["code"] for d in mine.json()["items"]}

    await eventually(all_opened)
    units = [(await api.get(f"/api/v1/dossiers/{c}", headers=an)).json()["unit"]["code"] for c in codes]
    assert units == ["000.26.01.H29", "000.26.02.H29", "000.12.00.H29"]

    refused = await submit(api, an, {"procedure_code": "1.007073"})  # counters and post only
    assert refused.status_code == 422 and refused.json()["type"].endswith("/channel-not-allowed")
