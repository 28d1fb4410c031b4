"""Settings of the citizen-id service (env prefix ``CITIZEN_ID_``)."""

from pydantic_settings import SettingsConfigDict

from motcua_common import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CITIZEN_ID_", extra="ignore", populate_by_name=True)

    service_name: str = "citizen-id"
    port: int = 8103
    database: str = "motcua_citizen_id"
    # Key of the HMAC that turns a personal id into the citizen's opaque subject id (token `sub`).
    subject_secret: str = "dev-subject-secret"
