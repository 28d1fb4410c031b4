"""Pure rules of notify: the Vietnamese message templates, who is told on which channel, and the
retry schedule. No I/O here."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua_common.contracts import (
    DOSSIER_EVENTS,
    DossierAccepted,
    DossierApproved,
    DossierDueSoon,
    DossierEvent,
    DossierExtended,
    DossierOverdue,
    DossierRefused,
    DossierRejected,
    DossierResultIssued,
    DossierResultReturned,
    DossierStepForwarded,
    DossierSubmitted,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierTransferred,
)

try:
    VN_TZ: timezone | ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")
except ZoneInfoNotFoundError:  # hosts without tzdata: Vietnam has had no DST since 1975
    VN_TZ = timezone(timedelta(hours=7), "ICT")

SIGNATURE = "Trung tâm Phục vụ hành chính công"

TIMELINESS = {"early": "trước hạn", "on_time": "đúng hạn", "late": "quá hạn"}
RETURN_METHODS = {
    "online": "trực tuyến",
    "counter": "tại Bộ phận Một cửa",
    "post": "qua dịch vụ bưu chính",
}


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
class Delivery:
    channel: str
    address: str | None
    status: str


# Legal notices: the receipt (form 01), the supplement request (form 02), the refusal to receive (form 03) and the
# apology with a new date (form 04). The law wants them to reach the applicant (the apology "by e-mail or SMS" for a
# dossier filed online), so they go by e-mail whenever there is an address, whatever the dossier's channels say.
LEGAL_NOTICES = frozenset(
    m.type_name() for m in (DossierSubmitted, DossierSupplementRequested, DossierRefused, DossierExtended)
)


def deliveries(recipient: Recipient, event_type: str = "", event_channels: Iterable[str] = ()) -> list[Delivery]:
    """The notifications one event produces for the dossier's recipient, on the channels chosen for the dossier
    (``notify_channels``) plus any the event itself asks for (an extension asks for e-mail and SMS).

    - The in-app inbox always gets one (delivered at once, addressed by the recipient's subject): it is the
      dossier's own record of what the citizen was told.
    - E-mail when the recipient has an address and chose e-mail (or the event asks for it), and for every legal
      notice (:data:`LEGAL_NOTICES`) whatever was chosen.
    - SMS is not produced until an SMS gateway exists (issue 8); a legal notice for someone who chose SMS goes by
      e-mail when there is an address.
    """
    chosen = set(recipient.channels) | set(event_channels)
    result = [Delivery("app", None, "delivered")]
    if recipient.email and ("email" in chosen or event_type in LEGAL_NOTICES):
        result.append(Delivery("email", recipient.email, "pending"))
    return result


def retry_delay(attempts: int, cap: float) -> float:
    """Seconds to wait before the next try after ``attempts`` failed tries: 2, 4, 8… capped."""
    return float(min(2.0 ** max(attempts, 1), cap))


def format_time(value: datetime) -> str:
    """dd/mm/yyyy HH:MM in Vietnam time; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def _greeting(name: str | None) -> str:
    return f"Kính gửi ông/bà {name}," if name and name.strip() else "Kính gửi ông/bà,"


def _procedure(procedure_name: str | None) -> list[str]:
    return [f"Thủ tục: {procedure_name}"] if procedure_name else []


def _submitted(e: DossierSubmitted, _procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        "Hồ sơ của ông/bà đã được tiếp nhận.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        f"Thủ tục: {e.procedure_name}",
        f"Cơ quan giải quyết: {e.unit_name}",
    ]
    if format_time(e.submitted_at) != format_time(e.received_at):
        lines.append(f"Thời điểm nộp hồ sơ: {format_time(e.submitted_at)}")
    lines.append(f"Thời điểm tiếp nhận: {format_time(e.received_at)}")
    if e.processing_days > 0:
        lines.append(f"Thời hạn giải quyết: {e.processing_days} ngày làm việc")
    else:
        lines.append("Thời hạn giải quyết: trong ngày làm việc")
    lines += [
        f"Ngày hẹn trả kết quả: {format_time(e.appointment_at)}",
        "",
        "Ông/bà có thể tra cứu tình trạng giải quyết hồ sơ bằng mã hồ sơ trên ứng dụng Một Cửa.",
    ]
    return f"Hồ sơ {e.dossier_code} đã được tiếp nhận", lines


def _accepted(e: DossierAccepted, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã được kiểm tra và chuyển {e.unit_name} giải quyết.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Hạn giải quyết: {format_time(e.due_at)}",
        "",
        "Chúng tôi sẽ thông báo cho ông/bà khi có kết quả giải quyết.",
    ]
    return f"Hồ sơ {e.dossier_code} đang được xử lý", lines


def _approved(e: DossierApproved, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã được cấp có thẩm quyền phê duyệt.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Ngày hẹn trả kết quả: {format_time(e.due_at)}",
        "",
        "Chúng tôi sẽ thông báo cho ông/bà khi kết quả giải quyết được ban hành.",
    ]
    return f"Hồ sơ {e.dossier_code} đã được phê duyệt", lines


def _rejected(e: DossierRejected, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Chúng tôi rất tiếc phải thông báo hồ sơ {e.dossier_code} của ông/bà không được chấp thuận.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Lý do: {e.reason}",
        "",
        f"Nếu cần được hướng dẫn thêm, ông/bà vui lòng liên hệ {e.unit_name}.",
    ]
    return f"Hồ sơ {e.dossier_code} không được chấp thuận", lines


def _result_issued(e: DossierResultIssued, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã có kết quả giải quyết.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Số kết quả: {e.result_number}",
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Hồ sơ được giải quyết {TIMELINESS[e.timeliness]} (hạn giải quyết: {format_time(e.due_at)}).",
    ]
    if e.timeliness == "late":
        lines.append(
            f"{e.unit_name} thành thật xin lỗi ông/bà vì đã giải quyết hồ sơ chậm so với thời hạn "
            "đã hẹn và mong ông/bà thông cảm."
        )
    lines += ["", "Ông/bà vui lòng nhận kết quả theo hình thức đã đăng ký."]
    return f"Đã có kết quả giải quyết hồ sơ {e.dossier_code}", lines


def _result_returned(e: DossierResultReturned, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã hoàn thành.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Kết quả đã được trả {RETURN_METHODS[e.return_method]} lúc {format_time(e.occurred_at)}.",
        "",
        "Cảm ơn ông/bà đã sử dụng dịch vụ công. Ông/bà có thể đánh giá mức độ hài lòng trên ứng dụng Một Cửa.",
    ]
    return f"Hồ sơ {e.dossier_code} đã hoàn thành", lines


def _refused(e: DossierRefused, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà không được tiếp nhận.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Đơn vị tiếp nhận: {e.unit_name}",
        f"Lý do: {e.reason}",
        "",
        "Ông/bà vui lòng hoàn thiện hồ sơ theo hướng dẫn và nộp lại.",
    ]
    return f"Hồ sơ {e.dossier_code} không được tiếp nhận", lines


def _supplement_requested(e: DossierSupplementRequested, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà cần được bổ sung, hoàn thiện.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan yêu cầu: {e.unit_name}",
        f"Lý do: {e.reason}",
    ]
    if e.components_requested:
        lines.append("Giấy tờ cần bổ sung: " + "; ".join(e.components_requested))
    lines += [
        "",
        "Thời hạn giải quyết được tạm dừng cho đến khi ông/bà bổ sung hồ sơ."
        if e.clock_rule == "pause"
        else "Thời hạn giải quyết được tính lại từ đầu khi ông/bà bổ sung hồ sơ.",
        "Ông/bà có thể bổ sung hồ sơ trên ứng dụng Một Cửa hoặc tại Bộ phận Một cửa.",
    ]
    return f"Hồ sơ {e.dossier_code} cần bổ sung", lines


def _supplemented(e: DossierSupplemented, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} đã được bổ sung và tiếp tục được giải quyết.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Hạn giải quyết mới: {format_time(e.due_at)}",
    ]
    return f"Hồ sơ {e.dossier_code} đã được bổ sung", lines


