"""Synthetic dossiers in processing's own tables, for the work-queue benchmark (``scripts/bench_queue.py``, a million
rows) and the query-plan tests (a few thousand). Not used by the service itself.

The spread is meant to look like a province: commune units of very different sizes (a few towns hold much of the
load: Zipf weights), their commune police, a few provincial departments and a delegated body; procedures drawn with
weights (birth and residence far more often than building permits); each open dossier at one step of its
procedure's definition, held by the unit that performs that step, with that step's roles, a status that fits the
step, and a due date spread around now (some overdue, some due soon, most ahead). The rows are written with COPY, in
chunks, onto a database that already has processing's schema (migrations): its indexes included, so what is measured
afterwards is the schema as it ships.
"""

import random
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from motcua_common.procedures import ProcedureDefinition

from .deadlines import Clock
from .domain import Status

# The columns COPY writes (the others take their defaults).
DOSSIER_COLUMNS = (
    "id",
    "code",
    "procedure_code",
    "procedure_name",
    "procedure_version",
    "channel",
    "applicant_kind",
    "applicant_subject",
    "submitter_kind",
    "submitter_subject",
    "receiving_unit_code",
    "unit_code",
    "unit_name",
    "status",
    "received_at",
    "due_at",
    "legal_due_at",
    "due_soon_at",
    "clock_started_at",
    "paused_at",
    "current_step",
    "current_roles",
    "current_unit_code",
    "current_unit_name",
    "involved_units",
    "timeliness",
    "completed_at",
    "overdue_notified_at",
    "due_soon_notified_at",
)
PARTY_COLUMNS = ("subject", "dossier_id", "received_at", "applicant", "submitter")


@dataclass(frozen=True)
class Unit:
    code: str
    name: str


@dataclass
class Province:
    """The units dossiers are spread over, by level (the ``level`` of a definition, and its performers)."""

    communes: list[Unit]
    commune_weights: list[float]
    police: dict[str, Unit]  # commune code -> its commune police
    departments: list[Unit]  # provincial level
    delegated: list[Unit]
    centres: list[Unit]  # Public Administration Service Centres: receive at the counter for any unit

    @classmethod
    def build(
        cls,
        communes: int,
        departments: int = 4,
        centres: int = 3,
        skew: float = 1.0,
        busiest: tuple[Unit, Unit] | None = None,
    ) -> "Province":
        """``communes`` commune units whose sizes follow Zipf weights ``1 / rank ** skew``; ``busiest`` names the
        largest commune and its police (e.g. the demo accounts' units, so their officers can log in)."""
        units = [Unit(f"X{i:04d}.H29", f"UBND xã số {i}") for i in range(1, communes + 1)]
        police = {u.code: Unit(f"CA{u.code[1:]}", f"Công an xã số {i}") for i, u in enumerate(units, start=1)}
        if busiest is not None:
            del police[units[0].code]
            units[0] = busiest[0]
            police[busiest[0].code] = busiest[1]
        return cls(
            communes=units,
            commune_weights=[1 / rank**skew for rank in range(1, communes + 1)],
            police=police,
            departments=[Unit(f"S{i:02d}.H29", f"Sở số {i}") for i in range(1, departments + 1)],
            delegated=[Unit("VCCI.HN", "VCCI Hà Nội")],
            centres=[
                Unit(f"TT{i:02d}.H29", f"Trung tâm Phục vụ hành chính công số {i}") for i in range(1, centres + 1)
            ],
        )

    def all_units(self) -> list[Unit]:
        return [*self.communes, *self.police.values(), *self.departments, *self.delegated, *self.centres]


@dataclass
class SeedSummary:
    dossiers: int = 0
    open: int = 0
    parties: int = 0
    open_by_unit: dict[str, int] = field(default_factory=dict)


def competent_unit(province: Province, definition: ProcedureDefinition, commune: Unit, rng: random.Random) -> Unit:
    """The unit competent for a dossier of ``definition`` from ``commune``, by the definition's level."""
    match definition.level:
        case "province":
            return rng.choice(province.departments)
        case "delegated":
            return province.delegated[0]
        case "commune_police":
            return province.police[commune.code]
    return commune


def procedure_weights(definitions: Sequence[ProcedureDefinition]) -> list[float]:
    """Everyday civil-status and residence procedures far more often than the rest (a rough guess, not a statistic)."""
    common = {"1.001193": 10, "1.004222": 8, "1.004194": 6, "2.000815": 8, "1.004873": 4, "1.000656": 3}
    return [float(common.get(d.code, 1)) for d in definitions]


