"""Unit tests of the pure rules: templates, deliveries, retry schedule."""

import re
import uuid
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest
from pydantic import ValidationError

from motcua_common.contracts import (
    DOSSIER_EVENTS,
    Actor,
    DossierAccepted,
    DossierApproved,
    DossierDueSoon,
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
from motcua_common.testing import sample_submitted
from notify import domain
from notify.providers import SmtpChannel
from notify.settings import Settings

CODE = "000.00.01.H29-261121-0001"
DOSSIER_ID = uuid.UUID("7d8f3c2e-1111-4222-8333-944455556666")
# 02:30 UTC = 09:30 in Hà Nội
AT = datetime(2025, 11, 21, 2, 30, tzinfo=UTC)
DUE = datetime(2025, 11, 26, 10, 0, tzinfo=UTC)
OFFICER: dict[str, Any] = {
    "unit_code": "H29.01",
    "unit_name": "UBND phường Ba Đình",
    "handler": "Nguyễn Văn An",
    "due_at": DUE,
}


def payload(model) -> dict:
    return model.model_dump(mode="json", exclude={"event_type"})


def submitted(**over) -> DossierSubmitted:
    fields: dict[str, Any] = dict(
        dossier_id=DOSSIER_ID,
        dossier_code=CODE,
        occurred_at=AT,
        submitted_at=AT,
        received_at=AT,
        appointment_at=DUE,
    )
    fields.update(over)
    return sample_submitted(**fields)


def all_events() -> list:
    common = dict(dossier_id=DOSSIER_ID, dossier_code=CODE, occurred_at=AT, **OFFICER)
    return [
        submitted(),
        DossierAccepted(**common),
        DossierApproved(**common),
        DossierRejected(**common, reason="Thiếu giấy chứng sinh"),
        DossierResultIssued(**common, result_number="123/GKS", timeliness="on_time"),
        DossierResultReturned(**common, return_method="online"),
        DossierRefused(**common, reason="Thiếu tờ khai"),
        DossierSupplementRequested(
            **common, reason="Giấy chứng sinh bị mờ", components_requested=["GCS"], request_number=1, clock_rule="pause"
        ),
        DossierSupplemented(
            **{k: v for k, v in common.items() if k != "handler"},
            status="processing",
            by=Actor(kind="citizen", subject="sub-1"),
            request_number=1,
            document_count=1,
            step="appraise",
        ),
        DossierStepForwarded(**common, status="processing", next_step_name="Phê duyệt", next_unit_name="UBND"),
        DossierTransferred(**common, status="processing", next_step_name="Xác minh", next_unit_name="Công an xã"),
        DossierExtended(
            **{k: v for k, v in common.items() if k != "due_at"},
            status="processing",
            reason="Cần xác minh thêm",
            previous_due_at=AT,
            due_at=DUE,
        ),
        DossierDueSoon(**{k: v for k, v in common.items() if k != "handler"}, status="processing"),
        DossierOverdue(**{k: v for k, v in common.items() if k != "handler"}, status="processing"),
    ]


def test_every_dossier_event_type_has_a_template():
    assert {e.type_name() for e in all_events()} == set(DOSSIER_EVENTS)


def assert_well_formed(subject: str, body: str) -> None:
    for text in (subject, body):
        assert CODE in text
        assert not re.search(r"\{[a-z_]*\}", text), f"unformatted placeholder in {text!r}"
        assert "None" not in text
    assert body.startswith("Kính gửi ông/bà Trần Thị Bình,\n")
    assert "Trân trọng,\nTrung tâm Phục vụ hành chính công\n" in body


@pytest.mark.parametrize("event", all_events(), ids=lambda e: e.type_name().split(".")[-2])
def test_every_template_renders_vietnamese_with_the_code(event):
    subject, body = domain.render(event.type_name(), payload(event), "Trần Thị Bình")
    assert_well_formed(subject, body)


def test_submitted():
    subject, body = domain.render(DossierSubmitted.type_name(), payload(submitted()), "Trần Thị Bình")
    assert subject == f"Hồ sơ {CODE} đã được tiếp nhận"
    assert "Thủ tục: Đăng ký khai sinh" in body
    assert "Thời điểm tiếp nhận: 21/11/2025 09:30" in body
    assert "Ngày hẹn trả kết quả: 26/11/2025 17:00" in body
    assert "Thời hạn giải quyết: trong ngày làm việc" in body
    assert "Thời điểm nộp hồ sơ" not in body


def test_submitted_after_15h_shows_both_times_and_working_days():
    late = datetime(2025, 11, 21, 9, 0, tzinfo=UTC)  # 16:00 in Hà Nội: counted from the next working day
    next_day = datetime(2025, 11, 24, 0, 30, tzinfo=UTC)
    event = submitted(submitted_at=late, received_at=next_day, processing_days=3)
    _, body = domain.render(DossierSubmitted.type_name(), payload(event), "Trần Thị Bình")
    assert "Thời điểm nộp hồ sơ: 21/11/2025 16:00" in body
    assert "Thời điểm tiếp nhận: 24/11/2025 07:30" in body
    assert "Thời hạn giải quyết: 3 ngày làm việc" in body


def test_accepted_and_approved_name_the_procedure_when_known():
    events = all_events()
    data = {**payload(events[1]), "procedure_name": "Đăng ký khai sinh"}
    subject, body = domain.render(DossierAccepted.type_name(), data, "Trần Thị Bình")
    assert subject == f"Hồ sơ {CODE} đang được xử lý"
    assert "Thủ tục: Đăng ký khai sinh" in body
    assert "Hạn giải quyết: 26/11/2025 17:00" in body
    subject, body = domain.render(DossierApproved.type_name(), payload(events[2]), "Trần Thị Bình")
    assert subject == f"Hồ sơ {CODE} đã được phê duyệt"
    assert "Thủ tục:" not in body


def test_rejected_gives_the_reason():
    subject, body = domain.render(DossierRejected.type_name(), payload(all_events()[3]), "Trần Thị Bình")
    assert subject == f"Hồ sơ {CODE} không được chấp thuận"
    assert "Lý do: Thiếu giấy chứng sinh" in body


@pytest.mark.parametrize(
    ("timeliness", "label", "apology"),
    [("early", "trước hạn", False), ("on_time", "đúng hạn", False), ("late", "quá hạn", True)],
)
def test_result_issued_says_timeliness_and_apologises_when_late(timeliness, label, apology):
    event = DossierResultIssued(
        dossier_id=DOSSIER_ID,
        dossier_code=CODE,
        occurred_at=AT,
        **OFFICER,
        result_number="123/GKS",
        timeliness=timeliness,
    )
    subject, body = domain.render(DossierResultIssued.type_name(), payload(event), "Trần Thị Bình")
    assert subject == f"Đã có kết quả giải quyết hồ sơ {CODE}"
    assert "Số kết quả: 123/GKS" in body
    assert f"Hồ sơ được giải quyết {label}" in body
    assert ("xin lỗi" in body) is apology


@pytest.mark.parametrize(
    ("method", "label"),
    [("online", "trực tuyến"), ("counter", "tại Bộ phận Một cửa"), ("post", "qua dịch vụ bưu chính")],
)
def test_result_returned_names_the_return_method(method, label):
    event = DossierResultReturned(
        dossier_id=DOSSIER_ID, dossier_code=CODE, occurred_at=AT, **OFFICER, return_method=method
    )
    subject, body = domain.render(DossierResultReturned.type_name(), payload(event), "Trần Thị Bình")
    assert subject == f"Hồ sơ {CODE} đã hoàn thành"
    assert f"Kết quả đã được trả {label} lúc 21/11/2025 09:30." in body


def test_unknown_recipient_gets_a_neutral_greeting():
    _, body = domain.render(DossierApproved.type_name(), payload(all_events()[2]), None)
    assert body.startswith("Kính gửi ông/bà,\n")


def test_unknown_type_and_malformed_data_raise():
    with pytest.raises(ValueError, match="no template"):
        domain.render("vn.motcua.dossier.unknown.v1", {}, "X")
    with pytest.raises(ValidationError):
        domain.render(DossierRejected.type_name(), {"dossier_code": CODE}, "X")


def test_naive_datetimes_are_taken_as_utc():
    assert domain.format_time(datetime(2025, 1, 1, 17, 5)) == "02/01/2025 00:05"


def _recipient(channels: list[str], email: str | None = "binh@example.vn") -> domain.Recipient:
    return domain.Recipient(
        dossier_id=str(DOSSIER_ID),
        dossier_code=CODE,
        recipient_subject="sub-binh",
        full_name="Trần Thị Bình",
        email=email,
        phone="0912345678",
        channels=channels,
    )


ACCEPTED = DossierAccepted.type_name()
SUBMITTED = DossierSubmitted.type_name()
EXTENDED = DossierExtended.type_name()


@pytest.mark.parametrize(
    ("channels", "email", "event_type", "event_channels", "expected"),
    [
        # The in-app inbox always; the first chosen channel that reaches the recipient…
        (["app", "email"], "binh@example.vn", ACCEPTED, (), ["app", "email"]),
        (["app"], "binh@example.vn", ACCEPTED, (), ["app"]),
        (["app", "sms"], "binh@example.vn", ACCEPTED, (), ["app", "sms"]),
        (["app", "ott", "email"], "binh@example.vn", ACCEPTED, (), ["app", "ott"]),
        # …the others are fallbacks, not sent at once…
        (["app", "email", "sms"], "binh@example.vn", ACCEPTED, (), ["app", "email"]),
        # …legal notices (receipt, supplement request, refusal, apology) go by e-mail as well, whatever was chosen…
        (["app"], "binh@example.vn", SUBMITTED, (), ["app", "email"]),
        (["app", "sms"], "binh@example.vn", SUBMITTED, (), ["app", "sms", "email"]),
        (["app", "sms"], "binh@example.vn", EXTENDED, ["email", "sms"], ["app", "sms", "email"]),
        # …and an event that asks for a channel itself gets it.
        (["app"], "binh@example.vn", ACCEPTED, ["email"], ["app", "email"]),
        # No e-mail address: the next chosen channel that reaches the recipient.
        (["app", "email", "sms"], None, SUBMITTED, (), ["app", "sms"]),
    ],
)
def test_deliveries_follow_the_chosen_channels(channels, email, event_type, event_channels, expected):
    got = domain.deliveries(_recipient(channels, email), event_type, event_channels)
    assert [d.channel for d in got] == expected
    # The app inbox is addressed by the recipient's subject, not by any personal id.
    assert got[0] == domain.Delivery("app", None, "delivered")
    addresses = {"email": email, "sms": "0912345678", "ott": "0912345678"}
    assert all(d.address == addresses[d.channel] and d.status == "queued" for d in got[1:])


def test_every_legal_notice_is_a_dossier_event_notify_renders():
    assert domain.LEGAL_NOTICES <= set(DOSSIER_EVENTS)


def test_retry_delay_doubles_and_is_capped():
    assert [domain.retry_delay(n, 300) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert domain.retry_delay(20, 300) == 300


@pytest.mark.parametrize(
    "subject",
    [
        f"Hồ sơ {CODE} không được chấp thuận",
        f"Đã có kết quả giải quyết hồ sơ {CODE} của Ủy ban nhân dân phường Ba Đình, thành phố Hà Nội",
        "Plain ASCII subject",
    ],
)
def test_email_subject_and_body_survive_the_wire(subject):
    """Long Vietnamese subjects are folded; no space between words may be lost on the way."""
    sender = SmtpChannel(Settings())
    body = "Kính gửi ông/bà Trần Thị Bình,\n\nLý do: Thiếu giấy chứng sinh\n"
    wire = sender.wire(
        {
            "id": "0b1c",
            "recipient": "binh@example.vn",
            "subject": subject,
            "dossier_code": CODE,
            "event_id": "ev-1",
            "body": body,
        }
    )
    headers = wire.split(b"\r\n\r\n")[0]
    assert headers.isascii()
    parsed = message_from_bytes(wire, policy=email_policy.default)
    assert parsed["Subject"] == subject
    assert parsed["To"] == "binh@example.vn" and parsed["X-Motcua-Event-Id"] == "ev-1"
    assert parsed["Message-ID"] == "<0b1c@motcua.gov.vn>"
    assert parsed.get_content().splitlines() == body.splitlines()
    assert all(len(line) <= 78 for line in headers.split(b"\r\n"))


def test_supplement_request_says_what_is_missing_and_that_the_clock_pauses():
    event = next(e for e in all_events() if isinstance(e, DossierSupplementRequested))
    _, body = domain.render(event.type_name(), payload(event), "Trần Thị Bình")
    assert "Lý do: Giấy chứng sinh bị mờ" in body and "Giấy tờ cần bổ sung: GCS" in body
    assert "tạm dừng" in body


def test_extension_apologises_with_the_new_date():
    event = next(e for e in all_events() if isinstance(e, DossierExtended))
    subject, body = domain.render(event.type_name(), payload(event), "Trần Thị Bình")
    assert subject.startswith("Xin lỗi") and "thành thật xin lỗi" in body
    assert "Lý do: Cần xác minh thêm" in body and "Ngày hẹn trả kết quả mới: 26/11/2025 17:00" in body
    assert event.notify_channels == ["email", "sms"]
