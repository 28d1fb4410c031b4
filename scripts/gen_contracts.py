"""Generate the event contracts from the pydantic models (the single source):

- ``contracts/events/<type>.schema.json``: JSON Schema of each event's ``data``;
- ``contracts/asyncapi.json``: the AsyncAPI 3.0 catalogue of the dossier topic;
- ``docs/events.md``: the human catalogue;
- ``contracts/openapi.json``: the gateway's public OpenAPI document, merged in-process from the service apps.

``tests/test_contracts.py`` fails when the committed files differ from what this writes, and when what this
writes would break the committed contracts (``motcua_common.contract_compat``); this script refuses to write a
breaking change too.
Run ``make contracts`` after changing ``motcua_common/contracts.py``.
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from motcua_common.contract_compat import event_breaks, openapi_breaks
from motcua_common.contracts import DOSSIER_EVENTS, PERSONAL_EVENTS
from motcua_common.events import CloudEvent, EventData

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "motcua.dossier.events"
DLQ = "motcua.dossier.events.dlq"
PERSONAL_TOPIC = "motcua.personal.events"
PERSONAL_DLQ = "motcua.personal.events.dlq"
PRODUCERS = {
    "vn.motcua.dossier.submitted.v2": "intake",
    "vn.motcua.dossier.contact.v1": "intake",
    "vn.motcua.registry.correction_requested.v1": "intake",
}
CONSUMERS = {
    "vn.motcua.dossier.submitted.v2": "processing, notify",
    "vn.motcua.dossier.result_issued.v1": "notify, intake (vault)",
    "vn.motcua.dossier.contact.v1": "notify",
    "vn.motcua.registry.correction_requested.v1": "citizen-id",
}
ALL_EVENTS = {**DOSSIER_EVENTS, **PERSONAL_EVENTS}


def data_schema(model: type[EventData]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    schema["properties"].pop("event_type", None)
    if "event_type" in schema.get("required", []):
        schema["required"].remove("event_type")
    schema["$id"] = f"https://motcua.gov.vn/schemas/events/{model.type_name()}.schema.json"
    schema["title"] = model.__name__
    return schema


def render() -> dict[Path, str]:
    files: dict[Path, str] = {}
    messages: dict[str, Any] = {}
    channel_messages: dict[str, Any] = {}
    personal_messages: dict[str, Any] = {}
    for type_name, model in ALL_EVENTS.items():
        schema = data_schema(model)
        files[ROOT / "contracts" / "events" / f"{type_name}.schema.json"] = (
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        )
        key = model.__name__
        envelope = CloudEvent.model_json_schema()
        envelope["properties"]["type"] = {"const": type_name}
        envelope["properties"]["data"] = {"$ref": f"events/{type_name}.schema.json"}
        messages[key] = {
            "name": type_name,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {
                    "content-type": {"const": "application/cloudevents+json; charset=UTF-8"},
                    "traceparent": {"type": "string"},
                    "tracestate": {"type": "string"},
                },
            },
            "payload": envelope,
        }
        target = personal_messages if type_name in PERSONAL_EVENTS else channel_messages
        target[key] = {"$ref": f"#/components/messages/{key}"}
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Một Cửa dossier events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 in structured mode on Kafka; key = dossier id. "
            "Generated from motcua_common/contracts.py by `make contracts`.",
        },
        "servers": {"local": {"host": "127.0.0.1:59092", "protocol": "kafka"}},
        "channels": {
            "dossierEvents": {
                "address": TOPIC,
                "description": "Every change of a dossier. No personal data: applicants are opaque subject ids "
                "or tax codes. Readable by partner systems with their own SASL credentials and ACLs.",
                "messages": channel_messages,
            },
            "dossierEventsDeadLetter": {
                "address": DLQ,
                "description": "Records a consumer gave up on, with headers dlq-error, dlq-consumer, dlq-original-*.",
            },
            "personalEvents": {
                "address": PERSONAL_TOPIC,
                "description": "Events carrying personal data, readable only by the services that need them "
                "(broker ACLs): contact details for notify, registry corrections for citizen-id.",
                "messages": personal_messages,
            },
            "personalEventsDeadLetter": {
                "address": PERSONAL_DLQ,
                "description": "Dead letters of the personal topic (same headers); as restricted as its source.",
            },
        },
        "operations": {
            "publishDossierEvents": {"action": "send", "channel": {"$ref": "#/channels/dossierEvents"}},
            "publishPersonalEvents": {"action": "send", "channel": {"$ref": "#/channels/personalEvents"}},
        },
        "components": {"messages": messages},
    }
    files[ROOT / "contracts" / "asyncapi.json"] = json.dumps(asyncapi, indent=2, ensure_ascii=False) + "\n"
    files[ROOT / "docs" / "events.md"] = render_markdown()
    files[OPENAPI] = json.dumps(public_openapi(), indent=2, ensure_ascii=False) + "\n"
    return files


OPENAPI = ROOT / "contracts" / "openapi.json"
# Deployment-specific parts of the served document are fixed here, so the snapshot is the same everywhere.
SNAPSHOT_ISSUER = "https://api.motcua.example"


def public_openapi() -> dict[str, Any]:
    """The document the gateway serves at ``/openapi.json``: the gateway's OpenAPIMerger over each service app's
    own document, fetched through httpx's ASGI transport (no servers, no lifespan: no database or broker)."""
    return asyncio.run(_public_openapi())


