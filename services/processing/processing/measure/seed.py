"""A synthetic history of dossiers, written straight into the statistics' tables (``measure_counts``,
``rating_counts``, ``measure_units``) with COPY: for the dashboard's demo data (``make setup``: a few thousand
dossiers over the last thirteen months) and the query benchmark (``scripts/bench_measure.py``: 1,000,000). Not used
by the service itself, and never written beside a live projection's counts (the seed refuses non-empty tables).

Each synthetic dossier is counted exactly as the projection counts its events (received on its day, by channel, at
its competent unit and at the centre that received it; the result, refusal or overdue announcement on theirs; a
rating on the day it was given), per procedure and for all procedures, by day and by month. The province is
``processing.seed.Province`` (Zipf-sized communes, their police, departments, a delegated body, service centres);
each unit has a quality of its own, so the ranking has something to rank."""

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from motcua_common.legal_clock import VN_TZ
from motcua_common.procedures import ProcedureDefinition

from ..seed import Province, Unit, competent_unit, procedure_weights
from .domain import ALL_PROCEDURES, COUNTER_COLUMNS, month_start

_INDEX = {c: i for i, c in enumerate(COUNTER_COLUMNS)}
Key = tuple[str, str, str, dt.date]  # kind, unit, procedure, day


@dataclass
class SeedResult:
    dossiers: int = 0
    count_rows: int = 0
    rating_rows: int = 0


class _History:
    def __init__(
        self, province: Province, definitions: Sequence[ProcedureDefinition], today: dt.date, rng: random.Random
    ):
        self.province, self.definitions, self.today, self.rng = province, list(definitions), today, rng
        self.weights = procedure_weights(self.definitions)
        self.quality = {u.code: rng.uniform(0.75, 0.99) for u in province.all_units()}
        self.counts: dict[Key, list[float]] = defaultdict(lambda: [0.0] * len(COUNTER_COLUMNS))
        self.ratings: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, units: list[tuple[str, str]], procedure: str, day: dt.date, **deltas: float) -> None:
        for kind, unit in units:
            row = self.counts[(kind, unit, procedure, day)]
            for column, value in deltas.items():
                row[_INDEX[column]] += value

    def dossier(self, history_days: int) -> None:
        rng, today = self.rng, self.today
        definition = rng.choices(self.definitions, self.weights)[0]
        commune = rng.choices(self.province.communes, self.province.commune_weights)[0]
        unit = competent_unit(self.province, definition, commune, rng)
        quality = self.quality[unit.code]
        roll = rng.random()
        channel, centre = "online", None
        if roll < 0.22:
            channel, centre = "service_centre", rng.choice(self.province.centres)
        elif roll < 0.35:
            channel = "counter"
        elif roll < 0.38:
            channel = "post"
        units = [("unit", unit.code)] + ([("centre", centre.code)] if centre else [])
        if centre is not None:
            quality = (quality + self.quality[centre.code]) / 2
        received = today - dt.timedelta(days=int(rng.random() ** 0.8 * history_days))
        total = rng.randint(2, 5)
        reused = sum(rng.random() < (0.45 if channel == "online" else 0.1) for _ in range(total))
        self.add(
            units,
            definition.code,
            received,
            **{
                f"received_{channel}": 1,
                "in_progress_delta": 1,
                "components_total": total,
                "once_only_components": reused,
            },
        )
        if rng.random() < 0.08:
            self.add(units, definition.code, received + dt.timedelta(days=rng.randint(0, 2)), supplement_requests=1)
        budget = max(definition.budget.working_days or 1, 1)
        days = round(
            rng.uniform(0.2, 1.0) * budget / quality + (rng.expovariate(3) * budget if rng.random() > quality else 0), 2
        )
        done = received + dt.timedelta(days=int(days * 7 / 5) + 1)
        if done > today:  # still open: overdue once past its due date
            due = received + dt.timedelta(days=int(budget * 7 / 5) + 1)
            if due < today and rng.random() > quality:
                self.add(units, definition.code, due, overdue_delta=1)
            return
        outcome = rng.random()
        if outcome < 0.05:
            self.add(units, definition.code, done, refusals=1, in_progress_delta=-1)
            return
        timeliness = "late" if days > budget else ("early" if days < budget * 0.6 else "on_time")
        if timeliness == "late" and rng.random() < 0.5:  # announced overdue before its late result
            due = received + dt.timedelta(days=int(budget * 7 / 5) + 1)
            self.add(units, definition.code, min(due, done), overdue_delta=1)
            self.add(units, definition.code, done, overdue_delta=-1)
        self.add(
            units,
            definition.code,
            done,
            **{f"resolved_{timeliness}": 1, "processing_days_sum": days, "processing_days_count": 1},
            in_progress_delta=-1,
            results_electronic=int(rng.random() < (0.7 if channel == "online" else 0.2)),
        )
        if rng.random() < 0.3:
            rated = min(done + dt.timedelta(days=rng.randint(0, 3)), today)
            score = max(1, min(5, round(rng.gauss(1 + 4 * quality, 0.8))))
            for kind, code in units:
                r = self.ratings[(kind, code, definition.code, rated)]
                r[0], r[1], r[2] = r[0] + 1, r[1] + score, r[2] + int(score >= 4)

    @staticmethod
    def _rolled_up(source: "dict[Key, list[float]] | dict[Key, list[int]]", width: int) -> dict[tuple, list[float]]:
        target: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * width)
        for (kind, unit, procedure, day), values in source.items():
            for grain, bucket in (("day", day), ("month", month_start(day))):
                for proc in (procedure, ALL_PROCEDURES):
                    row = target[(grain, kind, proc, bucket, unit)]
                    for i, v in enumerate(values):
                        row[i] += v
        return target

    def rows(self) -> tuple[list[tuple], list[tuple]]:
        """The day and month rows, per procedure and for all procedures."""
        counts = self._rolled_up(self.counts, len(COUNTER_COLUMNS))
        ratings = self._rolled_up(self.ratings, 3)
        count_rows = [
            key + tuple(v if COUNTER_COLUMNS[i] == "processing_days_sum" else int(v) for i, v in enumerate(values))
            for key, values in counts.items()
        ]
        rating_rows = [key + tuple(int(v) for v in values) for key, values in ratings.items()]
        return count_rows, rating_rows


