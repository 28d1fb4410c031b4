"""The breaking-change detector (motcua_common.contract_compat): each rule on a tiny before/after pair, so that
the contract tests are known to fail on a breaking change, and to pass a compatible one."""

import copy
from typing import Any

import pytest

from motcua_common.contract_compat import event_breaks, openapi_breaks, schema_breaks

BEFORE: dict[str, Any] = {
    "type": "object",
    "required": ["dossier_id", "status"],
    "properties": {
        "dossier_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": ["accepted", "rejected"]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "reason": {"type": "string", "maxLength": 500},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
    },
    "$defs": {"Step": {"type": "object", "properties": {"name": {"type": "string"}, "days": {"type": "integer"}}}},
}


def changed(edit) -> dict[str, Any]:
    after = copy.deepcopy(BEFORE)
    edit(after)
    return after


BREAKING = {
    "removed field": (lambda s: s["properties"].pop("reason"), "reason: field removed"),
    "new required field": (
        lambda s: (s["properties"].update(unit={"type": "string"}), s["required"].append("unit")),
        "unit: new required field",
    ),
    "optional field became required": (lambda s: s["required"].append("note"), "note: became required"),
    "required field became optional": (lambda s: s["required"].remove("status"), "status: no longer required"),
    "removed enum value": (lambda s: s["properties"]["status"].update(enum=["accepted"]), "['rejected'] removed"),
    "type changed": (lambda s: s["properties"]["reason"].update(type="integer"), "no longer accepted"),
    "null no longer allowed": (
        lambda s: s["properties"].update(note={"type": "string"}),
        "alternative null narrowed or removed",
    ),
    "limit tightened": (lambda s: s["properties"]["reason"].update(maxLength=100), "maxLength tightened"),
    "limit added": (lambda s: s["properties"]["reason"].update(minLength=5), "minLength tightened"),
    "format added": (lambda s: s["properties"]["reason"].update(format="date"), "format None became 'date'"),
    "const added": (lambda s: s["properties"]["reason"].update(const="x"), "const None became 'x'"),
    "extra fields refused": (lambda s: s.update(additionalProperties=False), "extra fields are refused"),
    "nested field removed (through $ref)": (lambda s: s["$defs"]["Step"]["properties"].pop("days"), "days: field"),
    "nested type narrowed (through $ref)": (
        lambda s: s["$defs"]["Step"]["properties"]["days"].update(type="boolean"),
        "data.steps[].days: type ['integer'] no longer accepted",
    ),
}


@pytest.mark.parametrize("rule", BREAKING)
def test_a_breaking_change_is_reported(rule):
    edit, expected = BREAKING[rule]
    problems = schema_breaks(BEFORE, changed(edit))
    assert any(expected in p for p in problems), problems


COMPATIBLE = {
    "nothing changed": lambda s: None,
    "new optional field": lambda s: s["properties"].update(unit={"type": "string"}),
    "new enum value": lambda s: s["properties"]["status"].update(enum=["accepted", "rejected", "withdrawn"]),
    "null allowed": lambda s: s["properties"].update(reason={"anyOf": [{"type": "string"}, {"type": "null"}]}),
    "limit relaxed": lambda s: s["properties"]["reason"].update(maxLength=1000),
    "integer widened to number": lambda s: s["$defs"]["Step"]["properties"]["days"].update(type="number"),
    "description and title edited": lambda s: s["properties"]["reason"].update(description="Why", title="Reason"),
    "definition inlined": lambda s: s["properties"]["steps"].update(items=copy.deepcopy(s["$defs"]["Step"])),
}


@pytest.mark.parametrize("change", COMPATIBLE)
def test_a_compatible_change_passes(change):
    assert schema_breaks(BEFORE, changed(COMPATIBLE[change])) == []


def test_an_event_type_may_go_only_when_a_later_version_exists():
    a, b = {"type": "object"}, {"type": "object", "properties": {"x": {"type": "string"}}}
    assert event_breaks({"vn.x.submitted.v1": a}, {}) == [
        "vn.x.submitted.v1: event type removed without a later version"
    ]
    assert event_breaks({"vn.x.submitted.v1": a}, {"vn.x.submitted.v2": b}) == []
    assert event_breaks({"vn.x.submitted.v2": a}, {"vn.x.submitted.v1": b}) != []


