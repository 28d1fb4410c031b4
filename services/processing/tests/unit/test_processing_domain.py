"""Unit tests of the pure state machine and the timeliness rule."""

from datetime import UTC, datetime, timedelta

import pytest

from processing import domain
from processing.domain import Action, InvalidTransition, ReasonRequired, Status

ALLOWED = {
    (Status.SUBMITTED, Action.ACCEPT): (Status.PROCESSING, "accepted", "appraise"),
    (Status.SUBMITTED, Action.REJECT): (Status.REJECTED, "rejected", None),
    (Status.PROCESSING, Action.APPROVE): (Status.APPROVED, "approved", "issue"),
    (Status.PROCESSING, Action.REJECT): (Status.REJECTED, "rejected", None),
    (Status.APPROVED, Action.ISSUE_RESULT): (Status.RESULT_ISSUED, "issued", "return"),
    (Status.RESULT_ISSUED, Action.RETURN_RESULT): (Status.COMPLETED, "returned", None),
}
EVERY_PAIR = [(s, a) for s in Status for a in Action]


@pytest.mark.parametrize(("status", "action"), list(ALLOWED))
def test_allowed_transitions(status, action):
    move = domain.transition(status, action, reason="Thiếu giấy tờ")
    target, outcome, next_step = ALLOWED[(status, action)]
    assert (move.source, move.target, move.outcome, move.next_step) == (status, target, outcome, next_step)
    assert move.final == (next_step is None)
    # The step an action opens is the one the new status expects to be open.
    assert domain.STATUS_STEP[move.target] == next_step


@pytest.mark.parametrize(("status", "action"), [p for p in EVERY_PAIR if p not in ALLOWED])
def test_forbidden_transitions(status, action):
    with pytest.raises(InvalidTransition) as err:
        domain.transition(status, action, reason="Thiếu giấy tờ")
    assert f"'{action}'" in str(err.value) and f"'{status}'" in str(err.value)


def test_final_statuses_allow_nothing():
    assert domain.allowed_actions(Status.COMPLETED) == []
    assert domain.allowed_actions(Status.REJECTED) == []
    assert set(domain.allowed_actions(Status.SUBMITTED)) == {Action.ACCEPT, Action.REJECT}


def test_unknown_status_or_action_is_invalid():
    with pytest.raises(InvalidTransition):
        domain.transition("archived", "accept")
    with pytest.raises(InvalidTransition):
        domain.transition("submitted", "sign")


@pytest.mark.parametrize("reason", [None, "", "   \n\t", "x" * 2001])
@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.PROCESSING])
def test_reject_requires_a_reason(status, reason):
    with pytest.raises(ReasonRequired):
        domain.transition(status, Action.REJECT, reason=reason)


def test_reason_not_checked_for_other_actions():
    assert domain.transition(Status.SUBMITTED, Action.ACCEPT).target is Status.PROCESSING


def test_labels_and_steps_are_vietnamese():
    assert {domain.status_label(s) for s in Status} == {
        "Đã nộp, chờ tiếp nhận",
        "Đang xử lý",
        "Đã phê duyệt",
        "Bị từ chối",
        "Đã có kết quả, chờ trả",
        "Đã trả kết quả",
    }
    assert domain.STEP_NAMES == {
        "receive": "Tiếp nhận hồ sơ",
        "appraise": "Thẩm định, xử lý hồ sơ",
        "issue": "Ban hành kết quả",
        "return": "Trả kết quả",
    }


# Due 17:00 Vietnam time on 20 Mar 2026 (10:00 UTC).
DUE = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("completed", "expected"),
    [
        (DUE - timedelta(days=3), "early"),
        # 23:59 Vietnam time the day before = 16:59 UTC on the 19th: still an earlier Vietnamese day.
        (datetime(2026, 3, 19, 16, 59, tzinfo=UTC), "early"),
        # 00:01 Vietnam time on the due day is 17:01 UTC the day before: same Vietnamese day, on time.
        (datetime(2026, 3, 19, 17, 1, tzinfo=UTC), "on_time"),
        (DUE - timedelta(hours=1), "on_time"),
        (DUE, "on_time"),
        (DUE + timedelta(seconds=1), "late"),
        (DUE + timedelta(days=2), "late"),
    ],
)
def test_timeliness(completed, expected):
    assert domain.timeliness(completed, DUE) == expected


def test_timeliness_needs_aware_datetimes():
    with pytest.raises(ValueError):
        domain.timeliness(datetime(2026, 3, 19, 9, 0), DUE)


def test_default_result_number():
    assert domain.default_result_number("000.00.01.H29-260319-0001") == "KQ-000.00.01.H29-260319-0001"


def test_action_role_map_is_the_agreed_one():
    assert {a.value: sorted(r) for a, r in domain.ACTION_ROLES.items()} == {
        "accept": ["receiving_officer", "unit_head"],
        "reject": ["approver", "receiving_officer", "unit_head"],
        "approve": ["approver", "unit_head"],
        "issue_result": ["approver", "specialist", "unit_head"],
        "return_result": ["receiving_officer", "unit_head"],
    }
    assert not any(domain.role_allows({"provincial_operator"}, a) for a in Action)
    assert domain.role_allows({"specialist", "receiving_officer"}, Action.ACCEPT)


def _principal(kind, sub="x", **kw):
    from motcua_common.auth import Principal

    return Principal(kind=kind, subject=sub, client_id="c", **kw)


def test_may_read():
    d = {
        "unit_code": "U1",
        "receiving_unit_code": "C1",
        "applicant_kind": "citizen",
        "applicant_subject": "child",
        "submitter_kind": "citizen",
        "submitter_subject": "parent",
    }
    assert domain.may_read(_principal("citizen", "child"), d)
    assert domain.may_read(_principal("citizen", "parent"), d)
    assert not domain.may_read(_principal("citizen", "stranger"), d)
    assert domain.may_read(_principal("officer", unit_code="U1", roles=frozenset({"specialist"})), d)
    assert domain.may_read(_principal("officer", unit_code="C1", roles=frozenset({"receiving_officer"})), d)
    assert not domain.may_read(_principal("officer", unit_code="U2", roles=frozenset({"unit_head"})), d)
    assert domain.may_read(_principal("officer", unit_code="U2", roles=frozenset({"provincial_operator"})), d)
    assert domain.may_read(_principal("partner", scopes=frozenset({"dossiers:read"})), d)
    assert domain.may_read(_principal("partner", scopes=frozenset({"dossiers:read"}), unit_code="U1"), d)
    assert not domain.may_read(_principal("partner", scopes=frozenset({"dossiers:read"}), unit_code="U9"), d)
    assert not domain.may_read(_principal("partner", scopes=frozenset({"dossiers:submit-post"})), d)
    assert not domain.may_read(_principal("service", "child"), d)
    officer_filed = {**d, "submitter_kind": "officer", "submitter_subject": "hoa"}
    assert not domain.may_read(_principal("citizen", "hoa"), officer_filed)