def _moved(e: DossierStepForwarded | DossierTransferred, procedure_name: str | None) -> tuple[str, list[str]]:
    where = e.next_unit_name or e.unit_name
    step = f"bước {e.next_step_name} tại {where}" if e.next_step_name else where
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã được chuyển sang {step}.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Hạn giải quyết: {format_time(e.due_at)}",
    ]
    return f"Hồ sơ {e.dossier_code} đang được xử lý", lines


def _extended(e: DossierExtended, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"{e.unit_name} thành thật xin lỗi ông/bà vì hồ sơ {e.dossier_code} chưa được giải quyết đúng hạn.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Lý do: {e.reason}",
        f"Hạn cũ: {format_time(e.previous_due_at)}",
        f"Ngày hẹn trả kết quả mới: {format_time(e.due_at)}",
        "",
        "Mong ông/bà thông cảm.",
    ]
    return f"Xin lỗi và hẹn lại ngày trả kết quả hồ sơ {e.dossier_code}", lines


def _due_soon(e: DossierDueSoon, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà sắp đến hạn giải quyết.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Hạn giải quyết: {format_time(e.due_at)}",
    ]
    return f"Hồ sơ {e.dossier_code} sắp đến hạn", lines


def _overdue(e: DossierOverdue, procedure_name: str | None) -> tuple[str, list[str]]:
    lines = [
        f"Hồ sơ {e.dossier_code} của ông/bà đã quá hạn giải quyết.",
        "",
        f"Mã hồ sơ: {e.dossier_code}",
        *_procedure(procedure_name),
        f"Cơ quan giải quyết: {e.unit_name}",
        f"Hạn giải quyết: {format_time(e.due_at)}",
        "",
        f"{e.unit_name} sẽ thông báo cho ông/bà thời hạn trả kết quả mới.",
    ]
    return f"Hồ sơ {e.dossier_code} đã quá hạn", lines


_TEMPLATES: dict[type[DossierEvent], Callable[[Any, str | None], tuple[str, list[str]]]] = {
    DossierRefused: _refused,
    DossierSupplementRequested: _supplement_requested,
    DossierSupplemented: _supplemented,
    DossierStepForwarded: _moved,
    DossierTransferred: _moved,
    DossierExtended: _extended,
    DossierDueSoon: _due_soon,
    DossierOverdue: _overdue,
    DossierSubmitted: _submitted,
    DossierAccepted: _accepted,
    DossierApproved: _approved,
    DossierRejected: _rejected,
    DossierResultIssued: _result_issued,
    DossierResultReturned: _result_returned,
}


def render(event_type: str, data: dict[str, Any], recipient_name: str | None) -> tuple[str, str]:
    """Subject and plain-text body for one dossier event.

    ``data`` is the event's payload; it is validated against its contract (a malformed event raises,
    so the consumer retries it and then dead-letters it). An extra ``procedure_name`` key, which only
    ``submitted`` carries, lets later messages name the procedure too.
    """
    model = DOSSIER_EVENTS.get(event_type)
    if model is None:
        raise ValueError(f"no template for event type {event_type!r}")
    event = model.model_validate(data)
    procedure_name = data.get("procedure_name")
    subject, lines = _TEMPLATES[model](event, procedure_name)
    body = "\n".join([_greeting(recipient_name), "", *lines, "", "Trân trọng,", SIGNATURE]) + "\n"
    return subject, body
