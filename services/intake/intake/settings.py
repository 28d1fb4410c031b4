from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings

PACKAGE_DIR = Path(__file__).parent


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    service_name: str = "intake"
    port: int = 8101
    database: str = "motcua_intake"
    citizen_id_url: str = "http://127.0.0.1:8103"
    citizen_id_timeout: float = 3.0
    # The shipped procedure versions, one JSON file per version (loaded by `make migrate`).
    catalogue_dir: Path = PACKAGE_DIR / "catalogue"

    # Intake's own client credentials at the identity provider (service-to-service calls to citizen-id).
    client_id: str = "intake"
    client_secret: SecretStr = SecretStr("intake-secret")  # INTAKE_CLIENT_SECRET
    registry_scope: str = "registry:read"

    # The document vault.
    max_document_bytes: int = 5 * 1024 * 1024  # INTAKE_MAX_DOCUMENT_BYTES