def test_a_breaking_change_is_reported_per_event_type():
    problems = event_breaks({"vn.x.a.v1": BEFORE}, {"vn.x.a.v1": changed(lambda s: s["properties"].pop("note"))})
    assert problems == ["vn.x.a.v1: data.note: field removed"]


def api(version: str = "1.2.0") -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Dossier"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": version},
        "paths": {
            "/api/v1/dossiers/{code}": {
                "get": {
                    "parameters": [
                        {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["vi", "en"]}},
                    ],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": ref}}},
                        "404": {"description": "missing", "content": {"application/problem+json": {"schema": {}}}},
                    },
                },
            },
            "/api/v1/dossiers": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DossierIn"}}},
                    },
                    "responses": {"201": {"description": "made", "content": {"application/json": {"schema": ref}}}},
                }
            },
        },
        "components": {
            "schemas": {
                "Dossier": {
                    "type": "object",
                    "required": ["code", "status"],
                    "properties": {"code": {"type": "string"}, "status": {"type": "string"}},
                },
                "DossierIn": {
                    "type": "object",
                    "required": ["procedure_code"],
                    "properties": {"procedure_code": {"type": "string"}, "note": {"type": "string"}},
                },
            }
        },
    }


def api_changed(edit, version: str = "1.2.0") -> dict[str, Any]:
    doc = api(version)
    edit(doc)
    return doc


GET = ("paths", "/api/v1/dossiers/{code}", "get")
POST = ("paths", "/api/v1/dossiers", "post")


def at(doc: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        doc = doc[k]
    return doc


API_BREAKING = {
    "removed path": (lambda d: d["paths"].pop("/api/v1/dossiers"), "POST /api/v1/dossiers: operation removed"),
    "removed operation": (lambda d: d["paths"]["/api/v1/dossiers/{code}"].pop("get"), "operation removed"),
    "removed response": (lambda d: at(d, *GET)["responses"].pop("404"), "response 404: removed"),
    "removed media type": (
        lambda d: at(d, *GET)["responses"]["200"].update(content={"text/html": {}}),
        "application/json: media type removed",
    ),
    "response field removed": (
        lambda d: d["components"]["schemas"]["Dossier"]["properties"].pop("status"),
        "response 200 application/json.status: field removed",
    ),
    "new required request field": (
        lambda d: (
            d["components"]["schemas"]["DossierIn"]["properties"].update(channel={"type": "string"}),
            d["components"]["schemas"]["DossierIn"]["required"].append("channel"),
        ),
        "request body application/json.channel: new required field",
    ),
    "new required parameter": (
        lambda d: at(d, *GET)["parameters"].append({"name": "unit", "in": "query", "required": True, "schema": {}}),
        "query parameter unit: new required parameter",
    ),
    "parameter became required": (
        lambda d: at(d, *GET)["parameters"][1].update(required=True),
        "query parameter lang: became required",
    ),
    "parameter enum narrowed": (
        lambda d: at(d, *GET)["parameters"][1]["schema"].update(enum=["vi"]),
        "enum value(s) ['en'] removed",
    ),
}


@pytest.mark.parametrize("rule", API_BREAKING)
def test_a_breaking_api_change_is_reported(rule):
    edit, expected = API_BREAKING[rule]
    problems = openapi_breaks(api(), api_changed(edit))
    assert any(expected in p for p in problems), problems


def test_a_new_major_version_may_break():
    edit = API_BREAKING["removed path"][0]
    assert openapi_breaks(api(), api_changed(edit, version="1.3.0")) != []  # a minor bump is not enough
    assert openapi_breaks(api(), api_changed(edit, version="2.0.0")) == []


def test_a_v1_operation_may_go_once_it_is_under_api_v2():
    def move(d):
        d["paths"]["/api/v2/dossiers"] = d["paths"].pop("/api/v1/dossiers")

    assert openapi_breaks(api(), api_changed(move)) == []


def test_compatible_api_changes_pass():
    def grow(d):
        d["paths"]["/api/v1/procedures"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        at(d, *GET)["responses"]["503"] = {"description": "down"}
        at(d, *GET)["parameters"].append({"name": "cursor", "in": "query", "schema": {"type": "string"}})
        d["components"]["schemas"]["Dossier"]["properties"]["due_at"] = {"type": "string", "format": "date-time"}
        d["components"]["schemas"]["DossierIn"]["properties"]["channel"] = {"type": "string"}

    assert openapi_breaks(api(), api_changed(grow)) == []
