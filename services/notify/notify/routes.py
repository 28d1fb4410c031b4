"""HTTP endpoints of notify. Every caller is identified by the bearer access token, verified here; providers
posting delivery receipts by the HMAC signature of the body under the shared secret."""

import hmac
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import ValidationError

from motcua_common import PROBLEM_JSON, PROBLEM_RESPONSES, Conn, Problem, ProblemError
from motcua_common.auth import CurrentCitizen, CurrentOfficer, CurrentPrincipal
from motcua_common.pagination import Cursor, Limit

from . import domain, service, templates
from .providers import sign
from .schemas import (
    DeadLetterOut,
    DeadLetterPage,
    NotificationOut,
    NotificationPage,
    PreferencesIn,
    PreferencesOut,
    PreviewIn,
    PreviewOut,
    ReceiptIn,
    TemplateList,
    TemplateOut,
)

router = APIRouter(prefix="/api/v1", tags=["Notifications"])
callbacks = APIRouter(prefix="/callbacks/v1", tags=["Provider callbacks"])
AUTH_RESPONSES = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "No valid bearer access token"},
    403: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not a citizen's token"},
}
OPERATOR_RESPONSES = {
    **AUTH_RESPONSES,
    403: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not a provincial operator"},
}
EventType = Annotated[str, Path(min_length=1, max_length=100, description="e.g. vn.motcua.dossier.submitted.v2")]
ChannelPath = Annotated[str, Path(pattern="^(app|email|sms|ott)$", description="app, email, sms or ott")]


async def _page(conn: Any, rows: list[Any], next_cursor: str | None) -> NotificationPage:
    items = await service.with_attempts(conn, rows)
    return NotificationPage(items=[NotificationOut.model_validate(r) for r in items], next_cursor=next_cursor)


