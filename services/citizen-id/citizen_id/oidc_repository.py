"""All SQL of the identity provider: signing keys, accounts, clients, authorization codes, refresh tokens."""

import uuid
from typing import Any

import asyncpg

# Advisory lock keys (one namespace per purpose; migrations use 727001).
KEYS_LOCK = 727101
SEED_LOCK = 727102

# --- signing keys ---


async def lock_keys(conn: asyncpg.Connection) -> None:
    """Serialize key creation and rotation across replicas (until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK)


async def active_key(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT kid, alg, private_key_pem FROM signing_keys WHERE activated_at IS NOT NULL AND retired_at IS NULL"
    )


async def retire_active_key(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval(
        "UPDATE signing_keys SET retired_at = now() WHERE activated_at IS NOT NULL AND retired_at IS NULL RETURNING kid"
    )


async def insert_active_key(conn: asyncpg.Connection, kid: str, private_key_pem: str, public_jwk: dict) -> bool:
    """Insert an active key; False when another one is active already (a concurrent start won)."""
    row = await conn.fetchrow(
        "INSERT INTO signing_keys (kid, private_key_pem, public_jwk, activated_at) VALUES ($1, $2, $3, now())"
        " ON CONFLICT ((true)) WHERE activated_at IS NOT NULL AND retired_at IS NULL DO NOTHING RETURNING kid",
        kid,
        private_key_pem,
        public_jwk,
    )
    return row is not None


async def published_keys(conn: asyncpg.Connection, window_seconds: int) -> list[dict]:
    """Public JWKs of the active key and of keys retired less than ``window_seconds`` ago."""
    rows = await conn.fetch(
        "SELECT public_jwk FROM signing_keys WHERE activated_at IS NOT NULL"
        " AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $1))"
        " ORDER BY retired_at DESC NULLS FIRST, activated_at DESC",
        float(window_seconds),
    )
    return [r["public_jwk"] for r in rows]


async def erase_expired_private_keys(conn: asyncpg.Connection, window_seconds: int) -> list[str]:
    rows = await conn.fetch(
        "UPDATE signing_keys SET private_key_pem = NULL"
        " WHERE retired_at <= now() - make_interval(secs => $1) AND private_key_pem IS NOT NULL RETURNING kid",
        float(window_seconds),
    )
    return [r["kid"] for r in rows]


async def list_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kid, alg, created_at, activated_at, retired_at, private_key_pem IS NOT NULL AS has_private"
        " FROM signing_keys ORDER BY created_at"
    )


# --- accounts and clients ---


async def lock_seed(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SEED_LOCK)


async def officer(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT username, full_name, unit_code, roles, password_hash, active FROM officers WHERE username = $1",
        username,
    )


async def officer_usernames(conn: asyncpg.Connection) -> set[str]:
    return {r["username"] for r in await conn.fetch("SELECT username FROM officers")}


async def upsert_officer(
    conn: asyncpg.Connection, username: str, full_name: str, unit_code: str, roles: list[str], password_hash: str
) -> None:
    """Insert an officer, or bring an existing one's name, unit and roles up to date (never the password)."""
    await conn.execute(
        "INSERT INTO officers (username, full_name, unit_code, roles, password_hash) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (username) DO UPDATE SET full_name = EXCLUDED.full_name, unit_code = EXCLUDED.unit_code,"
        " roles = EXCLUDED.roles",
        username,
        full_name,
        unit_code,
        roles,
        password_hash,
    )


async def citizen_login(conn: asyncpg.Connection, personal_id: str) -> asyncpg.Record | None:
    """The citizen's credentials with their registry record (name, status); None without both."""
    return await conn.fetchrow(
        "SELECT k.personal_id, k.password_hash, k.active, c.full_name, c.status"
        " FROM citizen_credentials k JOIN citizens c ON c.personal_id = k.personal_id WHERE k.personal_id = $1",
        personal_id,
    )


async def citizen_credential_ids(conn: asyncpg.Connection) -> set[str]:
    return {r["personal_id"] for r in await conn.fetch("SELECT personal_id FROM citizen_credentials")}


async def insert_citizen_credential(conn: asyncpg.Connection, personal_id: str, password_hash: str) -> None:
    await conn.execute(
        "INSERT INTO citizen_credentials (personal_id, password_hash) VALUES ($1, $2)"
        " ON CONFLICT (personal_id) DO NOTHING",
        personal_id,
        password_hash,
    )


