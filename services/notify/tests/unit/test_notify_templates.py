"""Unit tests of the templates as data (Jinja2, sandboxed), SMS lengths and diacritics, and the delivery rules:
fallback chain, quiet hours, idempotency keys."""

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from motcua_common.contracts import DOSSIER_EVENTS, DossierAccepted, DossierSubmitted
from notify import domain, templates

LONG = {
    "dossier_code": "000.00.01.H29-261121-9999",
    "unit_name": "Ủy ban nhân dân phường Ba Đình, thành phố Hà Nội",
    "next_unit_name": "Công an phường Ba Đình, thành phố Hà Nội",
    "procedure_name": "Đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
    "result_number": "12345/2026/GKS-UBND",
    "reason": "Giấy chứng sinh bị mờ, không đọc được số seri và ngày cấp; đề nghị nộp lại bản rõ nét",
}


def long_sample(event_type: str) -> dict:
    data = templates.sample_data(event_type)
    return {**data, **{k: v for k, v in LONG.items() if k in data or k == "procedure_name"}}


@pytest.mark.parametrize("event_type", sorted(DOSSIER_EVENTS))
@pytest.mark.parametrize("channel", templates.CHANNELS)
def test_every_event_type_has_a_current_template_per_channel_in_vietnamese(event_type, channel):
    r = templates.store().render(event_type, channel, long_sample(event_type), "Trần Thị Bình")
    assert r.version == 1 and "000.00.01.H29-261121-9999" in r.body
    assert "{{" not in r.body and "None" not in r.body
    assert any(c in r.body for c in "ơưăâêôđ"), "Vietnamese with its diacritics"
    if channel in ("app", "email"):
        assert r.subject and r.body.startswith("Kính gửi ông/bà Trần Thị Bình,\n")


@pytest.mark.parametrize("event_type", sorted(DOSSIER_EVENTS))
def test_sms_fits_two_parts_with_and_without_diacritics_without_cutting(event_type):
    store = templates.store()
    with_marks = store.render(event_type, "sms", long_sample(event_type), None).body
    plain = store.render(event_type, "sms", long_sample(event_type), None, sms_ascii_only=True).body
    assert not with_marks.endswith("...") and not plain.endswith("...")
    assert templates.sms_length(with_marks).encoding == "ucs2"
    assert templates.sms_length(with_marks).segments <= 2
    assert templates.sms_length(plain) == templates.SmsLength("gsm7", len(plain), 1)
    assert plain == templates.strip_diacritics(with_marks) and plain.isascii()


def test_strip_diacritics_keeps_the_letters():
    assert (
        templates.strip_diacritics("Hồ sơ đã được tiếp nhận. ĐĂNG KÝ Ủy ban")
        == "Ho so da duoc tiep nhan. DANG KY Uy ban"
    )


def test_sms_lengths_and_cut():
    assert templates.sms_length("a" * 160) == templates.SmsLength("gsm7", 160, 1)
    assert templates.sms_length("a" * 161).segments == 2
    assert templates.sms_length("[" * 80) == templates.SmsLength("gsm7", 160, 1)  # extension characters count two
    assert templates.sms_length("ồ" * 70) == templates.SmsLength("ucs2", 70, 1)
    assert templates.sms_length("ồ" * 135).segments == 3
    cut = templates.fit_sms("Hồ sơ " * 60, ascii_only=False)
    assert cut.endswith("...") and templates.sms_length(cut).segments == 2


def test_templates_run_sandboxed_and_strict(tmp_path: Path):
    (tmp_path / "accepted.v1.toml").write_text(
        'event_type = "vn.motcua.dossier.accepted.v1"\nversion = 1\n'
        '[email]\nsubject = "x"\nbody = "{{ dossier_code.__class__.__mro__ }}"\n[app]\nsame_as = "email"\n'
        '[sms]\nbody = "{{ no_such_field }}"\n[ott]\nbody = "ok"\n',
        encoding="utf-8",
    )
    (tmp_path / "_layout.v1.toml").write_text('version = 1\n[email]\nbody = "{{ content }}"\n', encoding="utf-8")
    store = templates.TemplateStore(tmp_path)
    data = templates.sample_data(DossierAccepted.type_name())
    with pytest.raises(templates.TemplateError) as caught:
        store.render(DossierAccepted.type_name(), "email", data, None)
    assert isinstance(caught.value.__cause__, SecurityError)
    with pytest.raises(templates.TemplateError, match="no_such_field"):
        store.render(DossierAccepted.type_name(), "sms", data, None)
    assert store.render(DossierAccepted.type_name(), "ott", data, None).body == "ok"


