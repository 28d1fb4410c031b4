"""Gateway settings (env prefix ``GATEWAY_``; PostgreSQL and identity addresses come from the shared ``MOTCUA_*``
variables, see :class:`motcua_common.settings.ServiceSettings`)."""

from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8000
    intake_url: str = "http://127.0.0.1:8101"
    processing_url: str = "http://127.0.0.1:8102"
    citizen_id_url: str = "http://127.0.0.1:8103"
    notify_url: str = "http://127.0.0.1:8104"
    connect_timeout: float = 2.0
    upstream_timeout: float = 10.0
    # A document upload (POST /api/v1/me/documents) may be larger than a JSON body: intake's document limit
    # (5 MiB by default) plus the multipart framing.
    max_upload_bytes: int = 5 * 1024 * 1024 + 64 * 1024

    # Tokens: verified with citizen-id's keys, fetched from ``jwks_url`` (MOTCUA_JWKS_URL, its internal address)
    # and refreshed when a token names an unknown ``kid``, at most once per this many seconds.
    jwks_min_refresh: float = 5.0

    # The gateway's own database: only the rate-limit counters (shared by every gateway replica).
    database: str = "motcua_gateway"
    db_pool_max: int = 10

    # Rate limits, requests per window (fixed windows of ``rate_window_seconds``, default one minute).
    rate_window_seconds: int = 60
    rate_citizen_per_minute: int = 120  # per citizen (token ``sub``)
    rate_officer_per_minute: int = 300  # per officer (token ``sub``)
    rate_client_per_minute: int = 1200  # per partner or service client (token ``client_id``)
    rate_anonymous_per_minute: int = 120  # per client IP, calls without a token
    rate_public_lookup_per_minute: int = 20  # per client IP, public dossier lookup (anti-enumeration)
    rate_login_per_minute: int = 30  # per client IP, POST /oauth/authorize and /oauth/token (password guessing)
    rate_db_timeout: float = 0.25  # seconds a request may wait for the counter database before failing open
    rate_db_retry: float = 5.0  # after a counter database failure, skip it for this many seconds
    rate_cleanup_interval: float = 60.0  # seconds between deletions of old windows
    # Proxies in front of the gateway that append to X-Forwarded-For (0: the socket peer is the client).
    trusted_proxy_hops: int = 0

    def upstreams(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "processing": self.processing_url,
            "citizen-id": self.citizen_id_url,
            "notify": self.notify_url,
        }
