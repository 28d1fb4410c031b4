"""Settings of the citizen-id service (env prefix ``CITIZEN_ID_``)."""

from pydantic_settings import SettingsConfigDict

from motcua_common import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CITIZEN_ID_", extra="ignore", populate_by_name=True)

    service_name: str = "citizen-id"
    port: int = 8103
    database: str = "motcua_citizen_id"

    # --- identity provider (mock VNeID) ---
    access_token_ttl: int = 600  # seconds; access and id tokens
    refresh_token_ttl: int = 30 * 24 * 3600  # seconds; each rotation issues a new one for this long
    authorization_code_ttl: int = 60  # seconds; single use
    # A retired signing key stays in the JWKS for access_token_ttl + this (verifiers' leeway, clock skew).
    key_retire_grace: int = 300
    # Secret of the citizens' opaque subject ids (citizen_id.subjects): never change it once in use.
    subject_secret: str = "motcua-dev-subject-secret"
    # Demo accounts and clients (citizen_id.accounts): seeded at start when seed_demo_accounts is true.
    seed_demo_accounts: bool = True
    demo_password: str = "demo1234"
    # Client secrets by client id, e.g. CITIZEN_ID_CLIENT_SECRETS='{"intake": "..."}'; default
    # "<client_id>-secret" (development only).
    client_secrets: dict[str, str] = {}
    # The demo callback page, the mobile app, and the web dashboard served by the gateway at /dashboard/ (a
    # loopback URI matches on any port, so a gateway on another local port is accepted too).
    app_redirect_uris: list[str] = [
        "http://127.0.0.1:8000/oauth/callback",
        "vn.motcua.app:/oauth/callback",
        "http://127.0.0.1:8000/dashboard/",
    ]
    provider_name: str = "VNeID (mô phỏng)"
    login_demo_hint: bool = True  # show the demo accounts on the login page (turn off outside demos)
