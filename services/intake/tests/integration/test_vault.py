"""The document vault (uploads, results, reuse), corrections of registry data, and the once-only score."""

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from motcua_common.contracts import DossierResultIssued, RegistryCorrectionRequested
from motcua_common.events import build_event
from motcua_common.kafka import client_options
from motcua_common.testing import kafka_admin_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x02" * 64
BIRTH = "1.001193"


def pdf(text: str = "") -> bytes:
    return b"%PDF-1.7\n" + (text or uuid.uuid4().hex).encode() + b"\n%%EOF\n"


async def upload(api, headers, content: bytes, *, name="giay-to.pdf", declared="application/pdf", doc_type="giay-to"):
    return await api.client.post(
        "/api/v1/me/documents", files={"file": (name, content, declared)}, data={"doc_type": doc_type}, headers=headers
    )


async def test_upload_sniffs_the_type_hashes_and_dedupes_per_owner(api, who):
    content = pdf()
    first = await upload(api, who.an, content)
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["kind"] == "upload" and doc["content_type"] == "application/pdf" and doc["has_content"]
    assert doc["sha256"] == hashlib.sha256(content).hexdigest() and doc["size_bytes"] == len(content)
    again = await upload(api, who.an, content, name="other-name.pdf")
    assert again.status_code == 200 and again.json()["id"] == doc["id"]
    # the same file in another citizen's vault is their own document
    binh = await upload(api, who.binh, content)
    assert binh.status_code == 201 and binh.json()["id"] != doc["id"]
    # the declared type is not trusted: a PNG declared as PDF is stored as PNG; a script declared as PDF is refused
    png = await upload(api, who.an, PNG + uuid.uuid4().bytes, name="anh.pdf", declared="application/pdf")
    assert png.status_code == 201 and png.json()["content_type"] == "image/png"
    jpeg = await upload(api, who.an, JPEG + uuid.uuid4().bytes, name="anh.jpg", declared="image/jpeg")
    assert jpeg.json()["content_type"] == "image/jpeg"
    fake = await upload(api, who.an, b"<script>alert(1)</script>", declared="application/pdf")
    api.problem(fake, 415, "unsupported-document-type")
    api.problem(
        await upload(api, who.an, b"GIF89a" + b"\x00" * 20, declared="image/png"), 415, "unsupported-document-type"
    )


async def test_upload_size_limit_is_413(api, who, intake_settings):
    limit = intake_settings.max_document_bytes
    head = b"%PDF-1.7\n" + uuid.uuid4().hex.encode()
    at_limit = head + b"x" * (limit - len(head))
    assert len(at_limit) == limit
    assert (await upload(api, who.an, at_limit)).status_code == 201
    api.problem(await upload(api, who.an, at_limit + b"y"), 413, "document-too-large")
    api.problem(await upload(api, who.an, at_limit * 2), 413, "payload-too-large")  # cut before it is read
    api.problem(await upload(api, who.an, pdf(), doc_type="bad type!"), 422, "validation-error")


async def test_only_citizens_have_a_vault_and_only_the_owner_reads_a_file(api, who):
    content = pdf()
    doc = (await upload(api, who.an, content)).json()
    got = await api.client.get(f"/api/v1/me/documents/{doc['id']}/content", headers=who.an)
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == "application/pdf" and got.headers["x-content-type-options"] == "nosniff"
    api.problem(
        await api.client.get(f"/api/v1/me/documents/{doc['id']}/content", headers=who.binh), 404, "document-not-found"
    )
    api.problem(await api.client.get(f"/api/v1/me/documents/{doc['id']}/content", headers=who.hoa), 403, "forbidden")
    api.problem(await upload(api, who.hoa, pdf()), 403, "forbidden")
    api.problem(await api.client.get("/api/v1/me/documents", headers=who.post), 403, "forbidden")


async def test_vault_list_is_the_owners_newest_first_with_a_cursor(api, who):
    ids = [(await upload(api, who.dung, pdf())).json()["id"] for _ in range(3)]
    first = (await api.client.get("/api/v1/me/documents", params={"limit": 2}, headers=who.dung)).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    rest = await api.client.get(
        "/api/v1/me/documents", params={"limit": 2, "cursor": first["next_cursor"]}, headers=who.dung
    )
    assert ids[0] in [d["id"] for d in rest.json()["items"]]
    mine = {
        d["id"]
        for d in (await api.client.get("/api/v1/me/documents", params={"limit": 100}, headers=who.an)).json()["items"]
    }
    assert not mine & set(ids)
    api.problem(
        await api.client.get("/api/v1/me/documents", params={"cursor": "x"}, headers=who.dung), 400, "invalid-cursor"
    )


