"""The statistics' pure rules: periods, figures from counters, the ranking, the Decision 766/QĐ-TTg index
(docs/statistics.md, docs/index-766.md). No I/O."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Period = Literal["day", "month", "quarter", "year"]
Kind = Literal["unit", "centre"]
RankBy = Literal["on_time_rate", "avg_processing_days", "satisfaction", "online_share"]
CHANNELS = ("online", "counter", "service_centre", "post")
# The counters of measure_counts a figure sums over its period (the stocks are read apart).
FLOW_COLUMNS = (
    "received_online",
    "received_counter",
    "received_service_centre",
    "received_post",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "processing_days_sum",
    "processing_days_count",
    "paid_online",
    "results_electronic",
    "once_only_components",
    "components_total",
    "supplement_requests",
    "refusals",
)
STOCK_COLUMNS = ("in_progress_delta", "overdue_delta")
COUNTER_COLUMNS = FLOW_COLUMNS + STOCK_COLUMNS
ALL_PROCEDURES = "*"  # the procedure_code of the rows that count every procedure of the unit
SATISFIED_FROM = 4  # a rating of 4 or 5 is "satisfied"
LOW_RATING = 2  # a rating of 2 or less opens a follow-up


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_bounds(period: Period, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day (inclusive) of the period containing ``day``."""
    match period:
        case "day":
            return day, day
        case "month":
            start = month_start(day)
        case "quarter":
            start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        case "year":
            start = dt.date(day.year, 1, 1)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    end = start
    for _ in range(months):
        end = next_month(end)
    return start, end - dt.timedelta(days=1)


