"""Settings shared by every service.

Infrastructure addresses (PostgreSQL, Kafka) are read from ``MOTCUA_*`` variables so one environment
configures the whole system; each service subclasses :class:`ServiceSettings` with its own prefix
(``INTAKE_``, ``PROCESSING_``…) for what only it needs.
"""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str, default):
    return Field(default, validation_alias=AliasChoices(name, f"MOTCUA_{name.upper()}"))


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8100

    pg_host: str = _shared("pg_host", "127.0.0.1")
    pg_port: int = _shared("pg_port", 55432)
    pg_user: str = _shared("pg_user", "postgres")
    pg_password: str = _shared("pg_password", "")
    database: str = "postgres"
    db_pool_max: int = 10

    kafka_bootstrap: str = _shared("kafka_bootstrap", "127.0.0.1:59092")
    dossier_topic: str = _shared("dossier_topic", "motcua.dossier.events")
    dlq_topic: str = _shared("dlq_topic", "motcua.dossier.events.dlq")
    personal_topic: str = _shared("personal_topic", "motcua.personal.events")
    consumer_group_prefix: str = _shared("consumer_group_prefix", "")

    # Identity: tokens are issued by citizen-id (the mock VNeID provider) under the public issuer (the gateway's
    # base URL); services fetch the provider's keys from its internal JWKS address.
    issuer: str = Field("http://127.0.0.1:8000", validation_alias=AliasChoices("issuer", "MOTCUA_ISSUER"))
    audience: str = Field("motcua", validation_alias=AliasChoices("audience", "MOTCUA_AUDIENCE"))
    jwks_url: str = Field(
        "http://127.0.0.1:8103/oauth/jwks", validation_alias=AliasChoices("jwks_url", "MOTCUA_JWKS_URL")
    )
    token_url: str = Field(
        "http://127.0.0.1:8103/oauth/token", validation_alias=AliasChoices("token_url", "MOTCUA_TOKEN_URL")
    )

    max_body_bytes: int = _shared("max_body_bytes", 1_048_576)
    otel_exporter: Literal["none", "console"] = _shared("otel_exporter", "none")

    @property
    def dsn(self) -> str:
        auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
        return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{self.database}"