async def test_components_attach_vault_documents_by_reference(api, who, reg):
    doc = (await upload(api, who.an, pdf(), name="giay-chung-sinh.pdf", doc_type="giay-chung-sinh")).json()
    body = {
        "procedure_code": BIRTH,
        "applicant": {"personal_id": reg.KHOI},
        "components": [{"code": "TK-KS", "file_name": "to-khai.pdf"}, {"code": "GCS", "document_id": doc["id"]}],
    }
    receipt = await api.submitted(who.an, body)
    assert receipt["components"] == [
        {"code": "TK-KS", "file_name": "to-khai.pdf", "reused_from": None, "sha256": None},
        {"code": "GCS", "file_name": "giay-chung-sinh.pdf", "reused_from": doc["id"], "sha256": doc["sha256"]},
    ]
    app = (await api.client.get(f"/api/v1/dossiers/{receipt['code']}/application", headers=who.an)).json()
    assert app["components"][1]["reused_from"] == doc["id"]
    # someone else's document, an unknown one, or a document referenced by an officer (no vault) is refused
    for caller, extra in [("binh", {}), ("an", {"document_id": str(uuid.uuid4())}), ("hoa", {})]:
        components = [{"code": "GCS", "document_id": doc["id"], **extra}]
        attempt = {**body, "components": components}
        if caller == "hoa":
            attempt["channel"] = "counter"
        if caller == "binh":
            attempt["applicant"] = {}
        api.problem(await api.submit(getattr(who, caller), attempt), 422, "document-not-found")


async def _publish_result(settings, dossier_id: str, code: str, number: str) -> None:
    now = datetime.now(UTC)
    data = DossierResultIssued(
        dossier_id=uuid.UUID(dossier_id),
        dossier_code=code,
        occurred_at=now,
        unit_code="000.26.01.H29",
        unit_name="Ủy ban nhân dân phường Hoàn Kiếm",
        handler="lan.chuyenvien",
        due_at=now,
        result_number=number,
        timeliness="on_time",
    )
    event = build_event(data, source="/motcua/processing", subject=code)
    producer = AIOKafkaProducer(**client_options(kafka_admin_settings(settings.kafka_bootstrap)))
    await producer.start()
    try:
        await producer.send_and_wait(settings.dossier_topic, event.model_dump_json().encode(), key=dossier_id.encode())
    finally:
        await producer.stop()


async def _vault(api, headers) -> list[dict]:
    return (await api.client.get("/api/v1/me/documents", params={"limit": 100}, headers=headers)).json()["items"]


async def test_a_result_lands_in_the_vault_and_is_attached_to_a_later_dossier(api, who, reg, intake_settings):
    receipt = await api.submitted(who.an, {"procedure_code": BIRTH, "applicant": {"personal_id": reg.KHOI}})
    number = f"KS-{uuid.uuid4().hex[:6]}"
    await _publish_result(intake_settings, receipt["id"], receipt["code"], number)
    results: list[dict] = []
    async with asyncio.timeout(60):  # the consumer picks it up within seconds (a minute on a loaded machine)
        while not results:
            results = [d for d in await _vault(api, who.an) if d["result_number"] == number]
            await asyncio.sleep(0 if results else 0.3)
    result = results[0]
    assert result["kind"] == "result" and result["dossier_code"] == receipt["code"]
    assert result["has_content"] is False and result["sha256"] is None  # a reference: intake holds no file
    # the applicant (the child) has it too; nobody else
    assert any(d["result_number"] == number for d in await _vault(api, who.khoi))
    assert not any(d["result_number"] == number for d in await _vault(api, who.binh))
    # a dossier intake did not store is ignored
    await _publish_result(intake_settings, str(uuid.uuid4()), "000.26.01.H29-000101-0001-AAAAAA", "KS-foreign")
    later = await api.submitted(
        who.an, {"procedure_code": "1.004222", "components": [{"code": "CNCO", "document_id": result["id"]}]}
    )
    assert later["components"][0]["reused_from"] == result["id"]
    api.problem(
        await api.client.get(f"/api/v1/me/documents/{result['id']}/content", headers=who.an), 404, "document-not-found"
    )


