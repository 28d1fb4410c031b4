import json

from pydantic import BaseModel, field_validator
from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class Officer(BaseModel):
    id: str
    name: str
    unit_code: str


DEMO_OFFICERS = {
    "demo-officer-token": Officer(id="canbo.hoankiem.01", name="Nguyễn Thị Hoa", unit_code="000.26.01.H29"),
    "demo-police-token": Officer(id="congan.hoankiem.01", name="Trần Văn Minh", unit_code="000.26.02.H29"),
}


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
    # Bearer token -> officer. A stand-in for the identity provider's officer login (not built yet);
    # set GATEWAY_OFFICER_TOKENS to a JSON object to replace the demo tokens.
    officer_tokens: dict[str, Officer] = DEMO_OFFICERS

    @field_validator("officer_tokens", mode="before")
    @classmethod
    def _parse(cls, value):
        return json.loads(value) if isinstance(value, str) else value

    def upstreams(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "processing": self.processing_url,
            "citizen-id": self.citizen_id_url,
            "notify": self.notify_url,
        }