class _Generator:
    def __init__(
        self,
        definitions: Sequence[ProcedureDefinition],
        province: Province,
        clock: Clock,
        now: datetime,
        subjects: Sequence[str],
        heavy_subjects: Sequence[str],
        heavy_share: float,
        rng: random.Random,
    ):
        self.definitions, self.province, self.clock, self.now, self.rng = definitions, province, clock, now, rng
        self.weights = procedure_weights(definitions)
        self.subjects, self.heavy, self.heavy_share = subjects, heavy_subjects, heavy_share
        self.due_soon_window = timedelta(seconds=clock.legal.office_hours.seconds_per_day)

    def competent(self, definition: ProcedureDefinition, commune: Unit) -> Unit:
        return competent_unit(self.province, definition, commune, self.rng)

    def performer(self, performer: str, competent: Unit, receiving: Unit, commune: Unit) -> Unit:
        match performer:
            case "receiving_unit":
                return receiving
            case "competent_unit":
                return competent
            case "commune_police":
                return self.province.police[commune.code]
            case "province":
                return self.province.departments[0]
            case "delegated":
                return self.province.delegated[0]
        return competent

    def subject(self) -> str:
        # A few citizens (the benchmark's logged-in ones) file many dossiers (``heavy_share`` of all between them); the
        # rest one or a few each.
        if self.heavy and self.rng.random() < self.heavy_share:
            return self.rng.choice(self.heavy)
        return self.rng.choice(self.subjects)

    def open_due(self) -> datetime:
        roll = self.rng.random()
        if roll < 0.10:  # overdue
            return self.now - timedelta(seconds=self.rng.uniform(60, 10 * 86400))
        if roll < 0.15:  # due soon: within a working day of office time
            return self.clock.legal.add_working_seconds(self.now, self.rng.uniform(60, 8 * 3600))
        return self.now + timedelta(seconds=self.rng.uniform(86400, 30 * 86400))

    def row(self, n: int, is_open: bool) -> tuple[tuple, Unit, str]:
        rng, definition = self.rng, self.rng.choices(self.definitions, self.weights)[0]
        commune = rng.choices(self.province.communes, self.province.commune_weights)[0]
        competent = self.competent(definition, commune)
        at_counter = rng.random() < 0.25
        receiving = rng.choice(self.province.centres) if at_counter else competent
        subject = self.subject()
        if is_open:
            due = self.open_due()
            received = min(due, self.now) - timedelta(seconds=rng.uniform(3600, 15 * 86400))
            index = rng.randrange(len(definition.steps))
            step = definition.steps[index]
            holder = self.performer(step.performer, competent, receiving, commune)
            if index == 0:
                status, started = Status.SUBMITTED, None
            else:
                status, started = Status.PROCESSING, received
                if any("approve" in s.actions for s in definition.steps[:index]):
                    status = Status.APPROVED
                if any("issue_result" in s.actions for s in definition.steps[:index]):
                    status = Status.RESULT_ISSUED
            paused = None
            if "request_supplement" in step.actions and rng.random() < 0.08:
                status, paused = Status.SUPPLEMENT_REQUESTED, received + (self.now - received) / 2
            values: tuple = (
                str(status),
                received,
                due,
                due,
                self.clock.legal.due_soon_at(due, self.due_soon_window),
                started,
                paused,
                step.key,
                list(step.roles),
                holder.code,
                holder.name,
                sorted({competent.code, holder.code}),
                None,
                None,
            )
            due_soon_at = values[4]
            # Announced already, as a running system's detector would have (so a started service has no backlog).
            values += (
                self.now if due < self.now and paused is None else None,
                self.now if due_soon_at <= self.now and paused is None else None,
            )
        else:
            received = self.now - timedelta(seconds=rng.uniform(20 * 86400, 720 * 86400))
            due = received + timedelta(days=rng.uniform(0.3, 20))
            done = received + (due - received) * rng.uniform(0.2, 1.4)
            status = rng.choices((Status.COMPLETED, Status.REJECTED, Status.REFUSED), (85, 10, 5))[0]
            holder = receiving
            timeliness = None
            if status == Status.COMPLETED:
                timeliness = "late" if done > due else ("early" if done.date() < due.date() else "on_time")
            values = (
                str(status),
                received,
                due,
                due,
                None,
                received,
                None,
                None,
                [],
                holder.code,
                holder.name,
                sorted({competent.code, holder.code}),
                timeliness,
                done,
                None,
                None,
            )
        dossier_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        code = f"{competent.code}-{received:%y%m%d}-{n:07d}"
        head = (
            dossier_id,
            code,
            definition.code,
            definition.name,
            definition.version,
            "counter" if at_counter else "online",
            "citizen",
            subject,
            "citizen",
            subject,
            receiving.code if at_counter else None,
            competent.code,
            competent.name,
        )
        return head + values, holder, subject

    def chunks(self, total: int, open_count: int, size: int) -> Iterator[tuple[list[tuple], list[tuple], Counter[str]]]:
        # Which rows are open: spread through the table, as they would be after years of use.
        open_rows = set(self.rng.sample(range(total), open_count))
        for start in range(0, total, size):
            dossiers: list[tuple] = []
            parties: list[tuple] = []
            per_unit: Counter[str] = Counter()
            for n in range(start, min(start + size, total)):
                is_open = n in open_rows
                row, holder, subject = self.row(n, is_open)
                dossiers.append(row)
                parties.append((subject, row[0], row[14], True, True))
                if is_open:
                    per_unit[holder.code] += 1
            yield dossiers, parties, per_unit


