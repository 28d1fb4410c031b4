"""Submit data once, end to end on the real servers: the registry prefills, a document uploaded once is reused by
reference, the result of a dossier lands in the citizen's vault, a wrong prefilled field reaches the registry as a
correction request, and the procedure's once-only score counts all of it."""

import uuid

from .conftest import eventually
from .test_flow import opened_by_processing

PROCEDURE = "1.004873"
HOA, LAN, TUAN = "officer hoa (receiving, UBND)", "officer lan (specialist, UBND)", "officer tuan (approver, UBND)"


async def test_a_document_uploaded_once_is_reused_and_results_come_back_to_the_vault(api, actors):
    dung = actors["citizen Dung"]
    pdf = b"%PDF-1.4\n% to khai " + uuid.uuid4().hex.encode() + b"\n"
    up = await api.post(
        "/api/v1/me/documents",
        headers=dung,
        data={"doc_type": "TK-XNHN"},
        files={"file": ("to-khai.pdf", pdf, "application/pdf")},
    )
    assert up.status_code == 201, up.text
    doc = up.json()
    again = await api.post(
        "/api/v1/me/documents",
        headers=dung,
        data={"doc_type": "TK-XNHN"},
        files={"file": ("copy.pdf", pdf, "application/pdf")},
    )
    assert again.status_code == 200 and again.json()["id"] == doc["id"], "same content, same document"
    fake = await api.post(
        "/api/v1/me/documents",
        headers=dung,
        data={"doc_type": "TK-XNHN"},
        files={"file": ("to-khai.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
    )
    assert fake.status_code == 415, "the declared type is not trusted: the bytes are sniffed"
    assert (await api.get(f"/api/v1/me/documents/{doc['id']}/content", headers=dung)).content == pdf

    before = (await api.get(f"/api/v1/procedures/{PROCEDURE}/once-only")).json()
    resp = await api.post(
        "/api/v1/dossiers",
        json={"procedure_code": PROCEDURE, "components": [{"code": "TK-XNHN", "document_id": doc["id"]}]},
        headers={**dung, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    assert receipt["components"] == [{**receipt["components"][0], "code": "TK-XNHN", "reused_from": doc["id"]}]
    assert receipt["field_origins"]["full_name"] == "registry"
    after = (await api.get(f"/api/v1/procedures/{PROCEDURE}/once-only")).json()
    assert after["dossiers"] == before["dossiers"] + 1
    assert after["components"]["reused"] == before["components"]["reused"] + 1
    assert after["fields"]["from_registry"] > before["fields"]["from_registry"]

    code = receipt["code"]
    await opened_by_processing(api, code, actors[HOA])
    for who, action, body in [
        (HOA, "receive", {}),
        (LAN, "forward", {}),
        (TUAN, "approve", {}),
        (LAN, "issue_result", {"result_number": f"XN-{code[-6:]}"}),
    ]:
        resp = await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=actors[who])
        assert resp.status_code == 200, (action, resp.text)

    async def result_in_vault():
        items = (await api.get("/api/v1/me/documents", params={"limit": 100}, headers=dung)).json()["items"]
        return [d for d in items if d["kind"] == "result" and d["dossier_code"] == code]

    result = (await eventually(result_in_vault))[0]
    assert result["result_number"] == f"XN-{code[-6:]}"


async def test_a_wrong_prefilled_field_reaches_the_registry(api, actors):
    cuong = actors["citizen Cường"]
    code = (
        await api.post(
            "/api/v1/dossiers",
            json={"procedure_code": PROCEDURE},
            headers={**cuong, "Idempotency-Key": str(uuid.uuid4())},
        )
    ).json()["code"]
    flagged = await api.post(
        f"/api/v1/dossiers/{code}/corrections",
        json={"field": "permanent_address", "proposed_value": "Số 9, đường Bạch Đằng", "note": "Đã chuyển nhà"},
        headers=cuong,
    )
    assert flagged.status_code == 201, flagged.text
    typed = await api.post(f"/api/v1/dossiers/{code}/corrections", json={"field": "nickname"}, headers=cuong)
    assert typed.status_code == 422
    application = (await api.get(f"/api/v1/dossiers/{code}/application", headers=cuong)).json()
    assert [c["field"] for c in application["corrections"]] == ["permanent_address"]

    async def registry_has_it():
        profile = (await api.get("/api/v1/me/profile", headers=cuong)).json()
        return [c for c in profile["open_corrections"] if c["field"] == "permanent_address"]

    correction = (await eventually(registry_has_it))[0]
    assert correction["proposed_value"] == "Số 9, đường Bạch Đằng"