async def test_corrections_of_registry_fields(api, who, reg, intake_settings):
    receipt = await api.submitted(
        who.an, {"procedure_code": BIRTH, "applicant": {"personal_id": reg.KHOI, "phone": "0912000333"}}
    )
    code = receipt["code"]
    url = f"/api/v1/dossiers/{code}/corrections"
    body = {"field": "permanent_address", "proposed_value": "Số 14 phố Hàng Bạc", "note": "Đã chuyển nhà"}
    resp = await api.client.post(url, json=body, headers=who.an)
    assert resp.status_code == 201, resp.text
    correction = resp.json()
    assert correction["registry_value"] == reg.PEOPLE[reg.KHOI]["permanent_address"]
    app = (await api.client.get(f"/api/v1/dossiers/{code}/application", headers=who.an)).json()
    assert [c["id"] for c in app["corrections"]] == [correction["id"]]
    rows = [r for r in await api.outbox(code) if r["event_type"] == RegistryCorrectionRequested.type_name()]
    assert len(rows) == 1 and rows[0]["topic"] == intake_settings.personal_topic
    event = RegistryCorrectionRequested.model_validate(rows[0]["payload"]["data"])
    assert event.personal_id == reg.KHOI and event.field == "permanent_address"
    assert event.proposed_value == "Số 14 phố Hàng Bạc" and str(event.correction_id) == correction["id"]
    # the child (the applicant) may flag too
    assert (await api.client.post(url, json={"field": "full_name"}, headers=who.khoi)).status_code == 201
    api.problem(await api.client.post(url, json={"field": "phone"}, headers=who.an), 422, "field-not-from-registry")
    api.problem(await api.client.post(url, json={"field": "religion"}, headers=who.an), 422, "unknown-field")
    api.problem(await api.client.post(url, json=body, headers=who.binh), 404, "dossier-not-found")
    api.problem(await api.client.post(url, json=body, headers=who.hoa), 403, "forbidden")
    api.problem(await api.client.post(url, json=body, headers=who.provincial), 404, "dossier-not-found")
    rows = [r for r in await api.outbox(code) if r["event_type"] == RegistryCorrectionRequested.type_name()]
    assert len(rows) == 2


async def test_once_only_score_counts_registry_fields_and_reused_components(api, who, reg):
    proc = "1.000656"  # used by no other test
    before = (await api.client.get(f"/api/v1/procedures/{proc}/once-only")).json()
    doc = (await upload(api, who.binh, pdf())).json()
    # Bình: 4 registry fields (the registry has no email/phone for her) + 1 typed; one reused, one new component
    await api.submitted(
        who.binh,
        {
            "procedure_code": proc,
            "applicant": {"email": "binh@example.vn"},
            "components": [{"code": "TK-KT", "file_name": "to-khai.pdf"}, {"code": "GBT", "document_id": doc["id"]}],
        },
    )
    # An: 6 registry fields, one new component
    await api.submitted(who.an, {"procedure_code": proc, "components": [{"code": "GBT", "file_name": "gbt.pdf"}]})
    after = (await api.client.get(f"/api/v1/procedures/{proc}/once-only")).json()
    assert after["dossiers"] - before["dossiers"] == 2
    assert after["fields"]["from_registry"] - before["fields"]["from_registry"] == 10
    assert after["fields"]["typed"] - before["fields"]["typed"] == 1
    assert after["components"]["reused"] - before["components"]["reused"] == 1
    assert after["components"]["new"] - before["components"]["new"] == 2
    if before["dossiers"] == 0:
        assert after["fields"]["share"] == round(10 / 11, 4) and after["components"]["share"] == round(1 / 3, 4)
    f = after["fields"]
    assert f["total"] == f["from_registry"] + f["typed"] and f["share"] == round(f["from_registry"] / f["total"], 4)
    empty = (await api.client.get("/api/v1/procedures/1.000894/once-only")).json()
    assert empty["fields"]["share"] is None or isinstance(empty["fields"]["share"], float)
    api.problem(await api.client.get("/api/v1/procedures/9.999999/once-only"), 404, "procedure-not-found")
    assert json.dumps(after).find(reg.AN) == -1
