"""Walk one dossier through a running system (`make run` in another terminal), through the gateway only, as the
apps would: a citizen logs in (authorization code + PKCE), previews what the registry will prefill, submits,
follows the dossier; officers of the competent unit log in and work it; the citizen downloads the official forms
(receipt 01 and process control sheet 05, PDF, into .run/forms/), reads the notifications and who read their data.

uv run python scripts/demo.py [--gateway http://127.0.0.1:8000]
"""

import argparse
import asyncio
import json
import uuid
from pathlib import Path

import httpx

from motcua_common.oidc_client import login

PASSWORD = "demo1234"


def show(title: str, resp: httpx.Response, limit: int = 1500) -> dict:
    print(f"\n--- {title}: {resp.request.method} {resp.request.url.path} -> {resp.status_code}")
    body = resp.json()
    print(json.dumps(body, ensure_ascii=False, indent=2)[:limit])
    return body


def save_form(name: str, content: bytes) -> Path:
    folder = Path(".run/forms")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


async def main(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=15) as api:
        page = (await api.get("/api/v1/procedures", params={"limit": 100})).json()
        print("Catalogue:")
        for p in page["items"]:
            print(f"  {p['code']}  {p['name']}  ({p['processing_days']} ngày làm việc, {p['online_level']})")

        print(f"\n--- Citizen login (PKCE) at {gateway}/oauth/authorize: 001090001234 / {PASSWORD}")
        an = (await login(api, "001090001234", PASSWORD)).headers
        show(
            "What the population registry will prefill",
            await api.post("/api/v1/dossiers/preview", json={"procedure_code": "1.004873"}, headers=an),
        )
        receipt = show(
            "Submit (Nguyễn Văn An for himself)",
            await api.post(
                "/api/v1/dossiers",
                headers={**an, "Idempotency-Key": str(uuid.uuid4())},
                json={"procedure_code": "1.004873", "notify_channels": ["app", "email"]},
            ),
        )
        code = receipt["code"]
        show("Public lookup by code (no personal data)", await api.get(f"/api/v1/public/dossiers/{code}"))

        officers = {  # the steps of 1.004873 as shipped, through POST …/actions
            "receive": ("hoa.tiepnhan", {"note": "Hồ sơ đầy đủ"}),
            "forward": ("lan.chuyenvien", {}),
            "approve": ("tuan.lanhdao", {}),
            "issue_result": ("lan.chuyenvien", {}),
            "return_result": ("hoa.tiepnhan", {"return_method": "online"}),
        }
        tokens = {u: (await login(api, u, PASSWORD, account="officer")).headers for u, _ in officers.values()}
        print(f"\n--- Officers logged in: {', '.join(tokens)}")
        for _ in range(100):  # processing opens the case within moments
            resp = await api.get(f"/api/v1/dossiers/{code}", headers=an)
            if resp.status_code == 200 and resp.json().get("current_step"):
                break
            await asyncio.sleep(0.1)
        for action, (username, body) in officers.items():
            resp = await api.post(
                f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=tokens[username]
            )
            print(f"{username} {action}: {resp.status_code} -> {resp.json().get('status_label')}")
        show("Tracking (the citizen's view)", await api.get(f"/api/v1/dossiers/{code}", headers=an), 2500)
        print("\n--- The official forms (PDF), as the citizen downloads them:")
        for form in ("01", "05"):
            resp = await api.get(f"/api/v1/dossiers/{code}/forms/{form}", headers=an)
            if resp.status_code != 200:
                print(f"  form {form}: {resp.status_code} {resp.text[:200]}")
                continue
            path = save_form(f"{code}-{form}.pdf", resp.content)
            print(f"  form {form}: {path} ({len(resp.content):,} bytes; {resp.headers['content-disposition']})")
        await asyncio.sleep(2)
        notes = (await api.get("/api/v1/me/notifications", params={"limit": 100}, headers=an)).json()["items"]
        print("\n--- The citizen's notifications:")
        for n in notes:
            print(f"  [{n['channel']:<5} {n['status']:<9}] {n['subject']}")
        log = (await api.get("/api/v1/me/access-log", params={"limit": 5}, headers=an)).json()["items"]
        print("\n--- Who read the citizen's data (newest first):")
        for entry in log:
            print(f"  {json.dumps(entry, ensure_ascii=False)}")
        print("\nE-mails are in .run/mail/new/ (the local SMTP sink).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    asyncio.run(main(parser.parse_args().gateway))
