"""Contracts: the committed event schemas, catalogue and public OpenAPI document are what the code generates,
the code breaks none of them, nor does a snapshot break the one of the last commit; real events validate against
their committed schemas. The breaking-change rules themselves are tested in tests/test_contract_compat.py."""

import functools
import importlib.util
import json
import os
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from motcua_common.contracts import CATALOGUE_EVENTS, DOSSIER_EVENTS, PERSONAL_EVENTS, PORTAL_EVENTS, PortalStatistics
from motcua_common.events import build_event
from motcua_common.testing import sample_submitted

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_contracts", ROOT / "scripts" / "gen_contracts.py")
assert _spec is not None and _spec.loader is not None
gen_contracts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_contracts)


@functools.cache
def rendered() -> dict[Path, str]:
    """What `make contracts` would write now (building the merged OpenAPI document takes some seconds)."""
    return gen_contracts.render()


def test_committed_contracts_match_the_models():
    stale = [
        str(p.relative_to(ROOT))
        for p, text in rendered().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `make contracts` and commit: {stale}"


def test_the_code_breaks_no_committed_contract():
    """A removed field, a new required field, a narrowed type, a removed operation or response fails here until
    it is published as a new version (a new event type `.vN`; the API's major version or /api/v2 paths)."""
    breaking = gen_contracts.breaking_changes(gen_contracts.committed(), rendered())
    assert not breaking, "breaking changes to the committed contracts:\n" + "\n".join(breaking)


def _at_base() -> dict[Path, str]:
    """The contracts of the last commit (or of ``CONTRACTS_BASE``, e.g. ``origin/main`` for a branch's CI)."""
    base = os.environ.get("CONTRACTS_BASE", "HEAD")
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", base, "--", "contracts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        ROOT / name: subprocess.run(
            ["git", "show", f"{base}:{name}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for name in listed
        if name.endswith(".schema.json") or name == "contracts/openapi.json"
    }


def test_the_snapshots_break_nothing_of_the_last_commit():
    """A snapshot regenerated (or edited by hand) in a breaking way is caught before it is committed."""
    breaking = gen_contracts.breaking_changes(_at_base(), gen_contracts.committed())
    assert not breaking, "the contracts on disk break the committed ones:\n" + "\n".join(breaking)


def test_every_event_type_is_in_the_catalogue():
    catalogue = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    asyncapi = json.loads((ROOT / "contracts" / "asyncapi.json").read_text(encoding="utf-8"))
    names = {m["name"] for m in asyncapi["components"]["messages"].values()}
    for type_name in {**DOSSIER_EVENTS, **PERSONAL_EVENTS, **CATALOGUE_EVENTS, **PORTAL_EVENTS}:
        assert f"## `{type_name}`" in catalogue
        assert type_name in names


def _schema(type_name: str) -> dict:
    return json.loads((ROOT / "contracts" / "events" / f"{type_name}.schema.json").read_text(encoding="utf-8"))


def test_a_real_event_validates_against_its_committed_schema():
    data = sample_submitted(dossier_code="000.26.01.H29-261121-0001")
    event = build_event(data, source="/motcua/intake", subject=data.dossier_code)
    jsonschema.validate(event.data, _schema(event.type))


@pytest.mark.parametrize("type_name", [*DOSSIER_EVENTS, *PERSONAL_EVENTS])
def test_schema_rejects_a_payload_missing_its_dossier_code(type_name):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"dossier_id": str(uuid.uuid4())}, _schema(type_name))


# --- The AsyncAPI document: envelope, Kafka key, examples (issue 5) --------------------------------------------


def _asyncapi() -> dict:
    return json.loads((ROOT / "contracts" / "asyncapi.json").read_text(encoding="utf-8"))


def _messages() -> dict[str, dict]:
    return {m["name"]: m for m in _asyncapi()["components"]["messages"].values()}


