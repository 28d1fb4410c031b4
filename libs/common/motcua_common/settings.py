"""Settings shared by every service.

Infrastructure addresses (PostgreSQL, Kafka) are read from ``MOTCUA_*`` variables so one environment
configures the whole system; each service subclasses :class:`ServiceSettings` with its own prefix
(``INTAKE_``, ``PROCESSING_``…) for what only it needs.
"""

import os
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .legal_clock import DEFAULT_OFFICE_HOURS, DEFAULT_SAME_DAY_CUTOFF, LegalClock, OfficeHours, WorkingCalendar


def _shared(name: str, default: Any) -> Any:
    """A setting every service shares: read from ``MOTCUA_<NAME>`` only (a bare ``PG_PORT`` or ``DOSSIER_TOPIC``
    in the environment belongs to someone else and is ignored). ``populate_by_name`` keeps the keyword argument
    (``Settings(pg_port=…)``) working: pydantic-settings reads the environment under the alias alone."""
    return Field(default, validation_alias=f"MOTCUA_{name.upper()}")


def _kafka_bootstrap() -> str:
    """The broker ``scripts/infra/kafka.sh`` starts: 127.0.0.1 on ``MOTCUA_KAFKA_PORT`` (59092), so infrastructure
    moved to other ports with ``MOTCUA_PG_PORT`` / ``MOTCUA_KAFKA_PORT`` is the one the services and tests reach,
    not a broker someone else runs on the default port. ``MOTCUA_KAFKA_BOOTSTRAP`` names any other broker."""
    return f"127.0.0.1:{os.environ.get('MOTCUA_KAFKA_PORT') or 59092}"


class ServiceSettings(BaseSettings):
    # Subclasses set their own prefix (INTAKE_, PROCESSING_…); the base class alone reads MOTCUA_*.
    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore", populate_by_name=True)

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8100

    pg_host: str = _shared("pg_host", "127.0.0.1")
    pg_port: int = _shared("pg_port", 55432)
    pg_user: str = _shared("pg_user", "postgres")
    pg_password: str = _shared("pg_password", "")
    database: str = "postgres"
    db_pool_max: int = 10
    # Longest wait for a pool connection (a free one, or a new one to a database that is slow or away): past it
    # the request answers 503 with Retry-After instead of queueing without end.
    db_acquire_timeout: float = 2.0

    kafka_bootstrap: str = Field(default_factory=_kafka_bootstrap, validation_alias="MOTCUA_KAFKA_BOOTSTRAP")
    dossier_topic: str = _shared("dossier_topic", "motcua.dossier.events")
    dlq_topic: str = _shared("dlq_topic", "motcua.dossier.events.dlq")
    personal_topic: str = _shared("personal_topic", "motcua.personal.events")
    # Procedure versions as intake publishes them (key = procedure code); processing keeps a copy of each.
    catalogue_topic: str = _shared("catalogue_topic", "motcua.catalogue.events")
    consumer_group_prefix: str = _shared("consumer_group_prefix", "")
    # Records a consumer applies in one transaction (motcua_common.consumer); 1 = one transaction per record.
    consumer_batch_size: int = Field(100, ge=1, validation_alias="MOTCUA_CONSUMER_BATCH_SIZE")
    # How long the broker may hold a fetch of a consumer group that is not in a hurry (``Runtime.consume(…,
    # background=True)``: statistics, the portal's reports, the vault, registry corrections) to gather more records
    # in one answer: fewer fetches, bigger chunks (issue 7). 0 = answer as soon as there is a record.
    consumer_background_wait_ms: int = Field(250, ge=0, le=5000, validation_alias="MOTCUA_CONSUMER_BACKGROUND_WAIT_MS")
    # Kafka authentication (docs/kafka-security.md). Protocol and mechanism are the same for every service
    # (MOTCUA_KAFKA_SECURITY_PROTOCOL, MOTCUA_KAFKA_SASL_MECHANISM); each service logs in as itself through its
    # own prefix (INTAKE_KAFKA_USERNAME, INTAKE_KAFKA_PASSWORD…). Defaults: the username is the service name,
    # the password MOTCUA_KAFKA_PASSWORD_<USER> (what scripts/infra/kafka.sh gives the broker) or the dev
    # secret `<user>-kafka-secret`.
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"] = _shared(
        "kafka_security_protocol", "SASL_PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = _shared(
        "kafka_sasl_mechanism", "SCRAM-SHA-256"
    )
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None

    # Identity: tokens are issued by citizen-id (the mock VNeID provider) under the public issuer (the gateway's
    # base URL); services fetch the provider's keys from its internal JWKS address.
    issuer: str = Field("http://127.0.0.1:8000", validation_alias="MOTCUA_ISSUER")
    audience: str = Field("motcua", validation_alias="MOTCUA_AUDIENCE")
    jwks_url: str = Field("http://127.0.0.1:8103/oauth/jwks", validation_alias="MOTCUA_JWKS_URL")
    token_url: str = Field("http://127.0.0.1:8103/oauth/token", validation_alias="MOTCUA_TOKEN_URL")

    # The legal clock (docs/calendar.md): the same for every service, so intake's appointment and processing's
    # deadlines agree. calendar_file: a deployment's own calendar file on top of the shipped national data.
    timezone: str = _shared("timezone", "Asia/Ho_Chi_Minh")
    office_hours: str = _shared("office_hours", str(DEFAULT_OFFICE_HOURS))
    same_day_cutoff: str = _shared("same_day_cutoff", f"{DEFAULT_SAME_DAY_CUTOFF:%H:%M}")
    calendar_file: Path | None = _shared("calendar_file", None)

    max_body_bytes: int = _shared("max_body_bytes", 1_048_576)
    otel_exporter: Literal["none", "console"] = _shared("otel_exporter", "none")
    # Share of traces recorded when an exporter is set (the gateway decides, the rest follow the traceparent).
    otel_sample_ratio: float = Field(1.0, ge=0.0, le=1.0, validation_alias="MOTCUA_OTEL_SAMPLE_RATIO")

    @model_validator(mode="after")
    def _kafka_credentials(self) -> "ServiceSettings":
        if not self.kafka_username:
            self.kafka_username = self.service_name
        if self.kafka_password is None:
            env = os.environ.get("MOTCUA_KAFKA_PASSWORD_" + self.kafka_username.upper().replace("-", "_"))
            self.kafka_password = SecretStr(env or f"{self.kafka_username}-kafka-secret")
        return self

    @property
    def dsn(self) -> str:
        auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
        return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{self.database}"

    def legal_clock(self) -> LegalClock:
        """The legal clock these settings describe (reads the calendar files: call it once, in the app factory)."""
        return LegalClock(
            WorkingCalendar.default(self.calendar_file),
            ZoneInfo(self.timezone),
            OfficeHours.parse(self.office_hours),
            time.fromisoformat(self.same_day_cutoff),
        )