async def _public_openapi() -> dict[str, Any]:
    import httpx

    from citizen_id.main import create_app as citizen_id_app
    from gateway.main import create_app as gateway_app
    from gateway.openapi import API_VERSION, OpenAPIMerger
    from gateway.settings import Settings as GatewaySettings
    from intake.main import create_app as intake_app
    from notify.main import create_app as notify_app
    from processing.main import create_app as processing_app

    apps = {
        "intake": intake_app(),
        "processing": processing_app(),
        "citizen-id": citizen_id_app(),
        "notify": notify_app(),
    }
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        for name, app in apps.items()
    }
    try:
        merger = OpenAPIMerger(
            clients,
            title="Một Cửa API",
            version=API_VERSION,
            description="(the served document describes logging in and the rate limits here)",
            issuer=SNAPSHOT_ISSUER,
        )
        doc = await merger.build(gateway_app(GatewaySettings(issuer=SNAPSHOT_ISSUER)).openapi())
    finally:
        for client in clients.values():
            await client.aclose()
    if "Not yet available" in doc["info"]["description"]:
        raise RuntimeError(doc["info"]["description"])
    schemas = doc["components"]["schemas"]
    doc["components"]["schemas"] = {name: schemas[name] for name in sorted(schemas)}  # merged in set order
    return doc


