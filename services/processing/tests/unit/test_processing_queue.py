"""Work queues and the predicted completion date, as pure rules: whose queue an officer may read, the flags of an
item, the due-soon range bound, office time without the supplement waits, the prediction and its Vietnamese label.
7–17 December 2026 have no public holiday, so each vector can be counted by hand."""

import typing
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from motcua_common.legal_clock import LegalClock, WorkingCalendar
from motcua_common.principal import (
    APPROVER,
    OFFICER_ROLES,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SPECIALIST,
    UNIT_HEAD,
    Kind,
    Principal,
)
from processing import domain, routes
from processing.deadlines import Clock

HN = ZoneInfo("Asia/Ho_Chi_Minh")
CLOCK = Clock(LegalClock(WorkingCalendar.default()))


def hn(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=HN)


def officer(unit: str, *roles: str) -> Principal:
    return Principal(
        kind="officer", subject=f"{unit}-{'-'.join(roles)}", client_id="t", unit_code=unit, roles=frozenset(roles)
    )


def test_an_officer_reads_the_steps_of_their_own_unit_and_roles():
    assert domain.queue_scope(officer("U1", SPECIALIST), None, None) == domain.QueueScope("U1", frozenset({SPECIALIST}))
    assert domain.queue_scope(officer("U1", SPECIALIST, APPROVER), "U1", None) == domain.QueueScope(
        "U1", frozenset({SPECIALIST, APPROVER})
    )
    assert domain.queue_scope(officer("U1", SPECIALIST), None, SPECIALIST).roles == frozenset({SPECIALIST})
    with pytest.raises(domain.NotAllowed):
        domain.queue_scope(officer("U1", SPECIALIST), "U2", None)
    with pytest.raises(domain.NotAllowed):
        domain.queue_scope(officer("U1", SPECIALIST), None, APPROVER)
    # Roles outside the vocabulary are ignored; none left: an empty queue, not an error.
    assert domain.queue_scope(officer("U1", "mayor"), None, None) == domain.QueueScope("U1", frozenset())


def test_a_unit_head_and_an_operator_read_the_whole_unit():
    assert domain.queue_scope(officer("U1", UNIT_HEAD), None, None) == domain.QueueScope("U1", None)
    assert domain.queue_scope(officer("U1", UNIT_HEAD, SPECIALIST), None, None).roles is None
    assert domain.queue_scope(officer("U1", UNIT_HEAD), None, RECEIVING_OFFICER).roles == frozenset({RECEIVING_OFFICER})
    with pytest.raises(domain.NotAllowed):
        domain.queue_scope(officer("U1", UNIT_HEAD), "U2", None)
    operator = officer("C", PROVINCIAL_OPERATOR)
    assert domain.queue_scope(operator, None, None) == domain.QueueScope(None, None)  # the whole province
    assert domain.queue_scope(operator, "U2", APPROVER) == domain.QueueScope("U2", frozenset({APPROVER}))


def test_only_officers_have_a_queue():
    kinds: tuple[Kind, ...] = ("citizen", "partner", "service")
    for kind in kinds:
        with pytest.raises(domain.NotAllowed):
            domain.queue_scope(Principal(kind=kind, subject="x", client_id="x", unit_code="U1"), "U1", None)


def test_the_route_offers_exactly_the_roles_a_step_can_name():
    assert (
        set(typing.get_args(routes.QueueRole)) == set(domain.STEP_ROLES) == set(OFFICER_ROLES) - {PROVINCIAL_OPERATOR}
    )


def test_flags_of_a_queue_item():
    now, until = hn(9, 10), hn(10, 10)

    def flags(status: str, due: datetime) -> tuple[bool, bool, bool]:
        f = domain.queue_flags({"status": status, "due_at": due}, now, until)
        return f.overdue, f.due_soon, f.paused

    assert flags("processing", hn(8, 17)) == (True, False, False)
    assert flags("processing", hn(9, 17)) == (False, True, False)
    assert flags("processing", now) == (False, True, False)  # due this instant: not yet overdue
    assert flags("processing", until) == (False, True, False)
    assert flags("processing", until + timedelta(microseconds=1)) == (False, False, False)
    assert flags("supplement_requested", hn(8, 17)) == (False, False, True)  # the clock is suspended
    assert flags("supplement_requested", hn(9, 17)) == (False, False, True)


