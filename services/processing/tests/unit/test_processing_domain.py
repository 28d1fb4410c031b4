"""Unit tests of the generic engine over definitions shaped like the catalogue's: every legal transition of each
step, a table of illegal ones, who may act (unit, role), performer resolution and the timeliness rule."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from motcua_common import sample_procedures
from motcua_common.principal import (
    APPROVER,
    PROVINCIAL_OPERATOR,
    RECEIVING_OFFICER,
    SPECIALIST,
    UNIT_HEAD,
    Principal,
)
from motcua_common.procedures import ACTION_KINDS, ProcedureDefinition
from processing import domain
from processing.domain import ActionRequest, Status

STANDARD = sample_procedures.standard()
LIEN_THONG = sample_procedures.inter_agency()
UNIT, CENTRE, POLICE, OTHER = "UBND.X", "TTHCC.X", "CA.X", "UBND.Y"


def officer(unit: str, *roles: str, sub: str = "cb-1") -> Principal:
    return Principal(kind="officer", subject=sub, client_id="app", unit_code=unit, roles=frozenset(roles))


def citizen(sub: str) -> Principal:
    return Principal(kind="citizen", subject=sub, client_id="app", personal_id="001090001234")


def dossier(step: str | None, status: str = "processing", *, holder: str = UNIT, **extra: Any) -> dict[str, Any]:
    return {
        "code": "C-1",
        "status": status,
        "current_step": step,
        "unit_code": UNIT,
        "receiving_unit_code": extra.pop("receiving_unit_code", None),
        "current_unit_code": holder,
        "involved_units": extra.pop("involved_units", [UNIT]),
        "agency_units": extra.pop("agency_units", {}),
        "supplement_count": extra.pop("supplement_count", 0),
        "applicant_kind": "citizen",
        "applicant_subject": "an",
        "submitter_kind": "citizen",
        "submitter_subject": "an",
        **extra,
    }


REASON = "Thiếu giấy chứng sinh"
# Every action the definitions offer, with what the request needs, and where it leads:
# (definition, step, status before, holder unit, request, status after, next step, next unit)
LEGAL = [
    (STANDARD, "receive", "submitted", UNIT, ActionRequest("receive"), "processing", "appraise", UNIT),
    (STANDARD, "receive", "submitted", UNIT, ActionRequest("refuse", reason=REASON), "refused", None, None),
    (
        STANDARD,
        "receive",
        "submitted",
        UNIT,
        ActionRequest("request_supplement", reason=REASON, components_requested=("GCS",)),
        "supplement_requested",
        None,
        None,
    ),
    (STANDARD, "appraise", "processing", UNIT, ActionRequest("approve"), "approved", "issue", UNIT),
    (STANDARD, "appraise", "processing", UNIT, ActionRequest("reject", reason=REASON), "rejected", None, None),
    (
        STANDARD,
        "appraise",
        "processing",
        UNIT,
        ActionRequest("request_supplement", reason=REASON),
        "supplement_requested",
        None,
        None,
    ),
    (STANDARD, "issue", "approved", UNIT, ActionRequest("issue_result"), "result_issued", "return", UNIT),
    (
        STANDARD,
        "return",
        "result_issued",
        UNIT,
        ActionRequest("return_result", return_method="post"),
        "completed",
        None,
        None,
    ),
    (LIEN_THONG, "receive", "submitted", CENTRE, ActionRequest("receive"), "processing", "appraise", UNIT),
    (LIEN_THONG, "receive", "submitted", CENTRE, ActionRequest("refuse", reason=REASON), "refused", None, None),
    (LIEN_THONG, "appraise", "processing", UNIT, ActionRequest("forward"), "processing", "approve", UNIT),
    (
        LIEN_THONG,
        "appraise",
        "processing",
        UNIT,
        ActionRequest("transfer", transfer_unit_code=POLICE),
        "processing",
        "police_check",
        POLICE,
    ),
    (
        LIEN_THONG,
        "appraise",
        "processing",
        UNIT,
        ActionRequest("request_supplement", reason=REASON),
        "supplement_requested",
        None,
        None,
    ),
    (LIEN_THONG, "police_check", "processing", POLICE, ActionRequest("forward"), "processing", "appraise", UNIT),
    (LIEN_THONG, "approve", "processing", UNIT, ActionRequest("approve"), "approved", "issue", UNIT),
    (LIEN_THONG, "approve", "processing", UNIT, ActionRequest("reject", reason=REASON), "rejected", None, None),
    (LIEN_THONG, "issue", "approved", UNIT, ActionRequest("issue_result"), "result_issued", "return", CENTRE),
    (
        LIEN_THONG,
        "return",
        "result_issued",
        CENTRE,
        ActionRequest("return_result", return_method="counter"),
        "completed",
        None,
        None,
    ),
]


def _roles(definition: ProcedureDefinition, step: str) -> tuple[str, ...]:
    return definition.step(step).roles


@pytest.mark.parametrize(("definition", "step", "before", "holder", "req", "after", "nxt", "unit"), LEGAL)
def test_every_legal_transition(definition, step, before, holder, req, after, nxt, unit):
    request = req
    row = dossier(step, before, holder=holder, receiving_unit_code=CENTRE)
    move = domain.decide(definition, row, officer(holder, *_roles(definition, step)), request)
    assert (move.status, move.to_step, move.to_unit_code) == (after, nxt, unit)
    assert move.from_step == step and move.outcome == domain.OUTCOMES[request.kind]
    assert move.final == (after in ("refused", "rejected", "completed"))
    if request.kind in domain.REASON_ACTIONS:
        assert move.reason == REASON
    assert move.new_agency == (("commune_police", POLICE) if request.kind == "transfer" else None)


def test_the_legal_table_covers_every_action_every_step_offers():
    covered = {(d.code, s, r.kind) for d, s, _, _, r, *_ in LEGAL}
    offered = {(d.code, s.key, k) for d in (STANDARD, LIEN_THONG) for s in d.steps for k in s.actions}
    assert covered == offered


ILLEGAL = [(d, s.key, k) for d in (STANDARD, LIEN_THONG) for s in d.steps for k in ACTION_KINDS if k not in s.actions]


@pytest.mark.parametrize(("definition", "step", "kind"), ILLEGAL)
def test_every_action_a_step_does_not_offer_is_an_invalid_transition(definition, step, kind):
    holder = CENTRE if definition.step(step).performer == "receiving_unit" else UNIT
    holder = POLICE if step == "police_check" else holder
    row = dossier(step, holder=holder, receiving_unit_code=CENTRE)
    with pytest.raises(domain.InvalidTransition) as err:
        domain.decide(definition, row, officer(holder, *_roles(definition, step)), ActionRequest(kind, reason=REASON))
    assert err.value.allowed == [a.kind for a in domain.offered(definition, domain.Case.from_row(row))]
    assert f"'{kind}'" in str(err.value) and f"'{step}'" in str(err.value)


@pytest.mark.parametrize("status", ["completed", "rejected", "refused"])
def test_final_dossiers_allow_nothing(status):
    row = dossier(None, status)
    with pytest.raises(domain.InvalidTransition) as err:
        domain.decide(STANDARD, row, officer(UNIT, UNIT_HEAD), ActionRequest("receive"))
    assert err.value.allowed == []
    assert domain.offered(STANDARD, domain.Case.from_row(row)) == []


def test_while_the_applicant_supplements_officers_can_do_nothing_but_the_applicant_can():
    row = dossier("appraise", "supplement_requested", supplement_count=1)
    with pytest.raises(domain.InvalidTransition):
        domain.decide(STANDARD, row, officer(UNIT, UNIT_HEAD), ActionRequest("approve"))
    assert [a.kind for a in domain.allowed_for(STANDARD, row, citizen("an"))] == ["supplement"]
    assert domain.allowed_for(STANDARD, row, officer(UNIT, UNIT_HEAD)) == []  # no extension while paused
    domain.authorize_supplement(citizen("an"), row)
    domain.authorize_supplement(officer(UNIT, RECEIVING_OFFICER), row)  # at the counter, for the applicant
    with pytest.raises(domain.NotAllowed):
        domain.authorize_supplement(officer(UNIT, SPECIALIST), row)  # may read it, may not supplement
    with pytest.raises(domain.NotVisible):
        domain.authorize_supplement(citizen("dung"), row)
    with pytest.raises(domain.InvalidTransition):
        domain.authorize_supplement(citizen("an"), dossier("appraise", "processing"))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ActionRequest("refuse"), "reason"),
        (ActionRequest("refuse", reason="   "), "reason"),
        (ActionRequest("refuse", reason="x" * 2001), "reason"),
        (ActionRequest("request_supplement"), "reason"),
        (ActionRequest("receive", target="issue"), "target"),
    ],
)
def test_missing_or_wrong_fields_at_reception(request_, field):
    with pytest.raises(domain.InvalidRequest) as err:
        domain.decide(STANDARD, dossier("receive", "submitted"), officer(UNIT, RECEIVING_OFFICER), request_)
    assert err.value.field == field


def test_transfer_needs_the_agency_and_return_a_method_the_procedure_offers():
    row = dossier("appraise")
    with pytest.raises(domain.InvalidRequest) as err:
        domain.decide(LIEN_THONG, row, officer(UNIT, SPECIALIST), ActionRequest("transfer"))
    assert err.value.field == "transfer_unit_code"
    online_only = STANDARD.model_copy(update={"result_delivery": ("online",)})
    ret = dossier("return", "result_issued")
    for method in (None, "post"):
        with pytest.raises(domain.InvalidRequest) as err:
            domain.decide(
                online_only, ret, officer(UNIT, UNIT_HEAD), ActionRequest("return_result", return_method=method)
            )
        assert err.value.field == "return_method"


def test_back_from_another_agency_and_there_again_to_the_same_unit():
    agencies = {"commune_police": {"code": POLICE, "name": "Công an xã"}}
    row = dossier("police_check", holder=POLICE, agency_units=agencies, involved_units=[UNIT, POLICE])
    back = domain.decide(LIEN_THONG, row, officer(POLICE, SPECIALIST), ActionRequest("forward"))
    assert (back.to_step, back.to_unit_code, back.new_agency) == ("appraise", UNIT, None)
    # The competent unit's officers may still act on its steps, not on the police's.
    with pytest.raises(domain.NotAllowed):
        domain.decide(LIEN_THONG, row, officer(UNIT, SPECIALIST), ActionRequest("forward"))


def test_supplement_requests_are_limited_by_the_procedure():
    row = dossier("appraise", supplement_count=2)  # standard: max 2
    with pytest.raises(domain.LimitReached):
        domain.decide(STANDARD, row, officer(UNIT, APPROVER), ActionRequest("request_supplement", reason=REASON))
    assert "request_supplement" not in [a.kind for a in domain.offered(STANDARD, domain.Case.from_row(row))]


def test_who_may_act_unit_then_role():
    row = dossier("appraise", receiving_unit_code=CENTRE)
    request = ActionRequest("approve")
    with pytest.raises(domain.NotVisible):  # another unit that never held it: as if it did not exist
        domain.decide(STANDARD, row, officer(OTHER, APPROVER, UNIT_HEAD), request)
    with pytest.raises(domain.NotAllowed):  # the receiving centre reads it but does not act on this step
        domain.decide(STANDARD, row, officer(CENTRE, APPROVER), request)
    with pytest.raises(domain.NotAllowed):  # the unit, without the step's role
        domain.decide(STANDARD, row, officer(UNIT, SPECIALIST), request)
    with pytest.raises(domain.NotAllowed):  # a provincial operator takes no action
        domain.decide(STANDARD, row, officer(UNIT, PROVINCIAL_OPERATOR), request)
    with pytest.raises(domain.NotAllowed):  # the applicant reads it, acts through supplements only
        domain.decide(STANDARD, row, citizen("an"), request)
    with pytest.raises(domain.NotVisible):
        domain.decide(STANDARD, row, citizen("dung"), request)
    assert domain.decide(STANDARD, row, officer(UNIT, APPROVER), request).status is Status.APPROVED


def test_allowed_for_lists_the_callers_actions():
    row = dossier("appraise")
    kinds = [a.kind for a in domain.allowed_for(LIEN_THONG, row, officer(UNIT, SPECIALIST))]
    assert kinds == ["request_supplement", "forward", "transfer"]  # in the order of ACTION_KINDS
    transfer = next(a for a in domain.allowed_for(LIEN_THONG, row, officer(UNIT, SPECIALIST)) if a.kind == "transfer")
    assert transfer.target == "police_check" and "transfer_unit_code" in transfer.needs
    assert [a.kind for a in domain.allowed_for(LIEN_THONG, row, officer(UNIT, APPROVER))] == ["extend"]
    assert domain.allowed_for(LIEN_THONG, row, officer(OTHER, SPECIALIST)) == []
    assert domain.allowed_for(LIEN_THONG, row, citizen("an")) == []


def test_performer_resolution():
    case = domain.Case("C", "submitted", "receive", UNIT, CENTRE, CENTRE)
    online = domain.Case("C", "submitted", "receive", UNIT, None, UNIT)
    receive, police = LIEN_THONG.step("receive"), LIEN_THONG.step("police_check")
    assert domain.resolve_performer(LIEN_THONG, receive, case) == CENTRE
    assert domain.resolve_performer(LIEN_THONG, receive, online) == UNIT  # online: the competent unit receives
    assert domain.resolve_performer(LIEN_THONG, police, case) is None  # must be named
    assert domain.resolve_performer(LIEN_THONG, police, case, POLICE) == POLICE
    chosen = domain.Case("C", "processing", "appraise", UNIT, CENTRE, UNIT, {"commune_police": POLICE})
    assert domain.resolve_performer(LIEN_THONG, police, chosen) == POLICE


@pytest.mark.parametrize(
    ("alias", "step", "status", "kind"),
    [
        ("accept", "receive", "submitted", "receive"),
        ("reject", "receive", "submitted", "refuse"),
        ("reject", "appraise", "processing", "reject"),
        ("approve", "appraise", "processing", "approve"),
        ("issue-result", "issue", "approved", "issue_result"),
        ("return-result", "return", "result_issued", "return_result"),
        ("approve", None, "completed", "approve"),
    ],
)
def test_deprecated_endpoints_stand_for_a_kind(alias, step, status, kind):
    assert domain.resolve_alias(STANDARD, dossier(step, status), alias) == kind


def test_forward_keeps_a_later_status():
    row = dossier("appraise", "approved")
    assert domain.decide(LIEN_THONG, row, officer(UNIT, SPECIALIST), ActionRequest("forward")).status == "approved"


def test_every_status_has_a_vietnamese_label():
    assert {domain.status_label(s) for s in Status} == set(domain.STATUS_LABELS.values())
    assert domain.status_label("refused") == "Từ chối tiếp nhận"
    assert domain.status_label("supplement_requested") == "Chờ bổ sung hồ sơ"


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
    # A unit the dossier was transferred to reads it too (and keeps reading it after it came back).
    transferred = {**d, "involved_units": ["U1", "CA1"]}
    assert domain.may_read(_principal("officer", unit_code="CA1", roles=frozenset({"specialist"})), transferred)
