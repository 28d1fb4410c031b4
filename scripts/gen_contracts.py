"""Generate the event contracts from the pydantic models (the single source):

- ``contracts/events/<type>.schema.json``: JSON Schema of each event's ``data``;
- ``contracts/asyncapi.json``: the AsyncAPI 3.0 catalogue of the topics: per message the CloudEvents envelope
  (``id``, ``specversion``, ``time``… required), the Kafka key (``bindings.kafka.key``) and an example;
- ``docs/events.md``: the human catalogue;
- ``contracts/openapi.json``: the gateway's public OpenAPI document, merged in-process from the service apps;
- ``docs/procedures.md``: the shipped procedure versions (``services/intake/intake/catalogue/``), from the files.

``tests/test_contracts.py`` fails when the committed files differ from what this writes, and when what this
writes would break the committed contracts (``motcua_common.contract_compat``); this script refuses to write a
breaking change too.
Run ``make contracts`` after changing ``motcua_common/contracts.py``.
"""

import asyncio
import json
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from motcua_common.contract_compat import event_breaks, openapi_breaks
from motcua_common.contracts import (
    CATALOGUE_EVENTS,
    DOSSIER_EVENTS,
    PERSONAL_EVENTS,
    PORTAL_EVENTS,
    STATE_EVENTS,
    Actor,
    ApplicantRef,
    BundleRef,
    DossierAccepted,
    DossierApproved,
    DossierContact,
    DossierDueSoon,
    DossierExtended,
    DossierOverdue,
    DossierRefused,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierState,
    DossierStepForwarded,
    DossierSubmitted,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierTransferred,
    PortalDossierStatus,
    PortalStatistics,
    ProcedureVersionPublished,
    RegistryCorrectionRequested,
)
from motcua_common.events import CLOUDEVENTS_CONTENT_TYPE, TYPE_HEADER, CloudEvent, EventData, build_event
from motcua_common.procedures import Component, Fee, StepDefinition, TimeBudget

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "motcua.dossier.events"
DLQ = "motcua.dossier.events.dlq"
PERSONAL_TOPIC = "motcua.personal.events"
PERSONAL_DLQ = "motcua.personal.events.dlq"
STATE_TOPIC = "motcua.dossier.state"
CATALOGUE_TOPIC = "motcua.catalogue.events"
CATALOGUE_DLQ = "motcua.catalogue.events.dlq"
PORTAL_TOPIC = "motcua.portal.events"
DAY_MS = 86_400_000
RETENTION_MS = {
    TOPIC: 30 * DAY_MS,
    DLQ: 30 * DAY_MS,
    PERSONAL_TOPIC: 7 * DAY_MS,
    PERSONAL_DLQ: 7 * DAY_MS,
    CATALOGUE_TOPIC: -1,
    CATALOGUE_DLQ: 30 * DAY_MS,
    PORTAL_TOPIC: 30 * DAY_MS,
}
PRODUCERS = {
    "vn.motcua.procedure.version_published.v1": "intake",
    "vn.motcua.dossier.submitted.v2": "intake",
    "vn.motcua.dossier.contact.v1": "intake",
    "vn.motcua.registry.correction_requested.v1": "intake",
}
CONSUMERS = {
    "vn.motcua.dossier.submitted.v2": "processing, notify",
    "vn.motcua.dossier.result_issued.v1": "notify, intake (vault)",
    "vn.motcua.dossier.result_returned.v1": "notify; the post (`vietnam-post`) when `notify_post` (Decision 45/2016)",
    "vn.motcua.dossier.contact.v1": "notify",
    "vn.motcua.registry.correction_requested.v1": "citizen-id",
    "vn.motcua.dossier.state.v1": "partners (provincial-system) joining late",
    "vn.motcua.dossier.refused.v1": "notify",
    "vn.motcua.dossier.supplement_requested.v1": "notify",
    "vn.motcua.dossier.supplemented.v1": "notify",
    "vn.motcua.dossier.step_forwarded.v1": "notify",
    "vn.motcua.dossier.transferred.v1": "notify",
    "vn.motcua.dossier.extended.v1": "notify (e-mail or SMS, as the law requires)",
    "vn.motcua.dossier.overdue.v1": "notify",
    "vn.motcua.dossier.due_soon.v1": "notify",
    "vn.motcua.procedure.version_published.v1": "processing (keeps every version; issue 6)",
    "vn.motcua.portal.dossier_status.v1": "the national public-service portal (`national-portal`)",
    "vn.motcua.portal.statistics.v1": "the national public-service portal (`national-portal`)",
}
ALL_EVENTS: dict[str, type[EventData]] = {
    **DOSSIER_EVENTS,
    **PERSONAL_EVENTS,
    **STATE_EVENTS,
    **CATALOGUE_EVENTS,
    **PORTAL_EVENTS,
}
# Events numbered per aggregate (CloudEvents `sequence`): a dossier's on the dossier and state topics, a procedure's
# versions on the catalogue topic.
SEQUENCED = {**DOSSIER_EVENTS, **STATE_EVENTS, **CATALOGUE_EVENTS, PortalDossierStatus.type_name(): PortalDossierStatus}
ENVELOPE_REQUIRED = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"]
KAFKA_KEY = {
    "type": "string",
    "format": "uuid",
    "description": "The dossier id (`data.dossier_id`): one dossier's events stay in one partition, in order.",
}
UNIT_KEY = {
    "type": "string",
    "description": "The unit code (`data.unit_code`): one unit's reports stay in one partition, in order.",
}
CATALOGUE_KEY = {
    "type": "string",
    "description": "The procedure code (`data.code`): one procedure's versions stay in one partition, in order.",
}


