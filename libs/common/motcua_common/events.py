"""CloudEvents 1.0 envelope, in structured mode: the Kafka record value is the whole event as JSON
(``content-type: application/cloudevents+json``), the key is the aggregate id, and the W3C trace context
travels both as the CloudEvents distributed-tracing attributes and as Kafka headers.

Events of one aggregate (a dossier) are numbered 1, 2, 3… in the order their producers committed them, carried
as the CloudEvents ``sequence`` extension attribute (Sequence extension of CloudEvents 1.0: a string that sorts
lexicographically in event order): the decimal number zero-padded to ``SEQUENCE_DIGITS`` digits, e.g.
``"0000000003"``, so string order and numeric order agree; ``int(event.sequence)`` reads it. A consumer that saw
``n`` and then sees ``n + 2`` has missed one (docs/events.md)."""

import uuid
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
# Kafka record header with the event's ``type`` (the name the CloudEvents Kafka binding gives that attribute): the
# relay sets it beside the structured event, so a consumer can skip the types it does not handle without parsing
# the value. It always equals the value's ``type``; records without it (other producers) are parsed as before.
TYPE_HEADER = "ce_type"
SEQUENCE_DIGITS = 10  # up to 9,999,999,999 events per dossier


def format_sequence(number: int) -> str:
    """The ``sequence`` attribute of the ``number``-th event of an aggregate: ``3`` -> ``"0000000003"``."""
    if not 1 <= number < 10**SEQUENCE_DIGITS:
        raise ValueError(f"sequence number out of range: {number}")
    return f"{number:0{SEQUENCE_DIGITS}d}"


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
    sequence: str | None = Field(
        None,
        pattern=rf"^[0-9]{{{SEQUENCE_DIGITS}}}$",
        description="CloudEvents Sequence extension: the event's number among its dossier's events (1, 2, 3… "
        f"in commit order), zero-padded to {SEQUENCE_DIGITS} digits so that it sorts as a string; a gap means a "
        "missed event",
    )
    data: dict[str, Any]

    @property
    def sequence_number(self) -> int | None:
        """The ``sequence`` attribute as a number (None on events without one)."""
        return int(self.sequence) if self.sequence is not None else None


class EventData(BaseModel):
    """Base of every event payload. Subclasses set ``event_type``; unknown fields are ignored on read."""

    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)
    event_type: str  # overridden by a ClassVar-like default in subclasses; excluded from the payload
    _sequence: int | None = PrivateAttr(None)  # envelope attribute, not payload (see ``in_sequence``)

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["event_type"].default

    def in_sequence(self, number: int) -> Self:
        """Number this event among its aggregate's events: ``build_event`` (and so ``outbox.enqueue``) puts it in
        the envelope's ``sequence`` attribute. Returns the event itself."""
        format_sequence(number)  # validates the range now, where the caller can see why
        self._sequence = number
        return self


def build_event(data: EventData, *, source: str, subject: str | None) -> CloudEvent:
    return CloudEvent(
        source=source,
        type=data.type_name(),
        subject=subject,
        sequence=format_sequence(data._sequence) if data._sequence is not None else None,
        data=data.model_dump(mode="json", exclude={"event_type"}),
    )


def json_instant(value: datetime) -> str:
    """A date-time as pydantic writes it in JSON (``model_dump(mode="json")``): ISO 8601, ``Z`` for UTC."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_payload(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    subject: str | None,
    sequence: int | None = None,
    trace_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The CloudEvent of ``data`` (already JSON-ready) as ``build_event(…).model_dump(mode="json",
    exclude_none=True)`` gives it, without building models: for hot paths that make many events (issue 7). The
    same dict for the same input (``tests``: ``test_event_payload_matches_the_model``), a new ``id`` and ``time``."""
    payload: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": json_instant(datetime.now(UTC)),
        "datacontenttype": "application/json",
    }
    if subject is not None:
        payload["subject"] = subject
    for name in ("traceparent", "tracestate"):
        if trace_headers and trace_headers.get(name) is not None:
            payload[name] = trace_headers[name]
    if sequence is not None:
        payload["sequence"] = format_sequence(sequence)
    payload["data"] = data
    return payload


def parse_event(value: bytes) -> CloudEvent:
    """A CloudEvent from a Kafka record value (structured mode); raises ValueError if it is not one."""
    return CloudEvent.model_validate_json(value)
