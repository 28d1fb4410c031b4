"""Only the documented environment variables configure a service: ``MOTCUA_*`` for what every service shares and
the service's own prefix for the rest. Bare names (``PG_PORT``, ``DOSSIER_TOPIC``) are someone else's."""

from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """A service's settings as every service declares them (the shared lib imports no service)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)
    service_name: str = "intake"
    database: str = "motcua_intake"


BARE = {
    "PG_PORT": "1",
    "PG_HOST": "192.0.2.1",
    "DOSSIER_TOPIC": "x",
    "KAFKA_BOOTSTRAP": "192.0.2.1:1",
    "KAFKA_PORT": "1",
    "ISSUER": "http://192.0.2.1",
    "AUDIENCE": "x",
    "JWKS_URL": "http://192.0.2.1/jwks",
    "MAX_BODY_BYTES": "7",
}


def test_unprefixed_variables_are_ignored(monkeypatch):
    defaults = {cls: cls() for cls in (ServiceSettings, IntakeSettings)}
    for name, value in BARE.items():
        monkeypatch.setenv(name, value)
    for cls, default in defaults.items():
        s = cls()
        assert s.pg_port == default.pg_port
        assert s.pg_host == default.pg_host
        assert s.dossier_topic == default.dossier_topic
        assert s.kafka_bootstrap == default.kafka_bootstrap
        assert s.issuer == default.issuer
        assert s.audience == default.audience
        assert s.jwks_url == default.jwks_url
        assert s.max_body_bytes == default.max_body_bytes


def test_documented_variables_and_keywords_still_work(monkeypatch):
    monkeypatch.setenv("MOTCUA_PG_PORT", "6543")
    monkeypatch.setenv("MOTCUA_DOSSIER_TOPIC", "t.events")
    monkeypatch.setenv("MOTCUA_ISSUER", "http://127.0.0.1:9999")
    monkeypatch.setenv("INTAKE_DATABASE", "intake_x")
    s = IntakeSettings()
    assert (s.pg_port, s.dossier_topic, s.issuer, s.database) == (6543, "t.events", "http://127.0.0.1:9999", "intake_x")
    kw = IntakeSettings(pg_port=7777, dossier_topic="kw.events", issuer="http://127.0.0.1:1")
    assert (kw.pg_port, kw.dossier_topic, kw.issuer) == (7777, "kw.events", "http://127.0.0.1:1")
    assert "7777" in kw.dsn


def test_the_broker_follows_the_port_the_infrastructure_was_started_on(monkeypatch):
    monkeypatch.delenv("MOTCUA_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("MOTCUA_KAFKA_PORT", raising=False)
    assert IntakeSettings().kafka_bootstrap == "127.0.0.1:59092"
    monkeypatch.setenv("MOTCUA_KAFKA_PORT", "59112")  # as `MOTCUA_KAFKA_PORT=59112 make test` starts it
    assert IntakeSettings().kafka_bootstrap == ServiceSettings().kafka_bootstrap == "127.0.0.1:59112"
    monkeypatch.setenv("MOTCUA_KAFKA_BOOTSTRAP", "127.0.0.1:7000")
    assert IntakeSettings().kafka_bootstrap == "127.0.0.1:7000"
    assert IntakeSettings(kafka_bootstrap="127.0.0.1:7001").kafka_bootstrap == "127.0.0.1:7001"