async def client(conn: asyncpg.Connection, client_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT client_id, kind, name, secret_hash, redirect_uris, grant_types, allowed_scopes, unit_code, active"
        " FROM oauth_clients WHERE client_id = $1",
        client_id,
    )


async def upsert_client(conn: asyncpg.Connection, c: dict[str, Any]) -> None:
    """Insert a client or update its registration (``secret_hash`` None for a public client)."""
    await conn.execute(
        "INSERT INTO oauth_clients (client_id, kind, name, secret_hash, redirect_uris, grant_types,"
        " allowed_scopes, unit_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (client_id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,"
        " secret_hash = EXCLUDED.secret_hash,"
        " redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types,"
        " allowed_scopes = EXCLUDED.allowed_scopes, unit_code = EXCLUDED.unit_code",
        c["client_id"],
        c["kind"],
        c["name"],
        c.get("secret_hash"),
        c.get("redirect_uris", []),
        c["grant_types"],
        c.get("allowed_scopes", []),
        c.get("unit_code"),
    )


async def set_client_secret_hash(conn: asyncpg.Connection, client_id: str, secret_hash: str) -> None:
    await conn.execute("UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1", client_id, secret_hash)


# --- authorization codes ---


async def insert_code(
    conn: asyncpg.Connection,
    *,
    code_hash: str,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    scope: str,
    account_kind: str,
    account_id: str,
    nonce: str | None,
    ttl_seconds: int,
) -> None:
    await conn.execute(
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, scope,"
        " account_kind, account_id, nonce, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
        code_hash,
        client_id,
        redirect_uri,
        code_challenge,
        scope,
        account_kind,
        account_id,
        nonce,
        float(ttl_seconds),
    )


async def claim_code(conn: asyncpg.Connection, code_hash: str) -> asyncpg.Record | None:
    """Lock the code's row; ``expired`` tells whether it outlived its TTL."""
    return await conn.fetchrow(
        "SELECT code_hash, client_id, redirect_uri, code_challenge, scope, account_kind, account_id, nonce,"
        " auth_time, used_at, expires_at <= now() AS expired FROM authorization_codes WHERE code_hash = $1"
        " FOR UPDATE",
        code_hash,
    )


async def mark_code_used(conn: asyncpg.Connection, code_hash: str) -> None:
    await conn.execute("UPDATE authorization_codes SET used_at = now() WHERE code_hash = $1", code_hash)


async def delete_stale_codes(conn: asyncpg.Connection, older_than_seconds: int) -> int:
    status = await conn.execute(
        "DELETE FROM authorization_codes WHERE expires_at < now() - make_interval(secs => $1)",
        float(older_than_seconds),
    )
    return int(status.split()[-1])


async def delete_stale_refresh_tokens(conn: asyncpg.Connection, older_than_seconds: int) -> int:
    status = await conn.execute(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        float(older_than_seconds),
    )
    return int(status.split()[-1])


# --- refresh tokens ---


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    token_hash: str,
    family_id: uuid.UUID,
    client_id: str,
    account_kind: str,
    account_id: str,
    scope: str,
    code_hash: str | None,
    auth_time: Any,
    ttl_seconds: int,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, account_kind, account_id, scope,"
        " code_hash, auth_time, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
        token_hash,
        family_id,
        client_id,
        account_kind,
        account_id,
        scope,
        code_hash,
        auth_time,
        float(ttl_seconds),
    )


async def claim_refresh_token(conn: asyncpg.Connection, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT token_hash, family_id, client_id, account_kind, account_id, scope, code_hash, auth_time,"
        " used_at, revoked_at, expires_at <= now() AS expired FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )


async def mark_refresh_token_used(conn: asyncpg.Connection, token_hash: str) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", token_hash)


async def revoke_family(conn: asyncpg.Connection, family_id: uuid.UUID) -> int:
    status = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL", family_id
    )
    return int(status.split()[-1])


async def revoke_by_code(conn: asyncpg.Connection, code_hash: str) -> int:
    status = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id IN"
        " (SELECT family_id FROM refresh_tokens WHERE code_hash = $1) AND revoked_at IS NULL",
        code_hash,
    )
    return int(status.split()[-1])