def topic_of(type_name: str) -> str:
    if type_name in PERSONAL_EVENTS:
        return PERSONAL_TOPIC
    if type_name in STATE_EVENTS:
        return STATE_TOPIC
    if type_name in CATALOGUE_EVENTS:
        return CATALOGUE_TOPIC
    if type_name in PORTAL_EVENTS:
        return PORTAL_TOPIC
    return TOPIC


def key_of(type_name: str, data: dict[str, Any]) -> str:
    """The Kafka key of an event of ``type_name`` with ``data``."""
    if type_name == PortalStatistics.type_name():
        return str(data["unit_code"])
    return str(data["code"] if type_name in CATALOGUE_EVENTS else data["dossier_id"])


# --- Examples: one per message, fixed values (the generated files must not change between runs), built through
# the models so that an example that no longer fits its contract fails here.
_DOSSIER = uuid.UUID("3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b")
_CODE = "000.00.01.H29-261121-0001-K7QXMA"
_T0 = datetime(2026, 11, 21, 1, 15, tzinfo=UTC)  # 08:15 in Hà Nội
_DUE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
_UNIT: dict[str, Any] = {"unit_code": "000.00.01.H29", "unit_name": "UBND phường Ba Đình"}
_BASE: dict[str, Any] = {"dossier_id": _DOSSIER, "dossier_code": _CODE}
_ACTION: dict[str, Any] = {**_BASE, **_UNIT, "handler": "cb-0042", "due_at": _DUE}
_SUBJECT = "3b0c5f0e-8a51-4d8e-9a0e-5f4c2a7e9d11"
_APPLICANT = ApplicantRef(kind="citizen", subject=_SUBJECT)


