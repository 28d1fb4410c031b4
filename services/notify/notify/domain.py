"""Pure rules of notify: who is told on which channel and in which order (the dossier's choice, the citizen's
preferences, the fallback chain), quiet hours, the idempotency key of a notification, and the retry schedule.
The message texts are data (:mod:`notify.templates`). No I/O here."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from motcua_common.contracts import DossierExtended, DossierRefused, DossierSubmitted, DossierSupplementRequested

from . import templates
from .templates import VN_TZ, format_time

__all__ = ["VN_TZ", "format_time"]

# Channels that leave the platform, and the order a failed one falls back in when the citizen said nothing more.
EXTERNAL_CHANNELS = ("sms", "ott", "email")
FALLBACK_ORDER = ("sms", "ott", "email")
# Statuses of a notification (docs/notifications.md). ``app`` rows are delivered when written.
QUEUED, SENDING, DELIVERED = "queued", "sending", "delivered"
FAILED_TEMPORARY, FAILED_PERMANENT = "failed_temporary", "failed_permanent"
# A fixed namespace for the idempotency keys (uuid5), so every replica and every restart derives the same key.
KEY_NAMESPACE = uuid.UUID("6f1d8e0a-5b0c-4e59-9d3a-8f7a0c1d2e33")


@dataclass(frozen=True)
class Recipient:
    """The person told about one dossier, as learnt from its ``dossier.contact`` event (personal topic)."""

    dossier_id: str
    dossier_code: str
    recipient_subject: str
    full_name: str
    email: str | None = None
    phone: str | None = None
    channels: list[str] = field(default_factory=lambda: ["app"])
    procedure_name: str | None = None


@dataclass(frozen=True)
class Preferences:
    """A citizen's own choice: external channels in order of preference, and quiet hours (Vietnam time) during
    which SMS and OTT messages wait (legal notices do not). Start == end means no quiet hours."""

    channels: tuple[str, ...] = ()
    quiet_start: time | None = None
    quiet_end: time | None = None


@dataclass(frozen=True)
class Delivery:
    channel: str
    address: str | None
    status: str


# Legal notices: the receipt (form 01), the supplement request (form 02), the refusal to receive (form 03) and the
# apology with a new date (form 04). The law wants them to reach the applicant (the apology "by e-mail or SMS" for a
# dossier filed online), so they go by e-mail whenever there is an address, whatever the dossier's channels say,
# and quiet hours do not hold them back.
LEGAL_NOTICES = frozenset(
    m.type_name() for m in (DossierSubmitted, DossierSupplementRequested, DossierRefused, DossierExtended)
)


def address(recipient: Recipient, channel: str) -> str | None:
    """Where a channel reaches the recipient: e-mail by address, SMS and OTT (Zalo-style, by phone number)."""
    if channel == "email":
        return recipient.email
    if channel in ("sms", "ott"):
        return recipient.phone
    return None


def chosen_channels(recipient: Recipient, preferences: Preferences | None) -> list[str]:
    """The external channels for this dossier, in order: the dossier's ``notify_channels`` when it names any
    (it overrides for that dossier), else the citizen's preferences."""
    dossier = [c for c in recipient.channels if c in EXTERNAL_CHANNELS]
    return list(dict.fromkeys(dossier or (preferences.channels if preferences else ())))


def fallback_chain(recipient: Recipient, preferences: Preferences | None) -> list[str]:
    """Every external channel in the order a failed one falls back: the chosen ones, then the default order;
    only those that can reach the recipient."""
    chain = chosen_channels(recipient, preferences) + list(FALLBACK_ORDER)
    return [c for c in dict.fromkeys(chain) if address(recipient, c)]


def deliveries(
    recipient: Recipient,
    event_type: str = "",
    event_channels: Iterable[str] = (),
    preferences: Preferences | None = None,
) -> list[Delivery]:
    """The notifications one event produces for the dossier's recipient.

    - The in-app inbox always gets one (delivered at once, addressed by the recipient's subject): it is the
      dossier's own record of what the citizen was told.
    - The first chosen channel (:func:`chosen_channels`) that can reach the recipient; the others in the chain are
      its fallbacks, used only when it fails for good.
    - Any channel the event itself asks for (an extension asks for e-mail and SMS), when there is an address.
    - E-mail for every legal notice (:data:`LEGAL_NOTICES`) whenever there is an address.
    """
    wanted: list[str] = []
    primary = next((c for c in chosen_channels(recipient, preferences) if address(recipient, c)), None)
    if primary:
        wanted.append(primary)
    wanted += [c for c in event_channels if c in EXTERNAL_CHANNELS and address(recipient, c)]
    if event_type in LEGAL_NOTICES and recipient.email:
        wanted.append("email")
    result = [Delivery("app", None, DELIVERED)]
    for channel in sorted(set(wanted), key=EXTERNAL_CHANNELS.index):
        result.append(Delivery(channel, address(recipient, channel), QUEUED))
    return result


def next_fallback(chain: Sequence[str], failed: str, taken: Iterable[str]) -> str | None:
    """The channel a permanently failed ``failed`` falls back to: the next in the chain after it that this event
    has not used yet; None when the chain is exhausted."""
    taken = set(taken) | {failed}
    after = list(chain)[list(chain).index(failed) + 1 :] if failed in chain else list(chain)
    return next((c for c in after if c not in taken), None)


def quiet_until(now: datetime, preferences: Preferences | None) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (an aware datetime), or None when it falls in none. Quiet hours
    may span midnight (22:00-07:00)."""
    if preferences is None or preferences.quiet_start is None or preferences.quiet_end is None:
        return None
    start, end = preferences.quiet_start, preferences.quiet_end
    if start == end:
        return None
    local = now.astimezone(VN_TZ)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at


def holds_for_quiet_hours(channel: str, event_type: str) -> bool:
    """Quiet hours hold SMS and OTT (they ring a phone), never a legal notice, never e-mail or the inbox."""
    return channel in ("sms", "ott") and event_type not in LEGAL_NOTICES


def idempotency_key(event_id: str, recipient_subject: str, channel: str) -> uuid.UUID:
    """The notification's identity for (event, recipient, channel): its primary key and the ``Idempotency-Key`` of
    every provider call for it, the same after any redelivery or restart."""
    return uuid.uuid5(KEY_NAMESPACE, f"{event_id}\x1f{recipient_subject}\x1f{channel}")


def retry_delay(attempts: int, cap: float) -> float:
    """Seconds to wait before the next try after ``attempts`` failed tries: 2, 4, 8… capped."""
    return float(min(2.0 ** max(attempts, 1), cap))


def render(event_type: str, data: dict[str, Any], recipient_name: str | None) -> tuple[str, str]:
    """Subject and plain-text body of one dossier event's e-mail (the in-app message is the same), from the current
    version of its template (:mod:`notify.templates`). A malformed event raises, so the consumer retries it and
    then dead-letters it."""
    rendered = templates.store().render(event_type, "email", data, recipient_name)
    return rendered.subject, rendered.body
