"""The processing service's settings (env prefix ``PROCESSING_``; shared ones come from ``MOTCUA_*``)."""

from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore", populate_by_name=True)

    service_name: str = "processing"
    port: int = 8102
    database: str = "motcua_processing"
    event_source: str = "/motcua/processing"