@router.get(
    "/dossiers/{code}/notifications",
    operation_id="notify_list_dossier_notifications",
    summary="Thông báo của một hồ sơ",
    description=(
        "The notifications sent about one dossier to its recipient, oldest first: one `app` notification "
        "(the in-app inbox) per dossier event, plus one per external channel it went out on (`email`, `sms`, "
        "`ott`; a fallback names the notification it replaces), each with its status, every delivery attempt and "
        "the provider's receipt (the proof of delivery). Only the dossier's recipient (the token's subject is the "
        "contact's `recipient_subject`) gets them; anyone else, and anyone before notify has learnt the dossier's "
        "contact, gets 404. 401 without a token. Cursor pagination: pass the `next_cursor` of a page as `cursor` "
        "to get the next one."
    ),
    response_model=NotificationPage,
    responses=AUTH_RESPONSES,
)
async def list_dossier_notifications(
    principal: CurrentPrincipal,
    conn: Conn,
    code: Annotated[str, Path(min_length=1, max_length=64, description="the dossier code")],
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationPage:
    return await _page(conn, *await service.list_notifications(conn, principal, code, limit=limit, cursor=cursor))


@router.get(
    "/me/notifications",
    operation_id="notify_my_notifications",
    summary="Hộp thư thông báo của tôi",
    description=(
        "Citizens only (403 for other tokens): the caller's in-app notifications (`app` channel) about all "
        "their dossiers, newest first. `unread=true`: only those not read yet; `unread=false`: only those "
        "already read; absent: all. Cursor pagination."
    ),
    response_model=NotificationPage,
    responses=AUTH_RESPONSES,
)
async def my_notifications(
    citizen: CurrentCitizen,
    conn: Conn,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationPage:
    return await _page(conn, *await service.inbox(conn, citizen, unread=unread, limit=limit, cursor=cursor))


@router.post(
    "/me/notifications/{notification_id}/read",
    operation_id="notify_mark_read",
    summary="Đánh dấu đã đọc",
    description=(
        "Marks one of the caller's in-app notifications read and returns it; marking it again keeps the first "
        "`read_at`. Someone else's notification, or an unknown id, answers 404."
    ),
    response_model=NotificationOut,
    responses=AUTH_RESPONSES,
)
async def mark_read(citizen: CurrentCitizen, conn: Conn, notification_id: UUID) -> NotificationOut:
    return NotificationOut.model_validate(dict(await service.mark_read(conn, citizen, notification_id)))


@router.get(
    "/me/notification-preferences",
    operation_id="notify_get_preferences",
    summary="Cách nhận thông báo của tôi",
    description=(
        "Citizens only (403 for other tokens), their own: the external channels in order of preference and the "
        "quiet hours. Never set: no channels (the in-app inbox only, plus e-mail for legal notices)."
    ),
    response_model=PreferencesOut,
    responses=AUTH_RESPONSES,
)
async def get_preferences(citizen: CurrentCitizen, conn: Conn) -> PreferencesOut:
    return PreferencesOut.model_validate(await service.get_preferences(conn, citizen))


@router.put(
    "/me/notification-preferences",
    operation_id="notify_put_preferences",
    summary="Chọn cách nhận thông báo",
    description=(
        "Citizens only, their own. `channels`: `email`, `sms`, `ott` in order of preference: a notification goes on "
        "the first that can reach the citizen and falls back along the rest (then the default order SMS → OTT → "
        "e-mail) when a channel fails for good. A dossier's own `notify_channels` (chosen at submission) override "
        "these for that dossier. `quiet_hours` (Vietnam time, may span midnight): SMS and OTT wait until the end; "
        "legal notices (forms 01–04) never wait. 422 for an unknown channel, a repeated one or a bad time."
    ),
    response_model=PreferencesOut,
    responses=AUTH_RESPONSES,
)
async def put_preferences(citizen: CurrentCitizen, conn: Conn, body: PreferencesIn) -> PreferencesOut:
    start, end = body.quiet_hours.times() if body.quiet_hours else (None, None)
    prefs = domain.Preferences(tuple(body.channels), start, end)
    return PreferencesOut.model_validate(await service.put_preferences(conn, citizen, prefs))


@router.get(
    "/notification-templates",
    operation_id="notify_list_templates",
    summary="Mẫu thông báo",
    description=(
        "Provincial operators only (403 for other officers and for citizens): every template version per event type "
        "and channel, with its Jinja2 source and whether it is the current one."
    ),
    response_model=TemplateList,
    responses=OPERATOR_RESPONSES,
)
async def list_templates(officer: CurrentOfficer) -> TemplateList:
    service.require_operator(officer)
    store = templates.store()
    return TemplateList(
        items=[
            TemplateOut(
                event_type=s.event_type,
                channel=s.channel,  # type: ignore[arg-type]  # one of templates.CHANNELS
                version=s.version,
                current=store.current_version[s.event_type] == s.version,
                subject=s.subject,
                body=s.body,
            )
            for s in sorted(store.sources.values(), key=lambda s: (s.event_type, s.channel, s.version))
        ]
    )


@router.post(
    "/notification-templates/{event_type}/{channel}/preview",
    operation_id="notify_preview_template",
    summary="Xem trước mẫu thông báo",
    description=(
        "Provincial operators only: renders a template (the current version, or `version`) with the given event "
        "payload, or a shipped sample when `data` is absent. For SMS, also the length: encoding, units and parts "
        "with diacritics and without (what goes to providers that take unaccented text only). 404 for an unknown "
        "event type, channel or version; 422 when the data is not a valid event of that type."
    ),
    response_model=PreviewOut,
    responses=OPERATOR_RESPONSES,
)
async def preview_template(
    officer: CurrentOfficer, event_type: EventType, channel: ChannelPath, body: PreviewIn
) -> PreviewOut:
    rendered = service.preview(officer, event_type, channel, body.data, body.recipient_name, body.version)
    sms = None
    if channel == "sms":
        plain = templates.strip_diacritics(rendered.body)
        sms = {
            "with_diacritics": templates.sms_length(rendered.body).__dict__,
            "without_diacritics": {**templates.sms_length(plain).__dict__, "text": plain},
        }
    return PreviewOut(
        event_type=rendered.event_type,
        channel=rendered.channel,
        version=rendered.version,
        subject=rendered.subject,
        body=rendered.body,
        sms=sms,
    )


@router.get(
    "/notification-dead-letters",
    operation_id="notify_list_dead_letters",
    summary="Thông báo không gửi được",
    description=(
        "Provincial operators only: the notifications that never got through (failed for good on their channel "
        "and on every fallback), newest first, with the error. `replayed=false`: only those not replayed yet. "
        "Cursor pagination."
    ),
    response_model=DeadLetterPage,
    responses=OPERATOR_RESPONSES,
)
async def list_dead_letters(
    officer: CurrentOfficer,
    conn: Conn,
    replayed: Annotated[bool | None, Query(description="false: not replayed yet; true: replayed")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> DeadLetterPage:
    rows, next_cursor = await service.list_dead_letters(conn, officer, replayed=replayed, limit=limit, cursor=cursor)
    return DeadLetterPage(items=[DeadLetterOut.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)


@router.post(
    "/notification-dead-letters/{dead_letter_id}/replay",
    operation_id="notify_replay_dead_letter",
    summary="Gửi lại thông báo",
    description=(
        "Provincial operators only: queues the dead letter's notification again on its channel (same idempotency "
        "key, attempts from zero) and marks the dead letter replayed by the caller. 404 for an unknown id, 409 "
        "when it was replayed already."
    ),
    response_model=DeadLetterOut,
    responses={
        **OPERATOR_RESPONSES,
        409: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Replayed already"},
    },
)
async def replay_dead_letter(officer: CurrentOfficer, conn: Conn, dead_letter_id: UUID) -> DeadLetterOut:
    return DeadLetterOut.model_validate(dict(await service.replay_dead_letter(conn, officer, dead_letter_id)))


@callbacks.post(
    "/receipts/{channel}",
    operation_id="notify_provider_receipt",
    summary="Provider delivery receipt",
    description=(
        "For SMS and OTT providers, not routed by the gateway: a delivery receipt for a message notify sent, signed "
        "with HMAC-SHA256 of the raw body under the shared secret (`X-Provider-Signature`, hex). 401 for a missing "
        "or wrong signature, 404 for an unknown message; a second receipt for the same message changes nothing."
    ),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
async def provider_receipt(
    request: Request,
    conn: Conn,
    channel: Annotated[str, Path(pattern="^(sms|ott)$")],
    x_provider_signature: Annotated[str, Header(max_length=128)] = "",
) -> None:
    raw = await request.body()
    secret = request.app.state.settings.provider_callback_secret.get_secret_value()
    if not x_provider_signature or not hmac.compare_digest(sign(secret, raw), x_provider_signature):
        raise ProblemError(401, "bad-signature", "Chữ ký không hợp lệ", "The receipt's signature does not match.")
    try:
        receipt = ReceiptIn.model_validate_json(raw)
    except ValidationError as exc:
        raise ProblemError(422, "invalid-receipt", "Biên nhận không hợp lệ", str(exc)) from exc
    await service.record_receipt(
        conn,
        channel,
        receipt.idempotency_key,
        delivered=receipt.status == "delivered",
        receipt=receipt.model_dump(mode="json"),
    )
