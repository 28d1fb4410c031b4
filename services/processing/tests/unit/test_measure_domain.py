"""The statistics' pure rules: periods, figures from counters, the ranking and the Decision 766 index."""

from datetime import date

import pytest

from processing.measure import domain

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("period", "day", "bounds"),
    [
        ("day", date(2026, 2, 28), (date(2026, 2, 28), date(2026, 2, 28))),
        ("month", date(2026, 2, 14), (date(2026, 2, 1), date(2026, 2, 28))),
        ("month", date(2028, 2, 14), (date(2028, 2, 1), date(2028, 2, 29))),
        ("quarter", date(2026, 11, 15), (date(2026, 10, 1), date(2026, 12, 31))),
        ("quarter", date(2026, 1, 1), (date(2026, 1, 1), date(2026, 3, 31))),
        ("year", date(2026, 7, 4), (date(2026, 1, 1), date(2026, 12, 31))),
    ],
)
def test_period_bounds(period, day, bounds):
    assert domain.period_bounds(period, day) == bounds


def test_periods_between_are_whole_and_ordered():
    quarters = domain.periods_between("quarter", date(2026, 2, 1), date(2026, 11, 30))
    assert [q[0] for q in quarters] == [date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)]
    assert domain.periods_between("day", date(2026, 3, 1), date(2026, 3, 3))[-1] == (date(2026, 3, 3), date(2026, 3, 3))


def _fig(code: str, **counts: float) -> dict:
    return domain.figures(code, f"Đơn vị {code}", "unit", counts)


def test_figures_rates_come_with_their_counts_and_are_null_without_a_basis():
    empty = _fig("A")
    assert empty["on_time_rate"] is None and empty["online_share"] is None and empty["avg_processing_days"] is None
    assert empty["satisfaction"] == {"ratings": 0, "average": None, "satisfied_share": None}
    fig = domain.figures(
        "B",
        "Đơn vị B",
        "centre",
        {
            "received_online": 3,
            "received_counter": 1,
            "resolved_early": 1,
            "resolved_on_time": 2,
            "resolved_late": 1,
            "processing_days_sum": 6.0,
            "processing_days_count": 4,
            "in_progress_delta": 5,
            "overdue_delta": 2,
        },
        {"ratings": 4, "score_sum": 14, "satisfied": 3},
    )
    assert fig["received"] == {"online": 3, "counter": 1, "service_centre": 0, "post": 0, "total": 4}
    assert fig["on_time_rate"] == 0.75 and fig["online_share"] == 0.75 and fig["avg_processing_days"] == 1.5
    assert fig["in_progress"] == 5 and fig["overdue"] == 2
    assert fig["satisfaction"] == {"ratings": 4, "average": 3.5, "satisfied_share": 0.75}


def test_ranking_best_first_ties_share_a_rank_and_no_basis_last():
    items = [
        _fig("A", resolved_early=9, resolved_late=1),  # 0.9 of 10
        _fig("B", resolved_on_time=18, resolved_late=2),  # 0.9 of 20: ahead of A (larger basis)
        _fig("C", resolved_on_time=1),  # 1.0 of 1
        _fig("D"),  # nothing resolved
        _fig("E", resolved_early=9, resolved_late=1),  # as A
    ]
    ranked = domain.ranking(items, "on_time_rate")
    assert [(r["unit_code"], r["rank"], r["basis"]) for r in ranked] == [
        ("C", 1, 1),
        ("B", 2, 20),
        ("A", 3, 10),
        ("E", 3, 10),
        ("D", None, 0),
    ]
    fast = domain.ranking(
        [
            _fig("A", processing_days_sum=10, processing_days_count=5),
            _fig("B", processing_days_sum=3, processing_days_count=3),
        ],
        "avg_processing_days",
    )
    assert [r["unit_code"] for r in fast] == ["B", "A"]  # the shortest time first


def test_index_awards_measured_inputs_and_reports_the_rest_as_not_measured():
    assert [(g.key, g.max) for g in domain.INDEX_766] == [
        ("transparency", 18),
        ("progress", 20),
        ("digitisation", 22),
        ("online", 22),
        ("satisfaction", 18),
    ]
    for g in domain.INDEX_766:  # each group's inputs add up to the group's maximum
        assert sum(i.max for i in g.inputs) == g.max, g.key
    empty = domain.index_766(_fig("A"))
    assert empty["points"] == 0 and empty["max"] == 100
    assert all(not i["measured"] for g in empty["groups"] for i in g["inputs"])
    assert empty["not_measured"] == 100
    fig = domain.figures(
        "B",
        "Đơn vị B",
        "unit",
        {
            "received_online": 8,
            "received_counter": 2,
            "resolved_early": 5,
            "resolved_late": 5,
            "results_electronic": 5,
            "components_total": 10,
            "once_only_components": 5,
            "in_progress_delta": 4,
            "overdue_delta": 1,
        },
        {"ratings": 2, "score_sum": 10, "satisfied": 2},
    )
    index = domain.index_766(fig)
    groups = {g["key"]: g for g in index["groups"]}
    assert groups["progress"]["points"] == pytest.approx(14 * 0.5 + 6 * 0.75)
    assert groups["online"]["points"] == pytest.approx(12 * 0.8) and groups["online"]["not_measured"] == 10  # payments
    assert groups["satisfaction"]["points"] == 12 and groups["satisfaction"]["not_measured"] == 6
    assert groups["transparency"]["points"] == 8 and groups["transparency"]["not_measured"] == 10
    assert groups["digitisation"]["points"] == 8 * 0.5 + 8 * 0.5 and groups["digitisation"]["not_measured"] == 6
    assert index["not_measured"] == 32
    assert index["points"] == pytest.approx(sum(g["points"] for g in index["groups"]))
    assert index["points"] + index["not_measured"] <= 100
    online = {i["key"]: i for i in groups["online"]["inputs"]}
    assert online["online_share"]["formula_vi"] == domain.INDEX_766_VI["online_share"][1]
    assert online["paid_online"]["source_vi"] == domain.NOT_MEASURED_VI


def test_every_index_input_says_its_source_and_formula_in_vietnamese_for_the_dashboard():
    keys = [i.key for g in domain.INDEX_766 for i in g.inputs]
    assert sorted(domain.INDEX_766_VI) == sorted(keys)
    for key in keys:
        source, formula = domain.INDEX_766_VI[key]
        # Vietnamese: written with its own letters (at least one precomposed letter outside ASCII) and no English.
        assert any(ord(c) > 127 for c in source + formula), key
        assert "not measured" not in source + formula and "dossier." not in source + formula, key
