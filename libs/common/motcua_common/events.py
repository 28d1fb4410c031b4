"""CloudEvents 1.0 envelope, in structured mode: the Kafka record value is the whole event as JSON
(``content-type: application/cloudevents+json``), the key is the aggregate id, and the W3C trace context
travels both as the CloudEvents distributed-tracing attributes and as Kafka headers."""

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")  # consumers ignore unknown attributes

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: dict[str, Any]


class EventData(BaseModel):
    """Base of every event payload. Subclasses set ``event_type``; unknown fields are ignored on read."""

    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)
    event_type: str  # overridden by a ClassVar-like default in subclasses; excluded from the payload

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["event_type"].default


def build_event(data: EventData, *, source: str, subject: str | None) -> CloudEvent:
    return CloudEvent(
        source=source,
        type=data.type_name(),
        subject=subject,
        data=data.model_dump(mode="json", exclude={"event_type"}),
    )


def parse_event(value: bytes) -> CloudEvent:
    """A CloudEvent from a Kafka record value (structured mode); raises ValueError if it is not one."""
    return CloudEvent.model_validate_json(value)