def _examples() -> dict[str, tuple[EventData, str, int | None]]:
    """type -> (payload, source, sequence)."""
    at = lambda hours: _T0 + timedelta(hours=hours)  # noqa: E731
    submitted = DossierSubmitted(
        **_BASE,
        **_UNIT,
        occurred_at=_T0,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        procedure_version=1,
        processing_days=3,
        channel="online",
        receiving_unit_code=None,
        applicant=_APPLICANT,
        submitted_by=Actor(kind="citizen", subject=_SUBJECT),
        submitted_at=_T0,
        received_at=_T0,
        appointment_at=_DUE,
        fee_vnd=0,
        bundle=BundleRef(
            code="MC-LT-KHAI-SINH",
            version=1,
            id=uuid.UUID("6a1f0c2d-3b4e-4f5a-8b6c-7d8e9f0a1b2c"),
            dossier_ids=[
                _DOSSIER,
                uuid.UUID("7b2a1d3e-4c5f-4a6b-9c7d-8e9f0a1b2c3d"),
                uuid.UUID("8c3b2e4f-5d6a-4b7c-8d8e-9f0a1b2c3d4e"),
            ],
        ),
    )
    rows = [
        (submitted, "/motcua/intake", 1),
        (DossierAccepted(**_ACTION, occurred_at=at(1)), "/motcua/processing", 2),
        (DossierApproved(**_ACTION, occurred_at=at(24)), "/motcua/processing", 3),
        (
            DossierRejected(**_ACTION, occurred_at=at(2), reason="Thiếu tờ khai đăng ký khai sinh"),
            "/motcua/processing",
            3,
        ),
        (
            DossierResultIssued(**_ACTION, occurred_at=at(25), result_number=f"KQ-{_CODE}", timeliness="early"),
            "/motcua/processing",
            4,
        ),
        (DossierResultReturned(**_ACTION, occurred_at=at(26), return_method="online"), "/motcua/processing", 5),
        (
            DossierRefused(**_ACTION, occurred_at=at(1), reason="Hồ sơ không thuộc thẩm quyền giải quyết"),
            "/motcua/processing",
            2,
        ),
        (
            DossierSupplementRequested(
                **_ACTION,
                occurred_at=at(3),
                step="appraise",
                reason="Giấy chứng sinh bị mờ, không đọc được",
                components_requested=["GCS"],
                request_number=1,
                clock_rule="pause",
            ),
            "/motcua/processing",
            3,
        ),
        (
            DossierSupplemented(
                **_BASE,
                **_UNIT,
                occurred_at=at(20),
                status="processing",
                by=Actor(kind="citizen", subject=_SUBJECT),
                request_number=1,
                document_count=1,
                step="appraise",
                due_at=_DUE + timedelta(days=1),
            ),
            "/motcua/processing",
            4,
        ),
        (
            DossierStepForwarded(
                **_ACTION,
                occurred_at=at(21),
                status="processing",
                step="appraise",
                next_step="approve",
                next_step_name="Phê duyệt",
                next_unit_code=_UNIT["unit_code"],
                next_unit_name=_UNIT["unit_name"],
            ),
            "/motcua/processing",
            5,
        ),
        (
            DossierTransferred(
                **_ACTION,
                occurred_at=at(21),
                status="processing",
                step="appraise",
                next_step="police_check",
                next_step_name="Xác minh tại cơ quan công an",
                next_unit_code="000.26.02.H29",
                next_unit_name="Công an phường Ba Đình",
            ),
            "/motcua/processing",
            5,
        ),
        (
            DossierExtended(
                **_BASE,
                **_UNIT,
                occurred_at=at(22),
                status="processing",
                handler="cb-0001",
                reason="Cần xác minh thêm thông tin tại cơ quan công an",
                previous_due_at=_DUE,
                due_at=_DUE + timedelta(days=3),
            ),
            "/motcua/processing",
            6,
        ),
        (
            DossierDueSoon(**_BASE, **_UNIT, occurred_at=at(23), status="processing", step="appraise", due_at=_DUE),
            "/motcua/processing",
            7,
        ),
        (
            DossierOverdue(**_BASE, **_UNIT, occurred_at=at(130), status="processing", step="appraise", due_at=_DUE),
            "/motcua/processing",
            8,
        ),
        (
            DossierContact(
                **_BASE,
                occurred_at=_T0,
                recipient_subject=_SUBJECT,
                full_name="Nguyễn Văn An",
                email="an.nguyen@example.vn",
                phone=None,
                notify_channels=["app", "email"],
                procedure_name="Đăng ký khai sinh",
            ),
            "/motcua/intake",
            None,
        ),
        (
            RegistryCorrectionRequested(
                **_BASE,
                occurred_at=at(3),
                correction_id=uuid.UUID("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"),
                personal_id="001090001234",
                field="permanent_address",
                registry_value="12 Phố Huế, Hai Bà Trưng, Hà Nội",
                proposed_value="15 Phố Huế, Hai Bà Trưng, Hà Nội",
                note=None,
            ),
            "/motcua/intake",
            None,
        ),
        (
            DossierState(
                **_BASE,
                **_UNIT,
                sequence=5,
                occurred_at=at(26),
                status="completed",
                status_label="Đã trả kết quả",
                current_step=None,
                procedure_code="1.001193",
                procedure_name="Đăng ký khai sinh",
                procedure_version=1,
                channel="online",
                receiving_unit_code=None,
                applicant=_APPLICANT,
                received_at=_T0,
                due_at=_DUE,
                completed_at=at(26),
                timeliness="early",
            ),
            "/motcua/processing",
            5,
        ),
    ]
    rows.append((_procedure_example(), "/motcua/intake", 1))  # sequence: the version
    rows += [
        (
            PortalDossierStatus(
                **_BASE,
                occurred_at=at(1),
                change=DossierAccepted.type_name(),
                status="processing",
                status_label="Đang xử lý",
                unit_code=_UNIT["unit_code"],
                due_at=_DUE,
            ),
            "/motcua/processing",
            2,
        ),
        (
            PortalStatistics(
                **_UNIT,
                occurred_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
                period="month",
                start="2026-11-01",
                end="2026-11-30",
                kind="unit",
                received={"online": 80, "counter": 15, "service_centre": 4, "post": 1, "total": 100},
                resolved={"early": 40, "on_time": 45, "late": 5, "total": 90},
                in_progress=12,
                overdue=2,
                on_time_rate=0.9444,
                avg_processing_days=2.4,
                online_share=0.8,
                paid_online=0,
                results_electronic=60,
                once_only_components=120,
                components_total=300,
                supplement_requests=7,
                refusals=3,
                ratings=30,
                satisfaction_average=4.5,
            ),
            "/motcua/processing",
            None,
        ),
    ]
    return {data.type_name(): (data, source, sequence) for data, source, sequence in rows}


