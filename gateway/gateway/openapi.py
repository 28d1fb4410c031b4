"""One OpenAPI document for the whole public API, merged from the upstream services' own documents.

Only the operations in the route table are taken, with every schema they reference; a schema name
that two services define differently is prefixed with the service name. Upstream documents are
cached once fetched; one that cannot be fetched yet is retried on the next request for the docs.
"""

import copy
import logging
import re
from typing import Any

import httpx

from .routing import ROUTES

log = logging.getLogger("gateway.openapi")
REF = re.compile(r"#/components/schemas/([^\"'/]+)")
GATEWAY_SET = {"x-officer-id", "x-officer-name", "x-officer-unit", "x-request-id"}
OFFICER_SCHEME = {
    "officerBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Officer token (demo: `demo-officer-token`).",
    }
}


class OpenAPIMerger:
    def __init__(self, clients: dict[str, httpx.AsyncClient], *, title: str, version: str, description: str):
        self.clients, self.title, self.version, self.description = clients, title, version, description
        self._docs: dict[str, dict[str, Any]] = {}

    async def _doc(self, upstream: str) -> dict[str, Any] | None:
        if upstream not in self._docs:
            try:
                resp = await self.clients[upstream].get("/openapi.json")
                resp.raise_for_status()
                self._docs[upstream] = resp.json()
            except httpx.HTTPError as exc:
                log.warning("cannot fetch %s OpenAPI yet: %r", upstream, exc)
                return None
        return self._docs[upstream]

    async def build(self, gateway_doc: dict[str, Any]) -> dict[str, Any]:
        merged = copy.deepcopy(gateway_doc)
        merged["info"] = {"title": self.title, "version": self.version, "description": self.description}
        paths: dict[str, dict[str, Any]] = merged.setdefault("paths", {})
        schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
        merged["components"]["securitySchemes"] = OFFICER_SCHEME
        missing = []
        for route in ROUTES:
            doc = await self._doc(route.upstream)
            op = (doc or {}).get("paths", {}).get(route.path, {}).get(route.method.lower())
            if op is None:
                missing.append(f"{route.method} {route.path} ({route.upstream})")
                continue
            op = copy.deepcopy(op)
            # the gateway sets these after authenticating the officer; clients never send them
            op["parameters"] = [p for p in op.get("parameters", []) if p.get("name", "").lower() not in GATEWAY_SET]
            renames = self._take_schemas(route.upstream, doc, op, schemas)
            op = _rewrite_refs(op, renames)
            if route.officer:
                op["security"] = [{"officerBearer": []}]
                op.setdefault("responses", {}).setdefault("401", {"description": "Missing or invalid token"})
            op.setdefault("responses", {}).setdefault("503", {"description": "Upstream unavailable"})
            paths.setdefault(route.path, {})[route.method.lower()] = op
        if missing:
            merged["info"]["description"] += "\n\nNot yet available (upstream down): " + "; ".join(missing)
        return merged

    def _take_schemas(
        self, upstream: str, doc: dict[str, Any], op: dict[str, Any], schemas: dict[str, Any]
    ) -> dict[str, str]:
        source = doc.get("components", {}).get("schemas", {})
        renames: dict[str, str] = {}
        pending = set(REF.findall(str(op)))
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in source:
                continue
            seen.add(name)
            pending |= set(REF.findall(str(source[name])))
        for name in seen:
            target = name
            if name in schemas and schemas[name] != source[name]:
                target = f"{upstream.replace('-', '_')}__{name}"
            renames[name] = target
        for name in seen:
            schemas[renames[name]] = _rewrite_refs(copy.deepcopy(source[name]), renames)
        return renames


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                name = v.rsplit("/", 1)[1]
                out[k] = f"#/components/schemas/{renames.get(name, name)}"
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node
