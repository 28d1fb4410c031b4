"""Walk one dossier through a running system (`make run` in another terminal), through the gateway only.

uv run python scripts/demo.py [--gateway http://127.0.0.1:8000]
"""

import argparse
import asyncio
import json
import uuid

import httpx

OFFICER = {"Authorization": "Bearer demo-officer-token"}


def show(title: str, resp: httpx.Response) -> dict:
    print(f"\n--- {title}: {resp.request.method} {resp.request.url.path} -> {resp.status_code}")
    body = resp.json()
    print(json.dumps(body, ensure_ascii=False, indent=2)[:1500])
    return body


async def main(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=15) as api:
        page = (await api.get("/api/v1/procedures", params={"limit": 100})).json()
        print("Catalogue:")
        for p in page["items"]:
            print(f"  {p['code']}  {p['name']}  ({p['processing_days']} ngày làm việc, {p['online_level']})")
        receipt = show(
            "Submit (Nguyễn Văn An, 001090001234)",
            await api.post(
                "/api/v1/dossiers",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                json={"procedure_code": "1.004873", "applicant": {"personal_id": "001090001234"}},
            ),
        )
        code = receipt["code"]
        for _ in range(100):  # processing opens the case within moments
            queue = (
                await api.get("/api/v1/work-queue", params={"status": "submitted", "limit": 100}, headers=OFFICER)
            ).json()
            if code in {i["code"] for i in queue["items"]}:
                break
            await asyncio.sleep(0.1)
        for action, body in [
            ("accept", {"note": "Hồ sơ đầy đủ"}),
            ("approve", {}),
            ("issue-result", {}),
            ("return-result", {"method": "online"}),
        ]:
            resp = await api.post(f"/api/v1/dossiers/{code}/actions/{action}", json=body, headers=OFFICER)
            print(f"officer {action}: {resp.status_code} -> {resp.json().get('status_label')}")
        show("Tracking", await api.get(f"/api/v1/dossiers/{code}"))
        await asyncio.sleep(2)
        notes = (await api.get(f"/api/v1/dossiers/{code}/notifications", params={"limit": 100})).json()["items"]
        print(f"\n--- Notifications for {code}:")
        for n in notes:
            print(f"  [{n['channel']:<5} {n['status']:<9}] {n['subject']}")
        print("\nE-mails are in .run/mail/new/ (the local SMTP sink).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    asyncio.run(main(parser.parse_args().gateway))
