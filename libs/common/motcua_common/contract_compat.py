"""Breaking changes between two versions of a contract: an event's JSON Schema or the public OpenAPI document.

The rules (the same whichever side reads or writes, so a change that could break either fails):

- a removed field (property), or a field that is no longer required where it was;
- a new required field;
- a narrowed type: a JSON type, an ``anyOf``/``oneOf`` alternative or an ``enum`` value taken away, a ``const``,
  ``format`` or ``pattern`` changed or added, a length/size/range limit added or tightened, extra fields refused;
- OpenAPI: a removed path or operation, a removed response status or media type, a new required parameter, and
  the rules above on every parameter, request body and response schema.

A breaking change is allowed only as a new version beside the old one: an event as a new ``.vN`` type (the old
type may then be retired), the API by a higher ``info.version`` major or under ``/api/v2`` (an ``/api/v1``
operation may be removed once the same operation exists under ``/api/v2``).

A hand-written walker, because the libraries that diff OpenAPI documents are Java or Go programs (openapi-diff,
oasdiff) that this Python workspace cannot pin in its lock, and JSON Schema diff libraries on PyPI do not follow
``$ref`` into ``$defs``/``components`` nor know these rules.
"""

import re
from typing import Any

Schema = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_LIMITS_MAX = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LIMITS_MIN = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


class _Walker:
    """Compares two schemas node by node, resolving local ``$ref`` in each side's own document."""

    def __init__(self, old_doc: Schema, new_doc: Schema):
        self.old_doc, self.new_doc = old_doc, new_doc
        self.problems: list[str] = []
        self._seen: set[tuple[str, str, str]] = set()

    def _resolve(self, doc: Schema, node: Any) -> Any:
        hops = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = doc
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **extra} if extra else target
            hops += 1
            if hops > 50:
                break
        return node

    def compare(self, old: Any, new: Any, where: str) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            key = (where, str(old.get("$ref")), str(new.get("$ref")))
            if "$ref" in old and key in self._seen:
                return  # a recursive schema already being compared here
            self._seen.add(key)
        old, new = self._resolve(self.old_doc, old), self._resolve(self.new_doc, new)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return
        self._alternatives(old, new, where)
        self._types(old, new, where)
        self._values(old, new, where)
        self._limits(old, new, where)
        self._properties(old, new, where)
        if "items" in old and "items" in new:
            self.compare(old["items"], new["items"], f"{where}[]")
        elif "items" in new and "items" not in old and _type_set(old) & {"array"}:
            self.compare({}, new["items"], f"{where}[]")

    def _alternatives(self, old: Schema, new: Schema, where: str) -> None:
        old_alts = old.get("anyOf") or old.get("oneOf")
        new_alts = new.get("anyOf") or new.get("oneOf")
        if old_alts is None and new_alts is None:
            return
        old_list, new_list = (
            old_alts or [_without(old, "anyOf", "oneOf")],
            new_alts or [_without(new, "anyOf", "oneOf")],
        )
        for i, alt in enumerate(old_list):
            # the old alternative must still be accepted by some new one (first one that breaks nothing)
            trials = []
            for candidate in new_list:
                walker = _Walker(self.old_doc, self.new_doc)
                walker.compare(alt, candidate, f"{where}|{i}")
                trials.append(walker.problems)
                if not walker.problems:
                    break
            else:
                best = min(trials, key=len) if trials else [f"{where}: alternative {i} removed"]
                self.problems.append(
                    f"{where}: alternative {_describe(self._resolve(self.old_doc, alt))} narrowed or removed"
                )
                self.problems.extend(best)

    def _types(self, old: Schema, new: Schema, where: str) -> None:
        if old.get("anyOf") or old.get("oneOf") or new.get("anyOf") or new.get("oneOf"):
            return  # compared alternative by alternative
        old_types, new_types = _type_set(old), _type_set(new)
        if not new_types:
            return  # any type is accepted now
        if not old_types:
            self.problems.append(f"{where}: type narrowed from any to {sorted(new_types)}")
            return
        lost = old_types - new_types
        if "integer" in lost and "number" in new_types:
            lost.discard("integer")
        if lost:
            self.problems.append(f"{where}: type {sorted(lost)} no longer accepted (now {sorted(new_types)})")

    def _values(self, old: Schema, new: Schema, where: str) -> None:
        if "enum" in new:
            old_values = old.get("enum", [old["const"]] if "const" in old else None)
            if old_values is None:
                self.problems.append(f"{where}: now restricted to {new['enum']}")
            else:
                removed = [v for v in old_values if v not in new["enum"]]
                if removed:
                    self.problems.append(f"{where}: enum value(s) {removed} removed")
        if "const" in new and old.get("const") != new["const"]:
            if not ("enum" in old and old["enum"] == [new["const"]]):
                self.problems.append(f"{where}: const {old.get('const')!r} became {new['const']!r}")
        for key in ("format", "pattern"):
            if key in new and old.get(key) != new[key]:
                self.problems.append(f"{where}: {key} {old.get(key)!r} became {new[key]!r}")

    def _limits(self, old: Schema, new: Schema, where: str) -> None:
        for key in _LIMITS_MAX:
            if key in new and (key not in old or new[key] < old[key]):
                self.problems.append(f"{where}: {key} tightened from {old.get(key)} to {new[key]}")
        for key in _LIMITS_MIN:
            if key in new and (key not in old or new[key] > old[key]):
                self.problems.append(f"{where}: {key} tightened from {old.get(key)} to {new[key]}")
        if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
            self.problems.append(f"{where}: extra fields are refused now")

    def _properties(self, old: Schema, new: Schema, where: str) -> None:
        old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
        old_req, new_req = set(old.get("required") or []), set(new.get("required") or [])
        for name in old_props:
            if name not in new_props:
                self.problems.append(f"{where}.{name}: field removed")
            else:
                self.compare(old_props[name], new_props[name], f"{where}.{name}")
        for name in sorted(new_req - old_req):
            if name in old_props:
                self.problems.append(f"{where}.{name}: became required")
            else:
                self.problems.append(f"{where}.{name}: new required field")
        for name in sorted(old_req - new_req):
            if name in new_props:
                self.problems.append(f"{where}.{name}: no longer required (readers relied on it)")