def _procedure_example() -> ProcedureVersionPublished:
    """A small version (the full shipped ones are in services/intake/intake/catalogue/)."""

    def step(key: str, name: str, performer: str, roles: tuple[str, ...], days: int, actions: dict) -> StepDefinition:
        return StepDefinition(
            key=key,
            name=name,
            performer=performer,  # type: ignore[arg-type]  # a Performer literal
            roles=roles,
            budget=TimeBudget(working_days=days),
            actions=actions,
        )

    return ProcedureVersionPublished(
        code="1.004873",
        version=1,
        name="Xác nhận tình trạng hôn nhân",
        field="Hộ tịch",
        level="commune",
        legal_basis="Luật Hộ tịch 2014; Nghị định 123/2015/NĐ-CP (Điều 22); Nghị định 118/2025/NĐ-CP",
        sources=("shared/design/domain.md: 3 working days, fee by province",),
        effective_from=datetime(2025, 7, 1).date(),
        online_level="full",
        channels=("online", "counter", "service_centre", "post"),
        result_delivery=("online", "counter", "post"),
        fee=Fee(amount_vnd=0, note="Lệ phí theo Nghị quyết của Hội đồng nhân dân thành phố"),
        components=(Component(code="TK-XNHN", name="Tờ khai cấp Giấy xác nhận tình trạng hôn nhân"),),
        budget=TimeBudget(working_days=3),
        steps=(
            step(
                "receive",
                "Tiếp nhận hồ sơ",
                "receiving_unit",
                ("receiving_officer",),
                0,
                {"receive": "appraise", "refuse": None, "request_supplement": None},
            ),
            step("appraise", "Thẩm định, xử lý hồ sơ", "competent_unit", ("specialist",), 2, {"forward": "approve"}),
            step("approve", "Phê duyệt", "competent_unit", ("approver",), 1, {"approve": "issue", "reject": None}),
            step("issue", "Ban hành kết quả", "competent_unit", ("specialist",), 0, {"issue_result": "return"}),
            step("return", "Trả kết quả", "receiving_unit", ("receiving_officer",), 0, {"return_result": None}),
        ),
        published_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )


def example_envelope(type_name: str) -> dict:
    """The whole CloudEvent of the example of ``type_name``, as it travels (record value)."""
    data, source, sequence = _examples()[type_name]
    if sequence is not None:
        data.in_sequence(sequence)
    if isinstance(data, ProcedureVersionPublished):  # a procedure's event: subject = code, time = publication
        event = build_event(data, source=source, subject=data.code)
        event.time = data.published_at
    elif isinstance(data, PortalStatistics):  # a unit's report: subject = unit code
        event = build_event(data, source=source, subject=data.unit_code)
        event.time = data.occurred_at
    else:
        event = build_event(data, source=source, subject=_CODE)
        event.time = datetime.fromisoformat(event.data["occurred_at"])
    event.id = str(uuid.uuid5(_DOSSIER, type_name))
    event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    return event.model_dump(mode="json", exclude_none=True)


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
    state_messages: dict[str, Any] = {}
    catalogue_messages: dict[str, Any] = {}
    portal_messages: dict[str, Any] = {}
    for type_name, model in ALL_EVENTS.items():
        schema = data_schema(model)
        files[ROOT / "contracts" / "events" / f"{type_name}.schema.json"] = (
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        )
        key = model.__name__
        envelope = CloudEvent.model_json_schema()
        envelope["properties"]["specversion"] = {"const": "1.0", "title": "Specversion", "type": "string"}
        envelope["properties"]["type"] = {"const": type_name}
        envelope["properties"]["data"] = {"$ref": f"events/{type_name}.schema.json"}
        envelope["required"] = ENVELOPE_REQUIRED + (["sequence"] if type_name in SEQUENCED else [])
        sequence = envelope["properties"].pop("sequence")
        if type_name in SEQUENCED:  # required there, so a string (never null)
            [string] = [s for s in sequence["anyOf"] if s.get("type") == "string"]
            envelope["properties"]["sequence"] = {**string, "description": sequence["description"]}
        example = example_envelope(type_name)
        messages[key] = {
            "name": type_name,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "required": ["content-type"],
                "properties": {
                    "content-type": {"const": CLOUDEVENTS_CONTENT_TYPE},
                    TYPE_HEADER: {
                        "const": type_name,
                        "description": "The event's `type`, as in the value: set by every Một Cửa producer, so a "
                        "consumer can skip the types it does not handle without parsing the value. Records without "
                        "it are parsed.",
                    },
                    "traceparent": {"type": "string"},
                    "tracestate": {"type": "string"},
                },
            },
            "payload": envelope,
            "bindings": {
                "kafka": {
                    "key": CATALOGUE_KEY
                    if type_name in CATALOGUE_EVENTS
                    else UNIT_KEY
                    if type_name == PortalStatistics.type_name()
                    else KAFKA_KEY,
                    "bindingVersion": "0.5.0",
                }
            },
            "examples": [
                {
                    "name": f"{key}Example",
                    "summary": f"A {type_name} event (Kafka key: {key_of(type_name, example['data'])})",
                    "headers": {
                        "content-type": CLOUDEVENTS_CONTENT_TYPE,
                        TYPE_HEADER: type_name,
                        "traceparent": example["traceparent"],
                    },
                    "payload": example,
                }
            ],
        }
        target = {
            PERSONAL_TOPIC: personal_messages,
            STATE_TOPIC: state_messages,
            TOPIC: channel_messages,
            CATALOGUE_TOPIC: catalogue_messages,
            PORTAL_TOPIC: portal_messages,
        }
        target[topic_of(type_name)][key] = {"$ref": f"#/components/messages/{key}"}
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Một Cửa dossier events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 in structured mode on Kafka; key = dossier id (`bindings.kafka.key`). "
            "Dossier and state events carry the CloudEvents `sequence` extension: the dossier's event number (1, 2, 3… "
            "zero-padded to 10 digits), so a consumer can detect a gap. Generated from motcua_common/contracts.py by "
            "`make contracts`; docs/events.md explains ordering, gaps, retention and rebuilding.",
        },
        "servers": {"local": {"host": "127.0.0.1:59092", "protocol": "kafka"}},
        "channels": {
            "dossierEvents": {
                "address": TOPIC,
                "description": "Every change of a dossier. No personal data: applicants are opaque subject ids "
                "or tax codes. Readable by partner systems with their own SASL credentials and ACLs. Kept 30 days: "
                "a system that joins later starts from `motcua.dossier.state`.",
                "messages": channel_messages,
                "bindings": _topic_binding(TOPIC, 6),
            },
            "dossierEventsDeadLetter": {
                "address": DLQ,
                "description": "Records a consumer gave up on, with headers dlq-error, dlq-consumer, dlq-original-*.",
                "bindings": _topic_binding(DLQ, 1),
            },
            "dossierState": {
                "address": STATE_TOPIC,
                "description": "Each dossier's current state, compacted (cleanup.policy=compact, key = dossier id): "
                "read from the beginning, the last record of each key is that dossier's state, whatever its age. "
                "Published by processing on every change; readable by processing, notify, intake and "
                "provincial-system.",
                "messages": state_messages,
                "bindings": _topic_binding(STATE_TOPIC, 6),
            },
            "personalEvents": {
                "address": PERSONAL_TOPIC,
                "description": "Events carrying personal data, readable only by the services that need them "
                "(broker ACLs): contact details for notify, registry corrections for citizen-id.",
                "messages": personal_messages,
                "bindings": _topic_binding(PERSONAL_TOPIC, 6),
            },
            "personalEventsDeadLetter": {
                "address": PERSONAL_DLQ,
                "description": "Dead letters of the personal topic (same headers); as restricted as its source.",
                "bindings": _topic_binding(PERSONAL_DLQ, 1),
            },
            "catalogueEvents": {
                "address": CATALOGUE_TOPIC,
                "description": "Every procedure version intake publishes (operators through the API, and the versions "
                "shipped with the code, each announced once), key = procedure code, `sequence` = version. Kept for "
                "ever (retention.ms -1, not compacted: dossiers still run on older versions). Written by intake, "
                "read by processing.",
                "messages": catalogue_messages,
                "bindings": _topic_binding(CATALOGUE_TOPIC, 3),
            },
            "portalEvents": {
                "address": PORTAL_TOPIC,
                "description": "What the province reports to the national public-service portal (issue 9): every "
                "dossier status change (key = dossier id, `sequence` = the dossier event's) and each unit's monthly "
                "figures (key = unit code). No personal data. Written by processing (consumer group "
                "`processing-portal`, through its outbox), read by the `national-portal` user. Kept 30 days.",
                "messages": portal_messages,
                "bindings": _topic_binding(PORTAL_TOPIC, 6),
            },
            "catalogueEventsDeadLetter": {
                "address": CATALOGUE_DLQ,
                "description": "Dead letters of the catalogue topic (same headers), written by processing.",
                "bindings": _topic_binding(CATALOGUE_DLQ, 1),
            },
        },
        "operations": {
            "publishDossierEvents": {"action": "send", "channel": {"$ref": "#/channels/dossierEvents"}},
            "publishDossierState": {"action": "send", "channel": {"$ref": "#/channels/dossierState"}},
            "publishPersonalEvents": {"action": "send", "channel": {"$ref": "#/channels/personalEvents"}},
            "publishCatalogueEvents": {"action": "send", "channel": {"$ref": "#/channels/catalogueEvents"}},
            "publishPortalEvents": {"action": "send", "channel": {"$ref": "#/channels/portalEvents"}},
        },
        "components": {"messages": messages},
    }
    files[ROOT / "contracts" / "asyncapi.json"] = json.dumps(asyncapi, indent=2, ensure_ascii=False) + "\n"
    files[ROOT / "docs" / "events.md"] = render_markdown()
    files[OPENAPI] = json.dumps(public_openapi(), indent=2, ensure_ascii=False) + "\n"
    files[ROOT / "docs" / "procedures.md"] = render_procedures()
    return files


