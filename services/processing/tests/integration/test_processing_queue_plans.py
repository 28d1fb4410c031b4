"""The work queue's queries are index range scans that read about one page of rows, on a database of its own seeded
by the benchmark's generator (``processing.seed``, a small run of it, so the generator cannot rot).

What this proves, and what it does not: with a skewed spread (one town holding a large share of the open dossiers,
most dossiers closed) and the planner's own statistics (``ANALYZE``; ``enable_seqscan`` untouched), each main queue
query (whole unit, one role, two roles, overdue, due soon, by procedure, by step, by status, a deep cursor page, the
whole province) is answered from the partial indexes of open dossiers: no sequential scan of ``dossiers``, and the
rows examined stay within a bound set by the page size or by the size of the filtered range, never by the number of
dossiers. Closed dossiers are outside every partial index, so the 900,000 closed ones of the benchmark's database
cannot enter these plans; the benchmark (``make bench``) measures the same queries at 1,000,000 dossiers and prints
their plans. It does not prove the planner would choose the same at every size and spread."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from motcua_common import sample_procedures, testing
from motcua_common.auth import APPROVER, RECEIVING_OFFICER, SPECIALIST
from processing import repository
from processing.deadlines import Clock
from processing.main import MIGRATIONS
from processing.seed import Province, seed_dossiers
from processing.settings import Settings

pytestmark = pytest.mark.integration

TOTAL, OPEN, LIMIT = 60_000, 6_000, 21
DEFINITIONS = [
    sample_procedures.standard(),
    sample_procedures.inter_agency(),
    sample_procedures.standard("1.004873", name="Xác nhận tình trạng hôn nhân"),
    sample_procedures.standard("2.000815", name="Chứng thực bản sao từ bản chính"),
    sample_procedures.standard("MC-GPXD-NHA-O", name="Cấp giấy phép xây dựng nhà ở riêng lẻ", working_days=15),
    sample_procedures.standard("MC-LY-LICH-TU-PHAP", name="Cấp Phiếu lý lịch tư pháp", level="province"),
]
QUEUE_INDEXES = {
    "dossiers_open_by_current_unit_due",
    "dossiers_open_by_due_v2",
    "dossiers_queue_receiving_officer",
    "dossiers_queue_specialist",
    "dossiers_queue_approver",
    "dossiers_queue_by_procedure",
    "dossiers_queue_by_step",
    "dossiers_queue_by_status",
}


CLOCK = Clock(Settings().legal_clock())


@pytest.fixture(scope="module")
async def seeded() -> Any:
    own = testing.per_run_settings(Settings, "processing-plans")
    await testing.create_database(own, MIGRATIONS)
    conn = await asyncpg.connect(own.dsn)
    now = datetime.now(UTC)
    try:
        summary = await seed_dossiers(
            conn,
            definitions=DEFINITIONS,
            province=Province.build(60),
            clock=CLOCK,
            total=TOTAL,
            open_count=OPEN,
            subjects=[f"s-{i}" for i in range(TOTAL // 4)],
            heavy_subjects=["heavy-citizen"],
            now=now,
            chunk=10_000,
            rebuild_indexes=True,  # as the benchmark loads: the indexes the plans use are built again afterwards
        )
        yield conn, summary, now
    finally:
        await conn.close()
        await testing.drop_database(own)


def _nodes(plan: dict) -> list[dict]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def _explain(conn: asyncpg.Connection, sql: str, *args: Any) -> tuple[dict, list[dict]]:
    (plan,) = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args))
    return plan, _nodes(plan["Plan"])


async def test_the_seed_spreads_dossiers_like_a_province(seeded):
    conn, summary, now = seeded
    assert (summary.dossiers, summary.open, summary.parties) == (TOTAL, OPEN, TOTAL)
    assert await conn.fetchval("SELECT count(*) FROM dossiers") == TOTAL
    open_rows = await conn.fetch(
        "SELECT status, current_step, current_roles, due_at, procedure_code, procedure_version FROM dossiers"
        " WHERE current_step IS NOT NULL"
    )
    assert len(open_rows) == OPEN
    by_key = {(d.code, d.version): d for d in DEFINITIONS}
    for r in open_rows[:500]:  # each open dossier at a step of its definition, with that step's roles
        step = by_key[(r["procedure_code"], r["procedure_version"])].step(r["current_step"])
        assert r["current_roles"] == list(step.roles)
    statuses = {r["status"] for r in open_rows}
    assert {"submitted", "processing", "supplement_requested"} <= statuses
    overdue = sum(r["due_at"] < now for r in open_rows)
    assert 0.05 * OPEN < overdue < 0.2 * OPEN
    sizes = sorted(summary.open_by_unit.values(), reverse=True)
    assert sizes[0] > 5 * sizes[len(sizes) // 2]  # skewed: the largest unit holds far more than a median one
    assert len(set(r["procedure_code"] for r in open_rows)) == len(DEFINITIONS)
    closed = await conn.fetchval("SELECT count(*) FROM dossiers WHERE status IN ('completed', 'rejected', 'refused')")
    assert closed == TOTAL - OPEN
    assert await conn.fetchval("SELECT count(*) FROM dossier_parties WHERE subject = 'heavy-citizen'") > 50


async def test_queue_queries_are_index_ranges_of_about_a_page(seeded):
    conn, summary, now = seeded
    big = max(summary.open_by_unit, key=summary.open_by_unit.__getitem__)
    big_open = summary.open_by_unit[big]
    assert big_open > 0.1 * OPEN
    until = CLOCK.due_soon_until(now, 1.0)
    one = frozenset({SPECIALIST})

    async def in_unit(condition: str, *args: Any, what: str = "count(*)", tail: str = "") -> Any:
        """``what`` of the big unit's open dossiers that meet ``condition`` (e.g. the size of an index range)."""
        return await conn.fetchrow(
            f"SELECT {what} FROM dossiers WHERE current_unit_code = $1 AND current_step IS NOT NULL AND {condition}"
            f" {tail}",
            big,
            *args,
        )

    async def third_of_the_way(condition: str) -> tuple:
        """(due_at, id) a third of the way into the big unit's queue of ``condition``: a deep page's cursor. (Near the
        very end of a queue the planner may rightly read the few remaining rows in one bitmap scan and sort them.)"""
        size = (await in_unit(condition))[0]
        row = await in_unit(condition, size // 3, what="due_at, id", tail="ORDER BY due_at, id OFFSET $2 LIMIT 1")
        return row["due_at"], row["id"]

    deep, deep_role = await third_of_the_way("true"), await third_of_the_way("current_roles @> '{specialist}'")
    rare = (await in_unit("true", what="procedure_code", tail="GROUP BY 1 ORDER BY count(*) LIMIT 1"))[0]
    own_queue = (await in_unit("current_roles @> '{specialist}'"))[0]
    soon_range = (await in_unit("due_at >= $2 AND due_at <= $3", now, until))[0]
    receivers = (await in_unit("current_roles @> '{receiving_officer}'"))[0]
    paused = (await in_unit("status = 'supplement_requested'"))[0]
    # A filter a page's worth of rows does not satisfy reads at most its own range of the unit's queue, or the
    # officer's own queue (the planner picks which from its statistics); the others about a page.
    assert max(soon_range, own_queue, receivers, paused) < big_open < OPEN
    assert soon_range > 2 * LIMIT  # more due soon than a page or two
    # name: (query, at most this many rows examined: those the scans return plus those their filters remove)
    cases: dict[str, tuple[dict, int]] = {
        "whole unit": ({"unit_code": big, "roles": None}, 2 * LIMIT),
        "one role": ({"unit_code": big, "roles": one}, 2 * LIMIT),
        "two roles": ({"unit_code": big, "roles": frozenset({SPECIALIST, APPROVER})}, 4 * LIMIT),
        "deep page": ({"unit_code": big, "roles": None, "after": deep}, 2 * LIMIT),
        "deep page, one role": (
            {"unit_code": big, "roles": one, "after": deep_role},
            2 * LIMIT,
        ),
        "overdue": ({"unit_code": big, "roles": one, "overdue_at": now}, 3 * LIMIT),
        "due soon": ({"unit_code": big, "roles": None, "due_soon": (now, until)}, soon_range),
        "procedure": ({"unit_code": big, "roles": None, "procedure_code": "1.004222"}, 2 * LIMIT),
        "rare procedure, one role": ({"unit_code": big, "roles": one, "procedure_code": rare}, own_queue),
        "step": ({"unit_code": big, "roles": None, "step": "appraise"}, 2 * LIMIT),
        "step, one role": (
            {"unit_code": big, "roles": frozenset({RECEIVING_OFFICER}), "step": "return"},
            receivers,
        ),
        "status": ({"unit_code": big, "roles": None, "status": "supplement_requested"}, max(paused, 2 * LIMIT)),
        "province": ({"unit_code": None, "roles": None}, 2 * LIMIT),
        "province, overdue": ({"unit_code": None, "roles": None, "overdue_at": now}, 3 * LIMIT),
    }
    for name, (query, bound) in cases.items():
        after = query.pop("after", None)
        sql, args = repository.work_queue_query(repository.QueueQuery(**query), limit=LIMIT, after=after)
        plan, nodes = await _explain(conn, sql, *args)
        what = f"{name}: {json.dumps(plan['Plan'])[:3000]}"
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], what
        scans = [n for n in nodes if n.get("Relation Name") == "dossiers" or n["Node Type"] == "Bitmap Index Scan"]
        indexes = {n["Index Name"] for n in scans if "Index Name" in n}
        assert indexes and indexes <= QUEUE_INDEXES | {"dossiers_pkey"}, what
        examined = sum(
            n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0)
            for n in scans
            if n["Node Type"] != "Bitmap Index Scan" and n.get("Index Name") != "dossiers_pkey"
        )
        assert examined <= bound, f"{name}: {examined} rows examined, more than {bound}; {what}"
        assert plan["Execution Time"] < 250, what  # a loose ceiling for a shared test machine
    # The role indexes are the ones a role's queue reads.
    sql, args = repository.work_queue_query(repository.QueueQuery(big, one), limit=LIMIT, after=None)
    _, nodes = await _explain(conn, sql, *args)
    assert "dossiers_queue_specialist" in {n.get("Index Name") for n in nodes}


async def test_a_citizens_own_dossiers_are_one_index_range(seeded):
    conn, _, _ = seeded
    plan, nodes = await _explain(
        conn,
        "SELECT d.id FROM dossier_parties p JOIN dossiers d ON d.id = p.dossier_id WHERE p.subject = $1"
        " ORDER BY p.received_at DESC, p.dossier_id DESC LIMIT 21",
        "heavy-citizen",
    )
    assert not [n for n in nodes if n["Node Type"] in ("Seq Scan", "Sort")], plan
    assert "dossier_parties_by_subject_newest" in {n.get("Index Name") for n in nodes}, plan


async def test_the_seed_refuses_impossible_counts(seeded):
    conn, _, now = seeded
    for total, open_count in ((10, 11), (10, -1)):
        with pytest.raises(ValueError):
            await seed_dossiers(
                conn,
                definitions=DEFINITIONS,
                province=Province.build(2),
                clock=CLOCK,
                total=total,
                open_count=open_count,
                subjects=[f"x-{uuid.uuid4()}"],
                now=now - timedelta(days=1),
            )
