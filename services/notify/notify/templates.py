"""The message templates as data: one TOML file per event type and version in ``notify/templates/``
(``<name>.v<N>.toml``), a Jinja2 template per channel (``email``: subject and body; ``app``: the in-app inbox,
usually ``same_as = "email"``; ``sms`` and ``ott``: a body only). ``_layout.v<N>.toml`` frames every e-mail and
in-app body (greeting, content, signature). A shipped version is never edited: a change is the next version's
file, and every notification records the version it was rendered with.

Templates run in Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` (an operator-authored template cannot
reach Python internals) with :class:`~jinja2.StrictUndefined` (a misspelt placeholder fails loudly instead of
printing nothing). No I/O beyond reading the shipped files once.
"""

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import StrictUndefined
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment

from motcua_common.contracts import DOSSIER_EVENTS

TEMPLATES_DIR = Path(__file__).parent / "templates"
CHANNELS = ("app", "email", "sms", "ott")
SIGNATURE = "Trung tâm Phục vụ hành chính công"
TIMELINESS = {"early": "trước hạn", "on_time": "đúng hạn", "late": "quá hạn"}
RETURN_METHODS = {"online": "trực tuyến", "counter": "tại Bộ phận Một cửa", "post": "qua dịch vụ bưu chính"}

try:
    VN_TZ: timezone | ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")
except ZoneInfoNotFoundError:  # hosts without tzdata: Vietnam has had no DST since 1975
    VN_TZ = timezone(timedelta(hours=7), "ICT")

# SMS lengths (3GPP TS 23.038/23.040): a GSM 7-bit message holds 160 characters, 153 per part when split; a UCS-2
# one (any Vietnamese letter with a diacritic forces UCS-2) 70, 67 per part. We allow at most two parts.
SMS_MAX_SEGMENTS = 2
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")  # two septets each (escape + character)


def format_time(value: datetime) -> str:
    """dd/mm/yyyy HH:MM in Vietnam time; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def strip_diacritics(text: str) -> str:
    """Vietnamese without diacritics, for SMS gateways that only take unaccented text.

    Hand-written over unicodedata rather than a transliteration library (unidecode is GPL; text-unidecode maps
    many scripts we never send): every Vietnamese letter decomposes under NFD into a base Latin letter plus
    combining marks, except đ/Đ, which are letters of their own; dropping the marks and mapping đ gives exactly the
    unaccented spelling Vietnamese readers expect ("Hồ sơ đã được tiếp nhận" -> "Ho so da duoc tiep nhan").
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets (gsm7) or characters (ucs2)
    segments: int


def sms_length(text: str) -> SmsLength:
    """How many SMS parts ``text`` takes: GSM 7-bit if every character is in the GSM alphabet, else UCS-2."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part = 160, 153
        encoding = "gsm7"
    else:
        units = len(text.encode("utf-16-le")) // 2  # characters outside the BMP take two UCS-2 units
        single, part = 70, 67
        encoding = "ucs2"
    segments = 1 if units <= single else -(-units // part)
    return SmsLength(encoding, units, segments)


def fit_sms(text: str, *, ascii_only: bool, max_segments: int = SMS_MAX_SEGMENTS) -> str:
    """The SMS as sent: one line, without diacritics when the provider requires it, cut (with "...") to at most
    ``max_segments`` parts. The shipped templates fit without cutting (a unit test renders each with long
    values); the cut protects against an operator's long placeholder values."""
    text = " ".join(text.split())
    if ascii_only:
        text = strip_diacritics(text)
    if sms_length(text).segments <= max_segments:
        return text
    while text and sms_length(text + "...").segments > max_segments:
        text = text[:-1]
    return text.rstrip() + "..."


@dataclass(frozen=True)
class TemplateSource:
    event_type: str
    channel: str
    version: int
    subject: str | None
    body: str
    file: str


@dataclass(frozen=True)
class Rendered:
    event_type: str
    channel: str
    version: int
    subject: str
    body: str


class TemplateError(ValueError):
    """A template (or the data given to it) that cannot be rendered."""


def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False, keep_trailing_newline=False
    )
    env.filters["vn_time"] = format_time
    env.filters["timeliness"] = lambda v: TIMELINESS[v]
    env.filters["return_method"] = lambda v: RETURN_METHODS[v]
    return env


