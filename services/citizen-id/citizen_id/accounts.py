"""Demo accounts and OAuth clients of the mock identity provider, seeded idempotently.

``await seed_accounts(conn, settings)`` (called at start by ``main`` unless
``CITIZEN_ID_SEED_DEMO_ACCOUNTS=false``; also usable from setup scripts):

- officers: inserted, or their name, unit and roles brought up to date; a password is set only when the
  account is created;
- citizens' passwords (by personal id, for the demo citizens): set only when missing;
- clients: registration brought up to date; a confidential client's secret is re-hashed when it no longer
  matches the configured one (``CITIZEN_ID_CLIENT_SECRETS``, default ``<client_id>-secret``).

Every demo password is ``settings.demo_password`` (``demo1234``)."""

import asyncpg

from . import oidc_repository as repo
from .oidc import hash_secret, verify_secret
from .settings import Settings

APP_CLIENT_ID = "motcua-app"

# (username, name, unit code, roles)
OFFICERS: list[tuple[str, str, str, list[str]]] = [
    ("hoa.tiepnhan", "Nguyễn Thị Hoa", "000.26.01.H29", ["receiving_officer"]),
    ("lan.chuyenvien", "Lê Thị Lan", "000.26.01.H29", ["specialist"]),
    ("tuan.lanhdao", "Phạm Anh Tuấn", "000.26.01.H29", ["approver"]),
    ("son.truong", "Vũ Hồng Sơn", "000.26.01.H29", ["unit_head"]),
    ("minh.congan", "Trần Văn Minh", "000.26.02.H29", ["receiving_officer", "specialist", "approver"]),
    ("ha.tthcc", "Đỗ Thu Hà", "000.00.01.H29", ["receiving_officer"]),
    ("quan.vanhanh", "Bùi Minh Quân", "000.00.01.H29", ["provincial_operator"]),
]

# Demo citizens with a VNeID password (the registry holds their records). The deceased one has a password
# too, so the refusal to log him in is shown to come from his death, not from a missing account.
CITIZEN_LOGINS: list[str] = [
    "001090001234",  # Nguyễn Văn An
    "001222001235",  # Nguyễn Minh Khôi, An's son (a minor)
    "079195005678",  # Trần Thị Bình
    "048200001111",  # Lê Minh Cường
    "092301002222",  # Phạm Thu Dung
    "036045000999",  # deceased: cannot log in
]

APP_SCOPES = ["openid", "profile"]


def clients(settings: Settings) -> list[dict]:
    """The registered clients (secrets not included)."""
    return [
        {
            "client_id": APP_CLIENT_ID,
            "kind": "public",
            "name": "Ứng dụng Một Cửa",
            "redirect_uris": list(settings.app_redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "allowed_scopes": APP_SCOPES,
        },
        {
            "client_id": "provincial-system",
            "kind": "partner",
            "name": "Hệ thống thông tin giải quyết thủ tục hành chính cấp tỉnh",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["dossiers:read"],
        },
        {
            "client_id": "vietnam-post",
            "kind": "partner",
            "name": "Tổng công ty Bưu điện Việt Nam",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["dossiers:submit-post"],
        },
        {
            "client_id": "vcci",
            "kind": "partner",
            "name": "Liên đoàn Thương mại và Công nghiệp Việt Nam (VCCI) Hà Nội",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["dossiers:read"],
            "unit_code": "VCCI.HN",
        },
        {
            "client_id": "intake",
            "kind": "service",
            "name": "Dịch vụ tiếp nhận hồ sơ (intake)",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["registry:read"],
        },
    ]


def client_secret(settings: Settings, client_id: str) -> str:
    return settings.client_secrets.get(client_id) or f"{client_id}-secret"


async def seed_accounts(conn: asyncpg.Connection, settings: Settings) -> dict[str, int]:
    """Create or update the demo accounts and clients; returns how many of each were (re)written."""
    counts = {"officers": 0, "citizens": 0, "clients": 0, "secrets": 0}
    async with conn.transaction():
        await repo.lock_seed(conn)  # replicas starting together seed one after the other
        existing = await repo.officer_usernames(conn)
        for username, name, unit, roles in OFFICERS:
            pw_hash = "" if username in existing else await hash_secret(settings.demo_password)
            await repo.upsert_officer(conn, username, name, unit, roles, pw_hash)
            counts["officers"] += username not in existing
        have = await repo.citizen_credential_ids(conn)
        for personal_id in CITIZEN_LOGINS:
            if personal_id not in have:
                await repo.insert_citizen_credential(conn, personal_id, await hash_secret(settings.demo_password))
                counts["citizens"] += 1
        for c in clients(settings):
            stored = await repo.client(conn, c["client_id"])
            if c["kind"] == "public":
                await repo.upsert_client(conn, {**c, "secret_hash": None})
            else:
                secret = client_secret(settings, c["client_id"])
                current = stored["secret_hash"] if stored is not None else None
                unchanged = current is not None and await verify_secret(current, secret)
                await repo.upsert_client(
                    conn, {**c, "secret_hash": current if unchanged else await hash_secret(secret)}
                )
                counts["secrets"] += not unchanged
            counts["clients"] += 1
    return counts