def test_every_message_envelope_requires_id_specversion_and_time():
    messages = _messages()
    assert set(messages) == set(gen_contracts.ALL_EVENTS)
    for name, message in messages.items():
        envelope = message["payload"]
        assert {"id", "specversion", "time", "source", "type", "data"} <= set(envelope["required"]), name
        assert envelope["properties"]["specversion"]["const"] == "1.0"
        assert envelope["properties"]["type"]["const"] == name
        with pytest.raises(jsonschema.ValidationError):  # the schema itself refuses an event without them
            jsonschema.validate({"source": "/x", "type": name, "data": {}}, {**envelope, "properties": {}})


def test_dossier_and_state_messages_require_their_sequence_number():
    for name, message in _messages().items():
        envelope = message["payload"]
        if name in PERSONAL_EVENTS or name == PortalStatistics.type_name():  # not a dossier's history
            assert "sequence" not in envelope["properties"], name
            continue
        assert "sequence" in envelope["required"], name
        pattern = envelope["properties"]["sequence"]["pattern"]
        jsonschema.validate("0000000012", {"type": "string", "pattern": pattern})
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate("12", {"type": "string", "pattern": pattern})


def test_every_message_states_its_kafka_key():
    for name, message in _messages().items():
        key = message["bindings"]["kafka"]["key"]
        if name == PortalStatistics.type_name():  # a unit's reports, keyed by its code
            assert key["type"] == "string" and "unit code" in key["description"]
            continue
        if name in CATALOGUE_EVENTS:  # a procedure's versions, keyed by its code
            assert (
                key == {"type": "string", "description": key["description"]} and "procedure code" in key["description"]
            )
            continue
        assert key["type"] == "string" and key["format"] == "uuid", name
        assert "dossier id" in key["description"]
    channels = _asyncapi()["channels"]
    catalogue = channels["catalogueEvents"]
    assert catalogue["address"] == "motcua.catalogue.events" and set(catalogue["messages"]) == {
        "ProcedureVersionPublished"
    }
    assert catalogue["bindings"]["kafka"]["topicConfiguration"] == {"cleanup.policy": ["delete"], "retention.ms": -1}
    state = channels["dossierState"]
    assert state["address"] == "motcua.dossier.state"
    assert state["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    assert set(state["messages"]) == {"DossierState"}
    retention = channels["dossierEvents"]["bindings"]["kafka"]["topicConfiguration"]["retention.ms"]
    assert retention == 30 * 86_400_000


def test_every_message_carries_an_example_that_validates():
    for name, message in _messages().items():
        [example] = message["examples"]
        envelope = example["payload"]
        assert envelope["type"] == name and envelope["specversion"] == "1.0"
        schema = json.loads(json.dumps(message["payload"]))
        schema["properties"]["data"] = _schema(name)
        jsonschema.validate(envelope, schema)
        assert example["headers"]["content-type"].startswith("application/cloudevents+json")
        assert gen_contracts.key_of(name, envelope["data"]) in example["summary"]  # the record's key


def test_a_state_event_validates_against_its_committed_schema():
    from motcua_common.contracts import STATE_EVENTS

    [(type_name, model)] = STATE_EVENTS.items()
    data = model.model_validate(gen_contracts.example_envelope(type_name)["data"])
    event = build_event(data.in_sequence(data.sequence), source="/motcua/processing", subject=data.dossier_code)
    assert event.sequence == f"{data.sequence:010d}"
    jsonschema.validate(event.data, _schema(event.type))


def test_a_published_version_validates_against_its_committed_schema():
    """The catalogue event as intake builds it from a shipped definition (the full data, not the small example)."""
    from intake.settings import Settings
    from intake.versions import read_shipped
    from motcua_common.contracts import ProcedureVersionPublished

    published_at = datetime.fromisoformat("2026-11-20T09:00:00+07:00")
    for definition in read_shipped(Settings().catalogue_dir):
        data = ProcedureVersionPublished(**definition.model_dump(), published_at=published_at)
        event = build_event(data.in_sequence(definition.version), source="/motcua/intake", subject=definition.code)
        jsonschema.validate(event.data, _schema(event.type))
