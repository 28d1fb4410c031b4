"""Response models of the notify API."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class NotificationOut(BaseModel):
    id: UUID
    dossier_code: str
    event_type: str = Field(description="the CloudEvent type, e.g. vn.motcua.dossier.submitted.v2")
    channel: Literal["app", "email", "sms"]
    subject: str = Field(description="Vietnamese subject line")
    body: str = Field(description="Vietnamese plain-text body")
    status: Literal["pending", "sent", "failed", "delivered"] = Field(
        description="app: delivered at once; email: pending until sent, failed after the last retry"
    )
    created_at: datetime
    sent_at: datetime | None = None
    read_at: datetime | None = Field(None, description="app notifications: when the recipient marked it read")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last")
