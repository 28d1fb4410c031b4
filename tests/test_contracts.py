"""Event contracts: the committed schemas and catalogue are what the models generate, and real events
validate against them."""

import importlib.util
import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from motcua_common.contracts import DOSSIER_EVENTS, PERSONAL_EVENTS
from motcua_common.events import build_event
from motcua_common.testing import sample_submitted

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_contracts", ROOT / "scripts" / "gen_contracts.py")
assert _spec is not None and _spec.loader is not None
gen_contracts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_contracts)


def test_committed_contracts_match_the_models():
    stale = [
        str(p.relative_to(ROOT))
        for p, text in gen_contracts.render().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `make contracts` and commit: {stale}"


def test_every_event_type_is_in_the_catalogue():
    catalogue = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    asyncapi = json.loads((ROOT / "contracts" / "asyncapi.json").read_text(encoding="utf-8"))
    names = {m["name"] for m in asyncapi["components"]["messages"].values()}
    for type_name in {**DOSSIER_EVENTS, **PERSONAL_EVENTS}:
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
