"""Personal data never appears in logs or traces: after a whole citizen journey (login, preview, submit, track,
officer actions, notifications, access log) and everything else the e2e run did before, no log line and no
exported span (name, attributes, events) holds a demo citizen's personal id, full name or address."""

import uuid

from citizen_id.seed import fixed_citizens

from .conftest import LOGS, eventually


def personal_values() -> dict[str, str]:
    values = {}
    for c in fixed_citizens():
        values[f"{c.personal_id} id"] = c.personal_id
        values[f"{c.personal_id} name"] = c.full_name
        values[f"{c.personal_id} address"] = c.permanent_address
        values[f"{c.personal_id} street"] = c.street
    return values


def span_texts(exporter) -> list[str]:
    texts = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            texts.append(event.name)
            texts += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
    return texts


async def test_no_personal_data_in_logs_or_spans(api, actors, recorded_spans):
    an, hoa, lan, tuan = (
        actors["citizen An"],
        actors["officer hoa (receiving, UBND)"],
        actors["officer lan (specialist, UBND)"],
        actors["officer tuan (approver, UBND)"],
    )
    preview = await api.post("/api/v1/dossiers/preview", json={"procedure_code": "1.004873"}, headers=an)
    assert preview.status_code == 200, preview.text
    resp = await api.post(
        "/api/v1/dossiers",
        json={"procedure_code": "1.004873"},
        headers={**an, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]
    # a refusal and an error path log too: a stranger's counter attempt and an unknown person
    await api.post(
        "/api/v1/dossiers",
        json={"procedure_code": "1.004873", "applicant": {"kind": "citizen", "personal_id": "079195005678"}},
        headers={**an, "Idempotency-Key": str(uuid.uuid4())},
    )

    async def opened():
        return (await api.get(f"/api/v1/dossiers/{code}", headers=an)).json().get("status") == "submitted"

    await eventually(opened)
    for who, action in ((hoa, "receive"), (lan, "forward"), (tuan, "approve")):
        resp = await api.post(f"/api/v1/dossiers/{code}/actions", json={"action": action}, headers=who)
        assert resp.status_code == 200, resp.text

    async def notified():
        items = (await api.get("/api/v1/me/notifications", headers=an)).json()["items"]
        return len([n for n in items if n.get("dossier_code", code) == code]) >= 3

    await eventually(notified)
    assert (await api.get("/api/v1/me/access-log", headers=an)).status_code == 200

    haystacks = {"logs": LOGS.lines, "spans": span_texts(recorded_spans)}
    assert haystacks["logs"] and haystacks["spans"], "nothing was recorded: the scan would prove nothing"
    leaks = [
        f"{label} in {where}: {text[:200]}"
        for where, texts in haystacks.items()
        for text in texts
        for label, value in personal_values().items()
        if value in text
    ]
    assert not leaks, "\n".join(leaks[:20])