async def store_definitions(conn: asyncpg.Connection, definitions: Sequence[ProcedureDefinition], at: datetime) -> None:
    """The procedure versions the seeded dossiers run on (the queue names each dossier's step from them)."""
    for d in definitions:
        await conn.execute(
            "INSERT INTO procedure_versions (code, version, definition, published_at) VALUES ($1, $2, $3::jsonb, $4)"
            " ON CONFLICT DO NOTHING",
            d.code,
            d.version,
            d.model_dump_json(),
            at,
        )


async def seed_dossiers(
    conn: asyncpg.Connection,
    *,
    definitions: Sequence[ProcedureDefinition],
    province: Province,
    clock: Clock,
    total: int,
    open_count: int,
    subjects: Sequence[str],
    heavy_subjects: Sequence[str] = (),
    heavy_share: float = 0.02,
    now: datetime,
    seed: int = 20251121,
    chunk: int = 50_000,
    rebuild_indexes: bool = False,
    progress: bool = False,
) -> SeedSummary:
    """COPY ``total`` dossiers, ``open_count`` of them open, and one party row each (the applicant, who submitted
    it), onto a database with processing's schema; then ANALYZE. Deterministic for a given ``seed`` and ``now``.

    ``rebuild_indexes``: drop the secondary indexes of the two tables before loading and build them again after
    (the same definitions, read from ``pg_indexes``): much faster for a large load into empty tables."""
    if not 0 <= open_count <= total:
        raise ValueError("open_count must be between 0 and total")
    if not subjects:
        raise ValueError("give at least one citizen subject")
    gen = _Generator(definitions, province, clock, now, subjects, heavy_subjects, heavy_share, random.Random(seed))
    await store_definitions(conn, definitions, now)
    await conn.executemany(
        "INSERT INTO units (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(u.code, u.name) for u in province.all_units()],
    )
    rebuild = await _drop_secondary_indexes(conn) if rebuild_indexes else []
    summary = SeedSummary()
    for dossiers, parties, per_unit in gen.chunks(total, open_count, chunk):
        async with conn.transaction():
            await conn.copy_records_to_table("dossiers", records=dossiers, columns=DOSSIER_COLUMNS)
            await conn.copy_records_to_table("dossier_parties", records=parties, columns=PARTY_COLUMNS)
        summary.dossiers += len(dossiers)
        summary.parties += len(parties)
        for unit, count in per_unit.items():
            summary.open_by_unit[unit] = summary.open_by_unit.get(unit, 0) + count
        if progress:
            print(f"    {summary.dossiers:,} / {total:,} dossiers", flush=True)
    summary.open = sum(summary.open_by_unit.values())
    for definition in rebuild:
        if progress:
            print(f"    {definition}", flush=True)
        await conn.execute(definition)
    await conn.execute("ANALYZE dossiers")
    await conn.execute("ANALYZE dossier_parties")
    return summary


async def _drop_secondary_indexes(conn: asyncpg.Connection) -> list[str]:
    """Drop every index of ``dossiers`` and ``dossier_parties`` that backs no constraint; return their definitions."""
    rows = await conn.fetch(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = current_schema() AND i.tablename IN ('dossiers', 'dossier_parties')
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY i.indexname"""
    )
    for r in rows:
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
    return [r["indexdef"] for r in rows]
