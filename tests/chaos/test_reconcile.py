"""The chaos test's reconciliation (scripts/chaos.py ``reconcile``): pure, no servers. It must see a loss in each
store and a duplicate of each kind, and nothing on a clean run."""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"
_spec = importlib.util.spec_from_file_location("motcua_chaos", _PATH)
assert _spec is not None and _spec.loader is not None
chaos = importlib.util.module_from_spec(_spec)
sys.modules["motcua_chaos"] = chaos  # dataclasses look their module up while the class is built
_spec.loader.exec_module(chaos)

D1, D2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
ACCEPTED = chaos.ACTION_EVENT["receive"]


def clean_run() -> dict:
    """Two acknowledged dossiers: D1 without e-mail, D2 with e-mail and an acknowledged accept."""
    ev = {
        (D1, chaos.SUBMITTED): "e1",
        (D2, chaos.SUBMITTED): "e2",
        (D2, ACCEPTED): "e3",
    }
    notes = []
    for (did, etype), eid in ev.items():
        notes.append({"id": f"n-{eid}-app", "dossier_id": did, "event_id": eid, "event_type": etype,
                      "channel": "app", "status": "delivered"})  # fmt: skip
        if did == D2:
            notes.append({"id": f"n-{eid}-mail", "dossier_id": did, "event_id": eid, "event_type": etype,
                          "channel": "email", "status": "sent"})  # fmt: skip
    return {
        "acks": [
            {"key": "k1", "submitter": "s1", "dossier_id": D1, "code": "C1"},
            {"key": "k2", "submitter": "s2", "dossier_id": D2, "code": "C2"},
        ],
        "actions": [{"dossier_id": D2, "action": "receive"}],
        "intake_dossiers": [
            {"id": D1, "code": "C1", "idempotency_key": "k1", "submitter": "s1", "email": None},
            {"id": D2, "code": "C2", "idempotency_key": "k2", "submitter": "s2", "email": "b@example.vn"},
        ],
        "intake_results": [],
        "dossier_events": [{"id": eid, "type": etype, "dossier_id": did} for (did, etype), eid in ev.items()],
        "personal_events": [
            {"id": "c1", "type": chaos.CONTACT, "dossier_id": D1},
            {"id": "c2", "type": chaos.CONTACT, "dossier_id": D2},
        ],
        "cases": [{"id": D1, "status": "submitted"}, {"id": D2, "status": "processing"}],
        "steps": [
            {"dossier_id": D1, "step": "receive", "completed": False},
            {"dossier_id": D2, "step": "receive", "completed": True},
            {"dossier_id": D2, "step": "appraise", "completed": False},
        ],
        "notifications": notes,
        "mails": [{"message_id": n["id"], "event_id": n["event_id"]} for n in notes if n["channel"] == "email"],
    }


def test_a_clean_run_has_nothing_lost_or_duplicated():
    report = chaos.reconcile(**clean_run())
    assert (report.acknowledged, report.actions_acknowledged) == (2, 1)
    assert report.lost == {} and report.duplicated == {}


def _drop(run: dict, store: str, pred) -> dict:
    run[store] = [r for r in run[store] if not pred(r)]
    return run


@pytest.mark.parametrize(
    ("store", "pred", "kind"),
    [
        ("intake_dossiers", lambda r: r["id"] == D1, "intake dossier"),
        ("dossier_events", lambda r: r["id"] == "e1", "submitted.v2 event on the topic"),
        ("dossier_events", lambda r: r["id"] == "e3", "accepted.v1 event on the topic"),
        ("personal_events", lambda r: r["id"] == "c2", "contact event on the personal topic"),
        ("cases", lambda r: r["id"] == D2, "processing case"),
        ("steps", lambda r: r["step"] == "receive" and r["dossier_id"] == D2,
         "completed step of an acknowledged 'receive'"),
        ("notifications", lambda r: r["id"] == "n-e1-app", "in-app notification of submitted.v2"),
        ("notifications", lambda r: r["id"] == "n-e3-mail", "e-mail notification of accepted.v1"),
        ("mails", lambda r: r["message_id"] == "n-e2-mail",
         "e-mail of submitted.v2 in the mailbox (notification sent)"),
    ],
)  # fmt: skip
def test_a_loss_in_any_store_is_counted(store, pred, kind):
    report = chaos.reconcile(**_drop(clean_run(), store, pred))
    assert report.lost == {kind: 1}
    assert report.duplicated == {}


def test_duplicates_of_every_kind_are_counted():
    run = clean_run()
    run["acks"].append({"key": "k1", "submitter": "s1", "dossier_id": D2, "code": "C2"})  # one key, two dossiers
    run["intake_dossiers"].append({"id": "x", "code": "CX", "idempotency_key": "k1", "submitter": "s1", "email": None})
    run["cases"].append({"id": D1, "status": "submitted"})
    run["dossier_events"].append({"id": "e1-bis", "type": chaos.SUBMITTED, "dossier_id": D1})  # a second submitted
    run["dossier_events"].append({"id": "e3", "type": ACCEPTED, "dossier_id": D2})  # same id again: only a note
    run["notifications"].append({**run["notifications"][0], "id": "n-again"})  # same (event, channel)
    run["mails"].append(dict(run["mails"][0]))  # the same notification mailed twice
    run["steps"].append({"dossier_id": D2, "step": "receive", "completed": True})  # accept applied twice
    report = chaos.reconcile(**run)
    assert report.duplicated == {
        "dossiers for one idempotency key (answers)": 1,
        "dossiers for one idempotency key (intake)": 1,
        "cases for one dossier": 1,
        "events of one kind for one dossier (submitted.v2)": 1,
        "notifications for one (event, channel)": 1,
        "e-mails for one notification": 1,
        "steps applied twice": 1,
    }
    assert report.info["records republished with the same event id (absorbed by the inboxes)"] == 1


def test_a_result_issued_needs_the_result_in_intakes_vault():
    run = clean_run()
    run["actions"].append({"dossier_id": D1, "action": "issue_result"})
    run["steps"].append({"dossier_id": D1, "step": "issue", "completed": True})
    run["dossier_events"].append({"id": "e9", "type": chaos.RESULT_ISSUED, "dossier_id": D1})
    run["notifications"].append({"id": "n9", "dossier_id": D1, "event_id": "e9", "event_type": chaos.RESULT_ISSUED,
                                 "channel": "app", "status": "delivered"})  # fmt: skip
    assert chaos.reconcile(**run).lost == {"result document in intake's vault": 1}
    run["intake_results"].append({"dossier_id": D1})
    assert chaos.reconcile(**run).lost == {}