class TemplateStore:
    """Every shipped template version, compiled once."""

    def __init__(self, directory: Path = TEMPLATES_DIR):
        self.env = _env()
        self.sources: dict[tuple[str, str, int], TemplateSource] = {}
        self._compiled: dict[tuple[str, str, int, str], JinjaTemplate] = {}
        self.layouts: dict[int, TemplateSource] = {}
        for path in sorted(directory.glob("*.v*.toml")):
            self._load(path)
        self.current_version: dict[str, int] = {}
        for event_type, _, version in self.sources:
            self.current_version[event_type] = max(version, self.current_version.get(event_type, 0))

    def _load(self, path: Path) -> None:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        version = int(doc["version"])
        if f".v{version}." not in path.name:
            raise TemplateError(f"{path.name}: version {version} does not match the file name")
        if path.name.startswith("_layout."):
            self.layouts[version] = TemplateSource("_layout", "email", version, None, doc["email"]["body"], path.name)
            return
        event_type = doc["event_type"]
        if event_type not in DOSSIER_EVENTS:
            raise TemplateError(f"{path.name}: unknown event type {event_type!r}")
        for channel in CHANNELS:
            section = doc.get(channel)
            if section is None:
                raise TemplateError(f"{path.name}: no [{channel}] template")
            section = doc[section["same_as"]] if "same_as" in section else section
            subject = section.get("subject")
            if channel in ("app", "email") and not subject:
                raise TemplateError(f"{path.name}: [{channel}] needs a subject")
            source = TemplateSource(event_type, channel, version, subject, section["body"], path.name)
            self.sources[(event_type, channel, version)] = source
            self._compile(source)

    def _compile(self, source: TemplateSource) -> None:
        key = (source.event_type, source.channel, source.version)
        for part, text in (("subject", source.subject), ("body", source.body)):
            if text is not None:
                self._compiled[(*key, part)] = self.env.from_string(text)

    def get(self, event_type: str, channel: str, version: int | None = None) -> TemplateSource:
        version = version or self.current_version.get(event_type)
        source = self.sources.get((event_type, channel, version or 0))
        if source is None:
            raise KeyError((event_type, channel, version))
        return source

    def render(
        self,
        event_type: str,
        channel: str,
        data: Mapping[str, Any],
        recipient_name: str | None,
        *,
        version: int | None = None,
        sms_ascii_only: bool = False,
    ) -> Rendered:
        """Render one event's message for one channel. ``data`` is the event's payload, validated against its
        contract (a malformed event raises ``pydantic.ValidationError``); an extra ``procedure_name`` lets
        later messages name the procedure, which only ``submitted`` carries."""
        model = DOSSIER_EVENTS.get(event_type)
        if model is None:
            raise TemplateError(f"no template for event type {event_type!r}")
        source = self.get(event_type, channel, version)
        event = model.model_validate(data)
        context = {name: getattr(event, name) for name in type(event).model_fields}
        if context.get("procedure_name") is None:
            context["procedure_name"] = data.get("procedure_name")
        key = (event_type, channel, source.version)
        try:
            body = self._compiled[(*key, "body")].render(context).strip("\n")
            subject = self._compiled[(*key, "subject")].render(context).strip() if source.subject else ""
            if channel in ("email", "app"):
                body = self._layout().render(recipient_name=recipient_name, content=body, signature=SIGNATURE)
                body = body.rstrip("\n") + "\n"
        except Exception as exc:  # jinja2 raises many kinds (UndefinedError, SecurityError, TypeError...)
            raise TemplateError(f"{source.file} [{channel}]: {type(exc).__name__}: {exc}") from exc
        if channel == "sms":
            body = fit_sms(body, ascii_only=sms_ascii_only)
        elif channel == "ott":
            body = " ".join(body.split())
        return Rendered(event_type, channel, source.version, subject, body)

    def _layout(self) -> JinjaTemplate:
        key = ("_layout", "email", max(self.layouts), "body")
        if key not in self._compiled:
            self._compiled[key] = self.env.from_string(self.layouts[max(self.layouts)].body)
        return self._compiled[key]


_default: TemplateStore | None = None


def store() -> TemplateStore:
    """The shipped templates, loaded on first use."""
    global _default
    if _default is None:
        _default = TemplateStore()
    return _default


# A realistic payload for every field name dossier events use, for the operators' preview (an event type takes
# the fields it has). Long on purpose: a preview shows how a message looks with long names.
_SAMPLE_VALUES: dict[str, Any] = {
    "dossier_id": "7d8f3c2e-1111-4222-8333-944455556666",
    "dossier_code": "000.00.01.H29-261121-0001",
    "occurred_at": "2026-11-21T02:30:00Z",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "procedure_version": 1,
    "processing_days": 3,
    "channel": "online",
    "receiving_unit_code": "H29.01",
    "unit_code": "H29.01",
    "unit_name": "UBND phường Ba Đình",
    "handler": "Nguyễn Văn An",
    "applicant": {"kind": "citizen", "subject": "sample-subject"},
    "submitted_by": {"kind": "citizen", "subject": "sample-subject"},
    "by": {"kind": "citizen", "subject": "sample-subject"},
    "submitted_at": "2026-11-21T02:30:00Z",
    "received_at": "2026-11-21T02:30:00Z",
    "appointment_at": "2026-11-26T10:00:00Z",
    "due_at": "2026-11-26T10:00:00Z",
    "previous_due_at": "2026-11-24T10:00:00Z",
    "reason": "Giấy chứng sinh bị mờ, không đọc được",
    "result_number": "123/GKS",
    "timeliness": "on_time",
    "return_method": "online",
    "components_requested": ["Giấy chứng sinh"],
    "request_number": 1,
    "clock_rule": "pause",
    "document_count": 1,
    "step": "tham-dinh",
    "step_name": "Thẩm định hồ sơ",
    "next_step": "phe-duyet",
    "next_step_name": "Phê duyệt",
    "next_unit_code": "H29.01",
    "next_unit_name": "UBND phường Ba Đình",
}


def sample_data(event_type: str) -> dict[str, Any]:
    """A valid sample payload of ``event_type`` (KeyError if it is not a dossier event)."""
    model = DOSSIER_EVENTS[event_type]
    data = {name: _SAMPLE_VALUES[name] for name in model.model_fields if name in _SAMPLE_VALUES}
    if model.model_fields["status"].is_required():
        data["status"] = "processing"
    return data