def periods_between(period: Period, first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Every period from the one containing ``first`` to the one containing ``last``, oldest first."""
    out = []
    start, end = period_bounds(period, first)
    while start <= last:
        out.append((start, end))
        start, end = period_bounds(period, end + dt.timedelta(days=1))
    return out


def rate(numerator: float, denominator: float, digits: int = 4) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def figures(
    code: str, name: str, kind: str, counts: Mapping[str, Any], ratings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The public figures of one unit from its summed counters (flows of the period, stocks at its end)."""
    c = {k: counts.get(k) or 0 for k in COUNTER_COLUMNS}
    r = {k: (ratings or {}).get(k) or 0 for k in ("ratings", "score_sum", "satisfied")}
    received = {ch: int(c[f"received_{ch}"]) for ch in CHANNELS}
    received["total"] = sum(received.values())
    resolved = {t: int(c[f"resolved_{t}"]) for t in ("early", "on_time", "late")}
    resolved["total"] = sum(resolved.values())
    return {
        "unit_code": code,
        "unit_name": name,
        "kind": kind,
        "received": received,
        "resolved": resolved,
        "in_progress": max(int(c["in_progress_delta"]), 0),
        "overdue": max(int(c["overdue_delta"]), 0),
        "on_time_rate": rate(resolved["early"] + resolved["on_time"], resolved["total"]),
        "avg_processing_days": rate(c["processing_days_sum"], c["processing_days_count"], 2),
        "processing_days_basis": int(c["processing_days_count"]),
        "online_share": rate(received["online"], received["total"]),
        "paid_online": int(c["paid_online"]),
        "results_electronic": int(c["results_electronic"]),
        "once_only_components": int(c["once_only_components"]),
        "components_total": int(c["components_total"]),
        "supplement_requests": int(c["supplement_requests"]),
        "refusals": int(c["refusals"]),
        "satisfaction": {
            "ratings": int(r["ratings"]),
            "average": rate(r["score_sum"], r["ratings"], 2),
            "satisfied_share": rate(r["satisfied"], r["ratings"]),
        },
    }


def rank_value(fig: Mapping[str, Any], by: RankBy) -> tuple[float | None, int]:
    """The value a unit is ranked by, and the count behind it."""
    match by:
        case "on_time_rate":
            return fig["on_time_rate"], fig["resolved"]["total"]
        case "avg_processing_days":
            return fig["avg_processing_days"], fig["processing_days_basis"]
        case "satisfaction":
            return fig["satisfaction"]["average"], fig["satisfaction"]["ratings"]
        case "online_share":
            return fig["online_share"], fig["received"]["total"]


def ranking(items: list[dict[str, Any]], by: RankBy) -> list[dict[str, Any]]:
    """Best first (the shortest processing time; the highest of the rest), ties by the larger basis, then code;
    units with no basis last, rank null. Equal values and bases share a rank (1, 2, 2, 4)."""
    ranked: list[dict[str, Any]] = []
    unranked: list[dict[str, Any]] = []
    for fig in items:
        value, basis = rank_value(fig, by)
        (ranked if value is not None else unranked).append({"rank": None, "value": value, "basis": basis, **fig})
    sign = 1 if by == "avg_processing_days" else -1
    ranked.sort(key=lambda f: (sign * f["value"], -f["basis"], f["unit_code"]))
    previous: tuple[float, int] | None = None
    for position, f in enumerate(ranked, start=1):
        key = (f["value"], f["basis"])
        f["rank"] = ranked[position - 2]["rank"] if key == previous else position
        previous = key
    unranked.sort(key=lambda f: f["unit_code"])
    return ranked + unranked


# ------------------------------------------------------------------------------------------ Decision 766/QĐ-TTg


@dataclass(frozen=True)
class IndexInput:
    key: str
    name: str
    max: float
    source: str
    formula: str


@dataclass(frozen=True)
class IndexGroup:
    key: str
    name: str
    max: float
    inputs: tuple[IndexInput, ...]


NOT_MEASURED = "not measured by the platform"
# The five groups and their maxima are the Decision's (confirmed, docs/index-766.md); how each group's points are
# split among inputs is this platform's reading where the Decision's annex could not be confirmed (said per input
# in docs/index-766.md).
INDEX_766: tuple[IndexGroup, ...] = (
    IndexGroup(
        "transparency",
        "Công khai, minh bạch",
        18,
        (
            IndexInput(
                "procedures_published",
                "Thủ tục hành chính được công bố, công khai đúng hạn",
                4,
                NOT_MEASURED,
                "published on time / procedures (the national procedure database)",
            ),
            IndexInput(
                "status_published",
                "Hồ sơ được cập nhật trạng thái lên Cổng Dịch vụ công quốc gia",
                8,
                "dossier events (every status change is published to the portal topic)",
                "1 when the unit has dossiers in the period (each change goes to motcua.portal.events), else not "
                "measured",
            ),
            IndexInput(
                "tracking_online",
                "Người dân tra cứu được tiến độ, kết quả trực tuyến",
                6,
                NOT_MEASURED,
                "lookups by applicants / dossiers (lookups are not counted)",
            ),
        ),
    ),
    IndexGroup(
        "progress",
        "Tiến độ, kết quả giải quyết",
        20,
        (
            IndexInput(
                "on_time",
                "Tỷ lệ hồ sơ giải quyết trước và đúng hạn",
                14,
                "dossier.result_issued (timeliness)",
                "(early + on_time) / resolved",
            ),
            IndexInput(
                "not_overdue",
                "Tỷ lệ hồ sơ đang giải quyết chưa quá hạn",
                6,
                "dossier.submitted, dossier.overdue, results, refusals",
                "1 - overdue / in_progress at the end of the period",
            ),
        ),
    ),
    IndexGroup(
        "digitisation",
        "Số hóa hồ sơ",
        22,
        (
            IndexInput(
                "results_electronic",
                "Tỷ lệ kết quả giải quyết được trả bản điện tử",
                8,
                "dossier.result_returned (return_method = online)",
                "results returned online / resolved",
            ),
            IndexInput(
                "once_only",
                "Tỷ lệ thành phần hồ sơ tái sử dụng từ dữ liệu đã số hóa",
                8,
                "dossier.submitted (components_reused / components_total)",
                "components reused from the vault / components submitted",
            ),
            IndexInput(
                "components_digitised",
                "Tỷ lệ hồ sơ được số hóa khi tiếp nhận tại quầy",
                6,
                NOT_MEASURED,
                "counter dossiers digitised on receipt / counter dossiers (scanning is not recorded)",
            ),
        ),
    ),
    IndexGroup(
        "online",
        "Cung cấp dịch vụ trực tuyến",
        22,
        (
            IndexInput(
                "online_share",
                "Tỷ lệ hồ sơ tiếp nhận trực tuyến",
                12,
                "dossier.submitted (channel = online)",
                "received online / received",
            ),
            IndexInput(
                "paid_online",
                "Tỷ lệ hồ sơ thanh toán trực tuyến",
                10,
                NOT_MEASURED,
                "dossiers paid online / dossiers with a fee (the platform takes no payments yet)",
            ),
        ),
    ),
    IndexGroup(
        "satisfaction",
        "Mức độ hài lòng",
        18,
        (
            IndexInput(
                "satisfied_share",
                "Tỷ lệ hài lòng trong tiếp nhận, giải quyết thủ tục hành chính",
                6,
                "ratings (overall 4 or 5)",
                "ratings of 4 or 5 / ratings",
            ),
            IndexInput(
                "average_rating",
                "Điểm đánh giá trung bình của người dân",
                6,
                "ratings (overall)",
                "(average - 1) / 4",
            ),
            IndexInput(
                "follow_ups_closed",
                "Phản ánh, đánh giá thấp được xử lý",
                6,
                NOT_MEASURED,
                "low ratings followed up in time / low ratings (follow-ups are kept, their timeliness not yet scored)",
            ),
        ),
    ),
)


NOT_MEASURED_VI = "Nền tảng chưa đo"
# What a citizen reads on the dashboard beside each input (``source``/``formula`` above are the operators'): where
# the figure comes from and how it is computed, in Vietnamese.
INDEX_766_VI: dict[str, tuple[str, str]] = {
    "procedures_published": (
        NOT_MEASURED_VI,
        "số thủ tục được công bố, công khai đúng hạn / tổng số thủ tục (Cơ sở dữ liệu quốc gia về thủ tục hành chính)",
    ),
    "status_published": (
        "Sự kiện của hồ sơ: mọi thay đổi trạng thái được gửi lên Cổng Dịch vụ công quốc gia",
        "đạt khi đơn vị có hồ sơ trong kỳ (mỗi thay đổi đều được gửi lên Cổng); không có hồ sơ thì chưa đo",
    ),
    "tracking_online": (
        NOT_MEASURED_VI,
        "số lượt người nộp tra cứu tiến độ / số hồ sơ (lượt tra cứu chưa được đếm)",
    ),
    "on_time": (
        "Sự kiện trả kết quả của hồ sơ (trước hạn, đúng hạn hay quá hạn)",
        "(số hồ sơ giải quyết trước hạn + đúng hạn) / số hồ sơ đã giải quyết",
    ),
    "not_overdue": (
        "Sự kiện tiếp nhận, quá hạn, trả kết quả và từ chối của hồ sơ",
        "1 − số hồ sơ quá hạn / số hồ sơ đang giải quyết vào cuối kỳ",
    ),
    "results_electronic": (
        "Sự kiện trả kết quả của hồ sơ (hình thức trả trực tuyến)",
        "số kết quả trả bản điện tử / số hồ sơ đã giải quyết",
    ),
    "once_only": (
        "Sự kiện tiếp nhận hồ sơ (số thành phần dùng lại / tổng số thành phần)",
        "số thành phần hồ sơ dùng lại từ kho dữ liệu đã số hóa / số thành phần đã nộp",
    ),
    "components_digitised": (
        NOT_MEASURED_VI,
        "số hồ sơ tại quầy được số hóa khi tiếp nhận / số hồ sơ tại quầy (việc số hóa chưa được ghi nhận)",
    ),
    "online_share": (
        "Sự kiện tiếp nhận hồ sơ (kênh trực tuyến)",
        "số hồ sơ tiếp nhận trực tuyến / tổng số hồ sơ tiếp nhận",
    ),
    "paid_online": (
        NOT_MEASURED_VI,
        "số hồ sơ thanh toán trực tuyến / số hồ sơ có phí, lệ phí (nền tảng chưa nhận thanh toán)",
    ),
    "satisfied_share": (
        "Đánh giá của người dân (điểm chung 4 hoặc 5)",
        "số lượt đánh giá 4 hoặc 5 điểm / tổng số lượt đánh giá",
    ),
    "average_rating": (
        "Đánh giá của người dân (điểm chung từ 1 đến 5)",
        "(điểm trung bình − 1) / 4",
    ),
    "follow_ups_closed": (
        NOT_MEASURED_VI,
        "số đánh giá thấp được xử lý đúng hạn / số đánh giá thấp (việc xử lý được lưu, chưa chấm đúng hạn)",
    ),
}


def _index_values(fig: Mapping[str, Any]) -> dict[str, float | None]:
    """Each measured input's value in 0..1 (None: no basis in the period, so no points either way)."""
    resolved = fig["resolved"]["total"]
    sat = fig["satisfaction"]
    return {
        "status_published": 1.0 if fig["received"]["total"] or resolved or fig["in_progress"] else None,
        "on_time": fig["on_time_rate"],
        "not_overdue": (1 - fig["overdue"] / fig["in_progress"]) if fig["in_progress"] else None,
        "results_electronic": rate(fig["results_electronic"], resolved),
        "once_only": rate(fig["once_only_components"], fig["components_total"]),
        "online_share": fig["online_share"],
        "satisfied_share": sat["satisfied_share"],
        "average_rating": (sat["average"] - 1) / 4 if sat["average"] is not None else None,
    }


def index_766(fig: Mapping[str, Any]) -> dict[str, Any]:
    """The index of one unit from its figures: points = max × value for each measured input; an input the platform
    does not measure, or has no basis for in the period, awards nothing and counts in ``not_measured``."""
    values = _index_values(fig)
    groups: list[dict[str, Any]] = []
    for g in INDEX_766:
        inputs: list[dict[str, Any]] = []
        for i in g.inputs:
            value = values.get(i.key)
            measured = value is not None
            inputs.append(
                {
                    "key": i.key,
                    "name": i.name,
                    "measured": measured,
                    "value": round(min(max(value, 0.0), 1.0), 4) if value is not None else None,
                    "points": round(i.max * min(max(value, 0.0), 1.0), 2) if value is not None else 0.0,
                    "max": i.max,
                    "source": i.source,
                    "formula": i.formula,
                    "source_vi": INDEX_766_VI[i.key][0],
                    "formula_vi": INDEX_766_VI[i.key][1],
                }
            )
        groups.append(
            {
                "key": g.key,
                "name": g.name,
                "max": g.max,
                "points": round(sum(i["points"] for i in inputs), 2),
                "not_measured": round(sum(i["max"] for i in inputs if not i["measured"]), 2),
                "inputs": inputs,
            }
        )
    return {
        "points": round(sum(g["points"] for g in groups), 2),
        "max": sum(g.max for g in INDEX_766),
        "not_measured": round(sum(g["not_measured"] for g in groups), 2),
        "groups": groups,
    }
