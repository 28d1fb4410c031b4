"""Settings of the notify service (env prefix ``NOTIFY_``; shared infrastructure from ``MOTCUA_*``)."""

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True)

    service_name: str = "notify"
    port: int = 8104
    database: str = "motcua_notify"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_timeout: float = 10.0
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Một Cửa <no-reply@motcua.gov.vn>"

    # SMS and OTT providers (HTTP): the local simulators by default (notify.simulators, `make run`).
    sms_provider_url: str = "http://127.0.0.1:8105/sms"
    ott_provider_url: str = "http://127.0.0.1:8105/ott"
    provider_timeout: float = 5.0
    # Vietnamese SMS gateways commonly take unaccented text only (docs/notifications.md): strip the diacritics.
    sms_ascii_only: bool = True
    # Where providers post delivery receipts (notify's own address as they see it) and the secret they sign with.
    callback_base_url: str = "http://127.0.0.1:8104"
    provider_callback_secret: SecretStr = SecretStr("dev-only-provider-callback-secret")

    max_attempts: int = 5
    sender_poll_interval: float = 1.0
    sender_batch_size: int = 50
    # A claimed row is hidden from other replicas this long; it must outlast one batch of sends
    # (each bounded by smtp_timeout), so a crashed sender's rows are retried, not lost.
    sender_lease: float = 60.0
    retry_backoff_max: float = 300.0

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> "Settings":
        if self.sender_lease <= max(self.smtp_timeout, self.provider_timeout):
            raise ValueError("sender_lease must be longer than smtp_timeout and provider_timeout")
        return self