def test_a_new_version_becomes_current_and_the_old_one_stays(tmp_path: Path):
    for v, word in ((1, "cũ"), (2, "mới")):
        (tmp_path / f"accepted.v{v}.toml").write_text(
            f'event_type = "vn.motcua.dossier.accepted.v1"\nversion = {v}\n[email]\nsubject = "{word}"\n'
            f'body = "{word}"\n[app]\nsame_as = "email"\n[sms]\nbody = "{word}"\n[ott]\nbody = "{word}"\n',
            encoding="utf-8",
        )
    (tmp_path / "_layout.v1.toml").write_text('version = 1\n[email]\nbody = "{{ content }}"\n', encoding="utf-8")
    store = templates.TemplateStore(tmp_path)
    data = templates.sample_data(DossierAccepted.type_name())
    assert store.render(DossierAccepted.type_name(), "sms", data, None).body == "mới"
    old = store.render(DossierAccepted.type_name(), "sms", data, None, version=1)
    assert (old.version, old.body) == (1, "cũ")


def test_a_file_whose_name_and_version_disagree_is_refused(tmp_path: Path):
    (tmp_path / "accepted.v2.toml").write_text('event_type = "vn.motcua.dossier.accepted.v1"\nversion = 1\n')
    with pytest.raises(templates.TemplateError, match="does not match"):
        templates.TemplateStore(tmp_path)


def recipient(channels, email="binh@example.vn", phone="0912345678") -> domain.Recipient:
    return domain.Recipient("d", "C", "sub", "Bình", email=email, phone=phone, channels=channels)


def test_the_dossier_choice_overrides_the_preferences_and_the_chain_falls_back_in_order():
    prefs = domain.Preferences(("ott", "email"))
    assert domain.chosen_channels(recipient(["app"]), prefs) == ["ott", "email"]
    assert domain.chosen_channels(recipient(["app", "sms"]), prefs) == ["sms"]
    assert domain.fallback_chain(recipient(["app", "sms"]), prefs) == ["sms", "ott", "email"]
    assert domain.fallback_chain(recipient(["app", "email"]), None) == ["email", "sms", "ott"]
    assert domain.fallback_chain(recipient(["app"], phone=None), prefs) == ["email"]
    chain = ["sms", "ott", "email"]
    assert domain.next_fallback(chain, "sms", ["app", "sms"]) == "ott"
    assert domain.next_fallback(chain, "ott", ["app", "sms", "ott", "email"]) is None
    assert domain.next_fallback(chain, "sms", ["sms", "ott"]) == "email"
    kinds = [d.channel for d in domain.deliveries(recipient(["app"]), DossierAccepted.type_name(), (), prefs)]
    assert kinds == ["app", "ott"]


@pytest.mark.parametrize(
    ("utc", "start", "end", "until_local"),
    [
        (datetime(2026, 11, 21, 16, 0, tzinfo=UTC), time(22), time(7), "2026-11-22 07:00"),  # 23:00 in Hà Nội
        (datetime(2026, 11, 21, 23, 30, tzinfo=UTC), time(22), time(7), "2026-11-22 07:00"),  # 06:30
        (datetime(2026, 11, 21, 3, 0, tzinfo=UTC), time(22), time(7), None),  # 10:00
        (datetime(2026, 11, 21, 5, 30, tzinfo=UTC), time(12), time(13, 30), "2026-11-21 13:30"),  # 12:30
        (datetime(2026, 11, 21, 5, 30, tzinfo=UTC), time(12), time(12), None),
    ],
)
def test_quiet_hours(utc, start, end, until_local):
    until = domain.quiet_until(utc, domain.Preferences((), start, end))
    assert (until.strftime("%Y-%m-%d %H:%M") if until else None) == until_local
    assert domain.quiet_until(utc, None) is None


def test_quiet_hours_hold_sms_and_ott_but_never_a_legal_notice():
    accepted, submitted = DossierAccepted.type_name(), DossierSubmitted.type_name()
    assert domain.holds_for_quiet_hours("sms", accepted) and domain.holds_for_quiet_hours("ott", accepted)
    assert not domain.holds_for_quiet_hours("email", accepted) and not domain.holds_for_quiet_hours("app", accepted)
    assert not domain.holds_for_quiet_hours("sms", submitted)


def test_idempotency_key_is_stable_and_distinct_per_event_recipient_channel():
    k = domain.idempotency_key("ev-1", "sub-1", "sms")
    assert k == domain.idempotency_key("ev-1", "sub-1", "sms")
    assert (
        len(
            {
                k,
                domain.idempotency_key("ev-1", "sub-1", "ott"),
                domain.idempotency_key("ev-2", "sub-1", "sms"),
                domain.idempotency_key("ev-1", "sub-2", "sms"),
            }
        )
        == 4
    )
