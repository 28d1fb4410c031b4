import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from intake.domain import (
    CODE_ALPHABET,
    DossierParties,
    LegalClock,
    WorkingCalendar,
    can_read_application,
    can_track,
    code_suffix,
    dossier_code,
    sniff_content_type,
    submission_refusal,
)
from motcua_common.auth import Principal

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
CLOCK = LegalClock(CAL, VN)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 2, 17), False),  # Tết
        (date(2026, 4, 27), False),  # Hùng Kings day observed (26 Apr is a Sunday)
        (date(2026, 9, 2), False),  # National Day
        (date(2025, 4, 26), True),  # make-up working Saturday
        (date(2025, 5, 2), False),  # the day off it paid for
        (date(2026, 11, 24), False),  # Vietnam Cultural Day
    ],
)
def test_working_days_follow_the_national_calendar(day, working):
    assert CAL.is_working_day(day) is working


def test_overrides_add_days_off_and_working_days():
    cal = WorkingCalendar(days_off={date(2026, 11, 20)}, working_days={date(2026, 11, 21)})
    assert not cal.is_working_day(date(2026, 11, 20))
    assert cal.is_working_day(date(2026, 11, 21))


def test_add_working_days_skips_tet():
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    assert CAL.add_working_days(date(2026, 2, 13), 3) == date(2026, 2, 25)


def test_same_day_procedure_after_15_counts_next_working_day():
    friday_late = datetime(2026, 11, 20, 15, 30, tzinfo=VN)
    received = CLOCK.received_at(friday_late, 0)
    assert received == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    assert CLOCK.appointment(received, 0) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_same_day_procedure_before_15_is_due_today():
    wednesday = datetime(2026, 11, 18, 14, 59, tzinfo=VN)
    assert CLOCK.received_at(wednesday, 0) == wednesday
    assert CLOCK.appointment(wednesday, 0) == datetime(2026, 11, 18, 17, 0, tzinfo=VN)


def test_multi_day_procedure_uses_closing_time_as_cutoff():
    wednesday = datetime(2026, 11, 18, 16, 0, tzinfo=VN)
    assert CLOCK.received_at(wednesday, 3) == wednesday
    assert CLOCK.appointment(wednesday, 3) == datetime(2026, 11, 23, 17, 0, tzinfo=VN)


def test_weekend_submission_starts_on_monday_and_utc_input_is_converted():
    saturday_utc = datetime(2026, 11, 21, 3, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Hà Nội
    assert CLOCK.received_at(saturday_utc, 7) == datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    # 24 Nov 2026 (Vietnam Cultural Day) is a day off in the national calendar
    assert CLOCK.appointment(CLOCK.received_at(saturday_utc, 7), 7).date() == date(2026, 12, 3)


def test_custom_cutoff():
    clock = LegalClock(CAL, VN, same_day_cutoff=time(16, 0))
    at = datetime(2026, 11, 18, 15, 30, tzinfo=VN)
    assert clock.received_at(at, 0) == at


def test_dossier_code_format():
    assert dossier_code("000.26.01.H29", date(2026, 11, 21), 13, "K7QXM2") == "000.26.01.H29-261121-0013-K7QXM2"
    code = dossier_code("000.26.01.H29", date(2026, 11, 21), 13)
    assert re.fullmatch(r"000\.26\.01\.H29-261121-0013-[2-9A-HJKMNP-Z]{6}", code), code


def test_code_alphabet_is_31_unambiguous_characters():
    assert len(CODE_ALPHABET) == len(set(CODE_ALPHABET)) == 31
    assert not set("01ILO") & set(CODE_ALPHABET)


def test_code_suffixes_are_random():
    suffixes = {code_suffix() for _ in range(2000)}
    assert len(suffixes) == 2000  # ~9e8 possibilities: a repeat in 2000 draws would be a broken generator
    assert all(len(s) == 6 and set(s) <= set(CODE_ALPHABET) for s in suffixes)
    assert set("".join(suffixes)) == set(CODE_ALPHABET)  # every character is used


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"%PDF-1.7\n%", "application/pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a", None),
        (b"<html><script>", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_content_type_is_sniffed_from_the_bytes(head, content_type):
    assert sniff_content_type(head) == content_type


def _principal(kind, **kw):
    return Principal(kind=kind, subject=kw.pop("subject", "s"), client_id="c", **kw)


@pytest.mark.parametrize(
    ("principal", "channel", "allowed"),
    [
        (_principal("citizen", personal_id="001090001234"), "online", True),
        (_principal("citizen", personal_id="001090001234"), "counter", False),
        (_principal("citizen", personal_id="001090001234"), "post", False),
        (_principal("officer", unit_code="U", roles=frozenset({"receiving_officer"})), "counter", True),
        (_principal("officer", unit_code="U", roles=frozenset({"receiving_officer"})), "service_centre", True),
        (_principal("officer", unit_code="U", roles=frozenset({"receiving_officer"})), "online", False),
        (_principal("officer", unit_code="U", roles=frozenset({"specialist", "approver"})), "counter", False),
        (_principal("officer", unit_code="U", roles=frozenset({"provincial_operator"})), "service_centre", False),
        (_principal("partner", scopes=frozenset({"dossiers:submit-post"})), "post", True),
        (_principal("partner", scopes=frozenset({"dossiers:submit-post"})), "online", False),
        (_principal("partner", scopes=frozenset({"dossiers:read"})), "post", False),
        (_principal("service", scopes=frozenset({"registry:read"})), "online", False),
    ],
)
def test_who_may_submit_on_which_channel(principal, channel, allowed):
    assert (submission_refusal(principal, channel) is None) is allowed


DOSSIER = DossierParties(
    unit_code="U1",
    receiving_unit_code="C1",
    applicant_subject="child",
    submitter_kind="citizen",
    submitter_subject="parent",
)


@pytest.mark.parametrize(
    ("principal", "track", "application"),
    [
        (_principal("citizen", subject="child", personal_id="1"), True, True),
        (_principal("citizen", subject="parent", personal_id="2"), True, True),
        (_principal("citizen", subject="stranger", personal_id="3"), False, False),
        (_principal("officer", unit_code="U1", roles=frozenset({"specialist"})), True, True),
        (_principal("officer", unit_code="C1", roles=frozenset({"receiving_officer"})), True, True),
        (_principal("officer", unit_code="U2", roles=frozenset({"receiving_officer", "approver"})), False, False),
        (_principal("officer", unit_code="P", roles=frozenset({"provincial_operator"})), True, False),
        (_principal("partner", scopes=frozenset({"dossiers:read"})), True, False),
        (_principal("partner", scopes=frozenset({"dossiers:read"}), unit_code="U1"), True, False),
        (_principal("partner", scopes=frozenset({"dossiers:read"}), unit_code="VCCI.HN"), False, False),
        (_principal("partner", scopes=frozenset({"dossiers:submit-post"})), False, False),
        (_principal("service", scopes=frozenset({"registry:read"})), False, False),
    ],
)
def test_who_may_read_a_dossier(principal, track, application):
    assert can_track(principal, DOSSIER) is track
    assert can_read_application(principal, DOSSIER) is application


def test_an_officer_submitter_is_not_a_party_by_subject():
    d = DossierParties("U1", "C1", applicant_subject="x", submitter_kind="officer", submitter_subject="same")
    assert not can_track(_principal("citizen", subject="same", personal_id="1"), d)