# --- docs/procedures.md: the shipped catalogue, from its files ----------------------------------------------------

CATALOGUE_DIR = ROOT / "services" / "intake" / "intake" / "catalogue"
INTAKE_MIGRATIONS = ROOT / "services" / "intake" / "intake" / "migrations"
CHANNELS = {"online": "online", "counter": "counter", "service_centre": "service centre", "post": "post"}


def _units() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The units (code -> name, level) and the procedures' competent units, as intake's migrations seed them."""
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted(INTAKE_MIGRATIONS.glob("*.sql")))
    units = {
        m[0]: (m[1], m[2])
        for m in re.findall(r"\('([^']+)', '([^']+)', '(province|commune|commune_police|delegated)'", sql)
    }
    block = sql[sql.index("INSERT INTO procedure_units") :]
    block = block[: block.index(";")]
    return units, dict(re.findall(r"\('([^']+)', '([^']+)'\)", block))


def _budget(b: Any) -> str:
    if b.working_hours is not None:
        return f"{b.working_hours} working hours"
    return "same day (15:00 rule)" if b.working_days == 0 else f"{b.working_days} working days"


def _fee(d: Any) -> str:
    fee = d.fee
    text = f"{fee.amount_vnd:,} VND".replace(",", ".")
    if fee.online_amount_vnd is not None:
        text += f"; online {fee.online_amount_vnd:,} VND".replace(",", ".")
    return text


def render_procedures() -> str:
    from motcua_common.procedures import ProcedureDefinition

    definitions = sorted(
        (ProcedureDefinition.model_validate_json(p.read_text(encoding="utf-8")) for p in CATALOGUE_DIR.glob("*.json")),
        key=lambda d: (d.bundle is not None, d.level, d.code, d.version),
    )
    units, assigned = _units()
    lines = [
        "# Procedures",
        "",
        "<!-- Generated by `make contracts` from services/intake/intake/catalogue/*.json. Do not edit. -->",
        "",
        "Each procedure version is data: a `motcua_common.procedures.ProcedureDefinition` in one JSON file,",
        "`services/intake/intake/catalogue/<code>.v<version>.json`. `make migrate` loads the files into intake",
        "(`procedures.definition`), announces each version once (`vn.motcua.procedure.version_published.v1`, see",
        "[events.md](events.md)) and refuses to go on if a stored version differs from its file: a published version",
        "is never changed, a change is the next version (a new file, or `POST /api/v1/procedures/{code}/versions` by a",
        "provincial operator, see [api.md](api.md)). A dossier is received under the version in force on its receipt",
        "date and keeps it.",
        "",
        "**What is confirmed.** Each version lists its `sources`: what was checked, where (a public page named in the",
        "entry) and what was not. Everything marked *unconfirmed* there (most times, several fees, the codes starting",
        "with `MC-`, which are this catalogue's own, and the Hà Nội competent units, which are demo units) is a",
        "default for an operator to correct by publishing a new version. Effective dates: 2025-07-01, the start of the",
        "one-stop rules of Nghị định 118/2025/NĐ-CP, for every shipped version (not checked against the decree).",
        "",
        "**Workflows.** Steps run in order from `receive`; each names who performs it (`receiving_unit`, the",
        "`competent_unit`, or a unit of another level for inter-agency steps, chosen in the competent unit's area),",
        "the officer roles that may act, its share of the legal time (the shares add up to the procedure's budget) and",
        "the actions it allows with the step each leads to. A bundle's own two steps are the joint reception and",
        "return; each member dossier runs its own workflow, capped by the bundle's budget.",
        "",
        "| code | procedure | level (competent unit) | legal time | fee | channels | since |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in definitions:
        unit = units.get(assigned.get(d.code, ""), ("?", "?"))[0]
        channels = ", ".join(CHANNELS[c] for c in d.channels)
        lines.append(
            f"| `{d.code}` v{d.version} | {d.name} | {d.level} ({unit}) | {_budget(d.budget)} | {_fee(d)} | "
            f"{channels} | {d.effective_from} |"
        )
    for d in definitions:
        unit_code = assigned.get(d.code, "?")
        lines += [
            "",
            f"## `{d.code}` v{d.version}: {d.name}",
            "",
            f"- **Field**: {d.field}. **Level**: {d.level}; competent unit in the demo province: "
            f"{units.get(unit_code, ('?',))[0]} (`{unit_code}`).",
            f"- **Legal basis**: {d.legal_basis}.",
            f"- **Legal time**: {_budget(d.budget)}. **Supplement**: the clock {d.supplement.clock}s, at most "
            f"{d.supplement.max_requests} request(s).",
            f"- **Fee**: {_fee(d)}" + (f" ({d.fee.note})" if d.fee.note else "") + ".",
            f"- **Channels**: {', '.join(CHANNELS[c] for c in d.channels)}; **online level**: {d.online_level}; "
            f"**result delivered**: {', '.join(d.result_delivery)}.",
            f"- **In force**: from {d.effective_from}" + (f" to {d.effective_to}" if d.effective_to else "") + ".",
        ]
        if d.bundle is not None:
            lines.append(
                f"- **Bundle** of {', '.join(f'`{m}`' for m in d.bundle.members)}: one linked dossier each, all "
                f"due within {_budget(d.bundle.budget)}."
            )
        if d.components:
            lines.append(
                "- **Components**: "
                + "; ".join(f"`{c.code}` {c.name}" + ("" if c.required else " (optional)") for c in d.components)
                + "."
            )
        lines += ["", "| step | name | performer | roles | time | actions |", "|---|---|---|---|---|---|"]
        for step in d.steps:
            actions = ", ".join(f"{k} → `{t}`" if t else k for k, t in step.actions.items())
            lines.append(
                f"| `{step.key}` | {step.name} | {step.performer} | {', '.join(step.roles)} | "
                f"{_budget(step.budget)} | {actions} |"
            )
        lines += ["", "Sources:", ""] + [f"- {source}" for source in d.sources]
    return "\n".join(lines) + "\n"


def _topic_binding(topic: str, partitions: int) -> dict:
    """AsyncAPI Kafka channel binding: the topic as scripts/infra/kafka.sh creates it."""
    config: dict = {"cleanup.policy": ["compact"]} if topic == STATE_TOPIC else {"cleanup.policy": ["delete"]}
    if topic in RETENTION_MS:
        config["retention.ms"] = RETENTION_MS[topic]
    return {
        "kafka": {"topic": topic, "partitions": partitions, "topicConfiguration": config, "bindingVersion": "0.5.0"}
    }


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

    class AppDocument:  # the gateway's DocumentSource, served by the app in process
        def __init__(self, client: httpx.AsyncClient):
            self.client = client

        async def get(self, path: str) -> bytes:
            return (await self.client.get(path)).raise_for_status().content

    try:
        merger = OpenAPIMerger(
            {name: AppDocument(client) for name, client in clients.items()},
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
        f"**Record headers.** `content-type` (always); `{TYPE_HEADER}`, the event's `type` as in the value (the",
        "name the CloudEvents Kafka binding gives that attribute), set by every Một Cửa producer so that a consumer",
        "reading a busy topic for a few types skips the others without parsing the value (`motcua_common.consumer`",
        "does: a skipped record is neither recorded in the inbox nor dead-lettered, and its offset is committed); a",
        "record without it (another producer) is parsed first; `traceparent`/`tracestate` when the producer was",
        "traced.",
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
        f"**Procedure versions** travel on `{CATALOGUE_TOPIC}` (3 partitions, kept for ever: `retention.ms` -1, not",
        "compacted, because dossiers still run on older versions): `vn.motcua.procedure.version_published.v1`, whose",
        "`data` is the whole definition (`motcua_common.procedures.ProcedureDefinition`) plus `published_at`. The",
        "record **key is the procedure code**, `subject` the code, and `sequence` the version: a code's versions",
        "arrive in order and a gap means a missed one. Intake publishes each version once, in the transaction that",
        "stores it: the versions shipped in `services/intake/intake/catalogue/` when `make migrate` first loads them,",
        "and every version an operator publishes (`POST /api/v1/procedures/{code}/versions`). Processing reads it",
        "and keeps every version; the procedures themselves are listed in [procedures.md](procedures.md).",
        "`vn.motcua.dossier.submitted.v2` names the dossier's `procedure_code` and `procedure_version`.",
        "",
        "Machine-readable: [`contracts/asyncapi.json`](../contracts/asyncapi.json) (AsyncAPI 3.0: per message the",
        "envelope, the Kafka key in `bindings.kafka.key` and an example; per channel the topic's configuration) and",
        "one JSON Schema per type in [`contracts/events/`](../contracts/events/).",
        "",
        "| type | topic | producer | consumers | meaning |",
        "|---|---|---|---|---|",
    ]
    for type_name, model in ALL_EVENTS.items():
        meaning = " ".join((model.__doc__ or "").split())
        producer, consumers = PRODUCERS.get(type_name, "processing"), CONSUMERS.get(type_name, "notify")
        lines.append(f"| `{type_name}` | `{topic_of(type_name)}` | {producer} | {consumers} | {meaning} |")
    lines += [
        "",
        "## Order, sequence numbers and gaps",
        "",
        "Every event of a dossier, on the dossier topic and on the state topic, carries the CloudEvents **`sequence`**",
        "extension attribute (the Sequence extension of CloudEvents 1.0): the dossier's event number as a decimal",
        'integer **in a string, zero-padded to 10 digits** (`"0000000003"`), so that string order and numeric order',
        "agree, as the extension requires; read it with `int(sequence)`. Number 1 is intake's",
        "`vn.motcua.dossier.submitted.v2`; processing numbers its events 2, 3, … in the order it commits them (under",
        "the dossier's row lock, from the last number kept on its dossier row), and its state record carries the",
        "number of the last event it includes, as `sequence` and as `data.sequence`.",
        "",
        "- One dossier's events share a key, hence a partition: they arrive in sequence order.",
        "- Delivery is at least once: an event seen again has a number already seen (and the same `id`): skip it.",
        "- A **gap** (after `n`, an event numbered `n + 2` or more) means a missed event: rebuild that dossier from",
        "  the state topic (below), whose record for the dossier has the highest number published so far.",
        "- Events published before sequence numbers existed have no `sequence`; their dossiers' next events continue",
        "  the count (the number of events already published, plus one).",
        "- The personal topic's events are not numbered (they are not a dossier's history).",
        "",
        "## Retention, and joining late",
        "",
        f"`{TOPIC}` keeps events **30 days** (`retention.ms` 2592000000, set by `scripts/infra/kafka.sh`); then they",
        f"are gone. `{STATE_TOPIC}` (6 partitions, **`cleanup.policy=compact`**, key = dossier id) keeps the latest",
        "`vn.motcua.dossier.state.v1` of every dossier indefinitely (no tombstones are published), whatever its age:",
        "processing publishes it through its outbox with every change (and when it opens the case). Dossiers last",
        "changed before the state topic existed appear there with their next change. A system that joins late:",
        "",
        f"1. reads `{STATE_TOPIC}` from the beginning and keeps, per key, the record with the highest `sequence`",
        "   (compaction removes older records in the background, so it may still see several per key);",
        f"2. then follows `{TOPIC}` (from the earliest retained offset), skipping events whose `sequence` is not above",
        "   the state it holds for their dossier.",
        "",
        "Its Kafka user needs READ on both topics (docs/kafka-security.md).",
        "",
        "## Envelope example",
        "",
        f"The Kafka record: key `{_DOSSIER}` (the dossier id), headers `content-type: {CLOUDEVENTS_CONTENT_TYPE}`,",
        f"`{TYPE_HEADER}: {DossierAccepted.type_name()}`, `traceparent`, value:",
        "",
        "```json",
        json.dumps(example_envelope(DossierAccepted.type_name()), indent=2, ensure_ascii=False),
        "```",
        "",
        "The envelope always has `specversion`, `id`, `source`, `type`, `subject` (the dossier code; the procedure",
        "code on the catalogue topic), `time`, `datacontenttype` and `data`; dossier, state and catalogue events also",
        "`sequence`; `traceparent`/`tracestate` when the producer was traced.",
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
        lines += [
            "",
            "Example `data`:",
            "",
            "```json",
            json.dumps(example_envelope(type_name)["data"], indent=2, ensure_ascii=False),
            "```",
            "",
        ]
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