def _type_set(schema: Schema) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    types = {t} if isinstance(t, str) else set(t)
    if schema.get("nullable"):
        types.add("null")
    return types


def _without(schema: Schema, *keys: str) -> Schema:
    return {k: v for k, v in schema.items() if k not in keys}


def _describe(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("title") or schema.get("type") or schema.get("const") or "schema")
    return "schema"


def schema_breaks(old: Schema, new: Schema, where: str = "data") -> list[str]:
    """What ``new`` breaks of ``old`` (two JSON Schemas of one event type's data)."""
    walker = _Walker(old, new)
    walker.compare(old, new, where)
    return walker.problems


def event_breaks(old: dict[str, Schema], new: dict[str, Schema]) -> list[str]:
    """Breaking changes between two sets of event schemas (type name → schema). A type may disappear only when a
    later version of it (``….vN`` with a higher N) exists."""
    problems = []
    for type_name, old_schema in sorted(old.items()):
        if type_name in new:
            problems += [f"{type_name}: {p}" for p in schema_breaks(old_schema, new[type_name])]
        elif not _has_later_version(type_name, new):
            problems.append(f"{type_name}: event type removed without a later version")
    return problems


def _has_later_version(type_name: str, types: dict[str, Any]) -> bool:
    m = re.fullmatch(r"(.+)\.v(\d+)", type_name)
    if m is None:
        return False
    stem, version = m.group(1), int(m.group(2))
    return any(
        (n := re.fullmatch(rf"{re.escape(stem)}\.v(\d+)", other)) is not None and int(n.group(1)) > version
        for other in types
    )


def _major(doc: Schema) -> int:
    m = re.match(r"\d+", str(doc.get("info", {}).get("version", "0")))
    return int(m.group()) if m else 0


def openapi_breaks(old: Schema, new: Schema) -> list[str]:
    """What ``new`` breaks of ``old`` (two OpenAPI 3 documents); nothing when the ``info.version`` major grew."""
    if _major(new) > _major(old):
        return []
    walker = _Walker(old, new)
    new_paths = new.get("paths", {})
    for path, old_item in sorted(old.get("paths", {}).items()):
        for method in METHODS:
            if method not in old_item:
                continue
            op = f"{method.upper()} {path}"
            new_op = new_paths.get(path, {}).get(method)
            if new_op is None:
                successor = path.replace("/api/v1/", "/api/v2/", 1)
                if successor == path or method not in new_paths.get(successor, {}):
                    walker.problems.append(f"{op}: operation removed")
                continue
            _operation(walker, op, old_item[method], new_op, old_item, new_paths[path])
    return walker.problems


def _params(item: Schema, op: Schema, walker: _Walker, doc: Schema) -> dict[tuple[str, str], Schema]:
    out = {}
    for p in [*item.get("parameters", []), *op.get("parameters", [])]:
        p = walker._resolve(doc, p)
        out[(p.get("in", ""), p.get("name", ""))] = p
    return out


def _operation(w: _Walker, op: str, old: Schema, new: Schema, old_item: Schema, new_item: Schema) -> None:
    old_params, new_params = _params(old_item, old, w, w.old_doc), _params(new_item, new, w, w.new_doc)
    for key, p in new_params.items():
        where = f"{op} {key[0]} parameter {key[1]}"
        if key not in old_params:
            if p.get("required"):
                w.problems.append(f"{where}: new required parameter")
            continue
        if p.get("required") and not old_params[key].get("required"):
            w.problems.append(f"{where}: became required")
        w.compare(old_params[key].get("schema", {}), p.get("schema", {}), where)
    old_body, new_body = w._resolve(w.old_doc, old.get("requestBody")), w._resolve(w.new_doc, new.get("requestBody"))
    if new_body:
        if old_body is None:
            if new_body.get("required"):
                w.problems.append(f"{op} request body: new required body")
        else:
            if new_body.get("required") and not old_body.get("required"):
                w.problems.append(f"{op} request body: became required")
            _content(w, f"{op} request body", old_body.get("content", {}), new_body.get("content", {}))
    new_responses = new.get("responses", {})
    for status, old_resp in old.get("responses", {}).items():
        if status not in new_responses:
            w.problems.append(f"{op} response {status}: removed")
            continue
        old_resp = w._resolve(w.old_doc, old_resp)
        new_resp = w._resolve(w.new_doc, new_responses[status])
        _content(w, f"{op} response {status}", old_resp.get("content", {}), new_resp.get("content", {}))


def _content(w: _Walker, where: str, old: Schema, new: Schema) -> None:
    for media_type, old_media in old.items():
        if media_type not in new:
            w.problems.append(f"{where} {media_type}: media type removed")
            continue
        w.compare(old_media.get("schema", {}), new[media_type].get("schema", {}), f"{where} {media_type}")