def demo_province() -> Province:
    """The province of the demo figures (``make setup``) and of the end-to-end tests' history: the demo accounts'
    units (the commune and its police, the provincial centre) are among its units, so their officers see them."""
    province = Province.build(
        8,
        busiest=(
            Unit("000.26.01.H29", "Ủy ban nhân dân phường Hoàn Kiếm"),
            Unit("000.26.02.H29", "Công an phường Hoàn Kiếm"),
        ),
    )
    province.centres[0] = Unit("000.00.01.H29", "Trung tâm Phục vụ hành chính công thành phố Hà Nội")
    return province


async def seed_history(
    conn: asyncpg.Connection,
    *,
    province: Province,
    definitions: Sequence[ProcedureDefinition],
    total: int,
    history_days: int = 395,
    today: dt.date | None = None,
    seed: int = 20260909,
) -> SeedResult:
    """Count ``total`` synthetic dossiers received over the last ``history_days`` into empty statistics tables.
    Deterministic for a given ``seed`` and ``today``."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM measure_counts)"):
        raise ValueError("measure_counts is not empty: the seed writes only into empty statistics tables")
    today = today or dt.datetime.now(VN_TZ).date()
    history = _History(province, definitions, today, random.Random(seed))
    for _ in range(total):
        history.dossier(history_days)
    count_rows, rating_rows = history.rows()
    units = [(u.code, u.name, "unit") for u in province.all_units() if u not in province.centres]
    units += [(u.code, u.name, "centre") for u in province.centres]
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO measure_units (code, name, kind) VALUES ($1, $2, $3)"
            " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind",
            units,
        )
        key_columns = ("grain", "kind", "procedure_code", "bucket", "unit_code")
        await conn.copy_records_to_table("measure_counts", records=count_rows, columns=key_columns + COUNTER_COLUMNS)
        await conn.copy_records_to_table(
            "rating_counts", records=rating_rows, columns=key_columns + ("ratings", "score_sum", "satisfied")
        )
    await conn.execute("VACUUM ANALYZE measure_counts")  # and the visibility map the index-only scans need
    await conn.execute("VACUUM ANALYZE rating_counts")
    return SeedResult(dossiers=total, count_rows=len(count_rows), rating_rows=len(rating_rows))
