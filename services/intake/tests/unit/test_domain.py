import re
from datetime import date

import pytest

from intake.domain import (
    CODE_ALPHABET,
    DossierParties,
    can_read_application,
    can_track,
    code_suffix,
    dossier_code,
    sniff_content_type,
    submission_refusal,
)
from motcua_common.auth import Principal


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