def render_markdown() -> str:
    lines = [
        "# Events catalogue",
        "",
        "<!-- Generated by `make contracts` from libs/common/motcua_common/contracts.py. Do not edit. -->",
        "",
        f"Dossier events travel on the Kafka topic `{TOPIC}` (6 partitions) as **CloudEvents 1.0 in",
        "structured mode**: the record value is the whole event as JSON, header `content-type:",
        "application/cloudevents+json; charset=UTF-8`, the record **key is the dossier id** (so one dossier's",
        "events stay in order), `subject` is the dossier code, and the W3C trace context travels both as the",
        "`traceparent`/`tracestate` event attributes and as Kafka headers. Delivery is at least once: deduplicate",
        "on the CloudEvent `id`. Consumers must ignore fields they do not know. A breaking change is published as a",
        "new `.v2` type beside the old one.",
        "",
        f"**Personal data.** `{TOPIC}` carries none: an applicant is an opaque subject id (the `sub` of their",
        "tokens, never the personal id number) or an organisation's tax code. What only some services need (the",
        f"contact details notify uses, the registry corrections citizen-id reviews) travels on `{PERSONAL_TOPIC}`,",
        "which broker ACLs restrict to those services. `vn.motcua.dossier.submitted.v1`, which carried all seven",
        "applicant fields in clear, is retired and no longer published. Field-by-field classification, retention and",
        "partner access: [kafka-security.md](kafka-security.md).",
        "",
        "Records a consumer could not handle after bounded retries go to `<source topic>.dlq` with headers",
        "`dlq-error`, `dlq-consumer`, `dlq-original-topic`, `dlq-original-partition`, `dlq-original-offset`.",
        "",
        "Machine-readable: [`contracts/asyncapi.json`](../contracts/asyncapi.json) (AsyncAPI 3.0) and one JSON Schema",
        "per type in [`contracts/events/`](../contracts/events/).",
        "",
        "| type | topic | producer | consumers | meaning |",
        "|---|---|---|---|---|",
    ]
    for type_name, model in ALL_EVENTS.items():
        topic = PERSONAL_TOPIC if type_name in PERSONAL_EVENTS else TOPIC
        meaning = " ".join((model.__doc__ or "").split())
        lines.append(
            f"| `{type_name}` | `{topic}` | {PRODUCERS.get(type_name, 'processing')} | "
            f"{CONSUMERS.get(type_name, 'notify')} | {meaning} |"
        )
    lines += [
        "",
        "## Envelope example",
        "",
        "```json",
        json.dumps(
            {
                "specversion": "1.0",
                "id": "6f1c…",
                "source": "/motcua/intake",
                "type": "vn.motcua.dossier.submitted.v2",
                "subject": "000.26.01.H29-261121-0001-K7QXMA",
                "time": "2026-11-21T08:15:00Z",
                "datacontenttype": "application/json",
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "data": {"…": "…"},
            },
            indent=2,
            ensure_ascii=False,
        ),
        "```",
        "",
    ]
    for type_name, model in ALL_EVENTS.items():
        schema = data_schema(model)
        lines += [
            f"## `{type_name}`",
            "",
            (model.__doc__ or "").strip(),
            "",
            f"Schema: [`contracts/events/{type_name}.schema.json`](../contracts/events/{type_name}.schema.json)",
            "",
            "| field | type | required | description |",
            "|---|---|---|---|",
        ]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            lines.append(
                f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | {prop.get('description', '')} |"
            )
        lines.append("")
    return "\n".join(lines)


def _type(prop: dict) -> str:
    if "const" in prop:
        return f'`"{prop["const"]}"`'
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[1]
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array":
        return f"array of {_type(prop.get('items', {}))}"
    return prop.get("format") or prop.get("type", "object")


def breaking_changes(old: dict[Path, str], new: dict[Path, str]) -> list[str]:
    """What ``new`` breaks of ``old`` (file → text, as :func:`render` answers): event schemas and the API."""
    events = ROOT / "contracts" / "events"

    def schemas(files: dict[Path, str]) -> dict[str, Any]:
        suffix = ".schema.json"
        return {p.name.removesuffix(suffix): json.loads(t) for p, t in files.items() if p.parent == events}

    problems = event_breaks(schemas(old), schemas(new))
    if OPENAPI in old and OPENAPI in new:
        problems += openapi_breaks(json.loads(old[OPENAPI]), json.loads(new[OPENAPI]))
    return problems


def committed() -> dict[Path, str]:
    """The contracts as they are on disk now (the last `make contracts`)."""
    paths = [*(ROOT / "contracts" / "events").glob("*.schema.json"), OPENAPI]
    return {p: p.read_text(encoding="utf-8") for p in paths if p.exists()}


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    files = render()
    breaking = breaking_changes(committed(), files)
    if breaking:
        print("breaking changes to the published contracts (publish a new event type `.vN`, or raise the API's")
        print("major version (gateway/gateway/openapi.py API_VERSION) or add /api/v2 paths):", *breaking, sep="\n  ")
        return 1
    for path, text in files.items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale contracts (run `make contracts`):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
