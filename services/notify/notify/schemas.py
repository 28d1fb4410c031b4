"""Request and response models of the notify API."""

import re
from datetime import datetime, time
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

Status = Literal[
    "queued",
    "sending",
    "delivered",
    "failed_temporary",
    "failed_permanent",
    # Before issue 8 (deprecated: no row has them since migration 0003).
    "pending",
    "sent",
    "failed",
]
ExternalChannel = Literal["email", "sms", "ott"]


class AttemptOut(BaseModel):
    attempt: int = Field(description="1 for the first try")
    channel: str
    started_at: datetime
    finished_at: datetime
    outcome: Literal["accepted", "failed_temporary", "failed_permanent", "rate_limited"]
    detail: str | None = Field(None, description="what the provider answered")
    provider_message_id: str | None = None


class NotificationOut(BaseModel):
    id: UUID
    dossier_code: str
    event_type: str = Field(description="the CloudEvent type, e.g. vn.motcua.dossier.submitted.v2")
    channel: Literal["app", "email", "sms", "ott"]
    subject: str = Field(description="Vietnamese subject line (for SMS and OTT: the e-mail subject of the same event)")
    body: str = Field(description="Vietnamese plain-text body")
    status: Status = Field(
        description="app: delivered at once; others: queued -> sending -> delivered, failed_temporary (retried) "
        "or failed_permanent (then the next channel of the fallback chain, or a dead letter)"
    )
    created_at: datetime
    sent_at: datetime | None = Field(None, description="when the provider accepted it")
    read_at: datetime | None = Field(None, description="app notifications: when the recipient marked it read")
    template_version: int = 1
    fallback_of: UUID | None = Field(None, description="the notification on another channel this one replaces")
    delivered_at: datetime | None = None
    receipt: dict[str, Any] | None = Field(
        None, description="the proof of delivery: the SMTP server's answer, or the provider's delivery receipt"
    )
    error: str | None = Field(None, description="the last failure, while not delivered")
    attempts: list[AttemptOut] = Field(default_factory=list, description="every try, oldest first")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last")


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(BaseModel):
    start: str = Field(description="HH:MM, Vietnam time", examples=["22:00"])
    end: str = Field(description="HH:MM, Vietnam time; may be earlier than start (over midnight)", examples=["07:00"])

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("must be HH:MM (00:00-23:59)")
        return v

    def times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class PreferencesIn(BaseModel):
    channels: list[ExternalChannel] = Field(
        max_length=3, description="external channels in order of preference (the in-app inbox always gets one)"
    )
    quiet_hours: QuietHours | None = Field(None, description="SMS and OTT wait until the end; legal notices do not")

    @field_validator("channels")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each channel at most once")
        return v


class PreferencesOut(BaseModel):
    channels: list[ExternalChannel]
    quiet_hours: QuietHours | None = None


class TemplateOut(BaseModel):
    event_type: str
    channel: Literal["app", "email", "sms", "ott"]
    version: int
    current: bool = Field(description="the version new notifications use")
    subject: str | None = Field(None, description="Jinja2 source of the subject (app and email)")
    body: str = Field(description="Jinja2 source of the body")


class TemplateList(BaseModel):
    items: list[TemplateOut]


class PreviewIn(BaseModel):
    data: dict[str, Any] | None = Field(None, description="the event's payload; absent: a shipped sample")
    recipient_name: str | None = Field(None, max_length=200)
    version: int | None = Field(None, ge=1, description="absent: the current version")


class PreviewOut(BaseModel):
    event_type: str
    channel: str
    version: int
    subject: str
    body: str
    sms: dict[str, Any] | None = Field(
        None, description="SMS only: encoding, length and parts, with and without diacritics"
    )


class DeadLetterOut(BaseModel):
    id: UUID
    notification_id: UUID
    dossier_code: str
    channel: str
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None = None
    replayed_by: str | None = None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = None


class ReceiptIn(BaseModel):
    idempotency_key: UUID
    message_id: str = Field(max_length=200)
    status: Literal["delivered", "failed"]
    error: str | None = Field(None, max_length=1000)
    at: datetime