@pytest.mark.parametrize("window", [1.0, 0.5, 2.0])
def test_the_due_soon_range_is_the_engines_due_soon_rule(window):
    """From now to due_soon_until(now) are exactly the due dates whose due_soon_at (the engine's, from the legal
    clock) has come: within office hours, after closing, at the lunch break, a minute before closing, on a Saturday."""
    for now in (hn(9, 10), hn(9, 17, 30), hn(9, 12, 30), hn(11, 16, 59), hn(12, 11)):
        until = CLOCK.due_soon_until(now, window)
        dues = [now + timedelta(minutes=10 * k) for k in range(6 * 24 * 5)]
        dues += [until, until - timedelta(microseconds=1), until + timedelta(microseconds=1)]
        for due in dues:
            assert (CLOCK.due_soon_at(due, window) <= now) == (due <= until), (now, due)
    # Wednesday 10:00 + 8 office hours: Thursday 10:00. Wednesday 13:00 + 4 h ends at closing: a due date in the night
    # (or at Thursday 08:00) still has only those 4 hours left, one at 08:00:00.000001 more.
    assert CLOCK.due_soon_until(hn(9, 10), 1.0) == hn(10, 10)
    assert CLOCK.due_soon_until(hn(9, 13), 0.5) == hn(10, 8)


def test_office_time_leaves_out_the_supplement_waits():
    # Monday 7 08:00 to Wednesday 9 12:00: 8 + 8 + 4 = 20 office hours; a wait Monday 15:00 to Tuesday 10:00 holds
    # 2 + 2 = 4 of them, and a wait starting before the start counts only from the start.
    assert CLOCK.office_seconds(hn(7, 8), hn(9, 12), []) == 20 * 3600
    assert CLOCK.office_seconds(hn(7, 8), hn(9, 12), [(hn(7, 15), hn(8, 10))]) == 16 * 3600
    assert CLOCK.office_seconds(hn(7, 8), hn(9, 12), [(hn(4, 8), hn(7, 9))]) == 19 * 3600
    assert CLOCK.office_seconds(hn(7, 8), hn(7, 9), [(hn(7, 8), hn(7, 17))]) == 0


def test_the_prediction_counts_office_time_from_receipt_plus_the_waits():
    # 12 office hours from Monday 7 10:00: Monday 2 + 4 = 6, Tuesday 4 (10) then 13:00 + 2 h = 15:00.
    at, beyond = CLOCK.predicted_completion(hn(7, 10), [], hn(7, 11), 12 * 3600)
    assert (at, beyond) == (hn(8, 15), False)
    # A wait Monday 13:00–15:00 adds its 2 office hours; a wait still open at now (Monday 14:00) counts until now.
    assert CLOCK.predicted_completion(hn(7, 10), [(hn(7, 13), hn(7, 15))], hn(8, 9), 12 * 3600)[0] == hn(8, 17)
    assert CLOCK.predicted_completion(hn(7, 10), [(hn(7, 13), hn(9, 8))], hn(7, 14), 12 * 3600)[0] == hn(8, 16)
    # Past it and still open: beyond the typical time, the instant unchanged.
    assert CLOCK.predicted_completion(hn(7, 10), [], hn(9, 8), 12 * 3600) == (hn(8, 15), True)
    assert CLOCK.working_days(12 * 3600) == 1.5


def test_the_label_a_citizen_reads():
    at = hn(8, 14, 5)
    assert domain.prediction_label(at, 1.5, 37, paused=False, beyond_typical=False) == (
        "Dự kiến có kết quả trước 14:05 ngày 08/12/2026 (80% trong 37 hồ sơ cùng thủ tục gần đây tại đơn vị được "
        "giải quyết trong 1,5 ngày làm việc)."
    )
    assert domain.prediction_label(at, 2.0, 5, paused=True, beyond_typical=False).startswith(
        "Dự kiến có kết quả trước 14:05 ngày 08/12/2026 nếu hồ sơ được bổ sung ngay (80% trong 5 hồ sơ"
    )
    assert domain.prediction_label(at, 0.3, 9, paused=False, beyond_typical=True) == (
        "Hồ sơ đã quá thời gian giải quyết thường thấy (80% trong 9 hồ sơ cùng thủ tục gần đây tại đơn vị được "
        "giải quyết trong 0,3 ngày làm việc)."
    )
