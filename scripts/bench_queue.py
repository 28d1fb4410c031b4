"""Benchmark officers' work queues and a citizen's own dossiers on 1,000,000 dossiers, 100,000 of them open.

``make bench`` runs it after ``scripts/bench.py`` (``make bench-queue`` alone; ``uv run --frozen python
scripts/bench_queue.py --help``). The script starts its own citizen-id and processing as uvicorn processes on free
loopback ports, with databases (``bench_queue_processing``, ``bench_queue_citizen_id``, dropped and recreated) and
topics (``test.bench.queue.*``) of their own, so the data of ``make run`` is untouched. It seeds the dossiers with
COPY (``processing.seed``), logs in the demo officers (whose units are the busiest commune and its police in the
seeded province) and a few citizens, then measures each queue query through processing's HTTP API, alternating
rounds with a baseline: a primary-key read of one dossier on the same table through the same HTTP stack (the public
lookup by id). Each figure is printed as one ``BENCH name=… rps=… p50_ms=… p99_ms=… baseline_rps=… ratio=…`` line,
the plan PostgreSQL chose for each query at that size is printed after it, and the run is appended to
``docs/benchmarks.md``.
"""

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from bench import (
    BENCH_PASSWORD,
    QUICK,
    Service,
    acceptable,
    add_output_options,
    applicants_with_passwords,
    command_line,
    cpu_meter,
    free_port,
    git_revision,
    machine_line,
    publish,
    rss_mib,
    run_benchmark,
    say,
    start_service,
    wait_ready,
)
from benchkit import CpuMeter, bench_line, cpu_ms_per_request, latency_ms

from citizen_id.accounts import OFFICERS
from citizen_id.seed import seed as seed_citizens
from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
from intake.settings import Settings as IntakeSettings
from intake.versions import read_shipped
from motcua_common.db import migrate
from motcua_common.oidc_client import login
from motcua_common.principal import Principal
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_topics, recreate_databases
from processing import domain, repository
from processing import seed as seed_module
from processing.deadlines import Clock
from processing.main import MIGRATIONS as PROCESSING_MIGRATIONS
from processing.seed import Province, SeedSummary, Unit, seed_dossiers
from processing.settings import Settings as ProcessingSettings

# A quick run (BENCH_QUICK=1) seeds databases of its own, so it never replaces the large seed a full run reuses.
_DB = "bench_queue_quick" if QUICK else "bench_queue"
DATABASES = {"processing": f"{_DB}_processing", "citizen-id": f"{_DB}_citizen_id", "gateway": f"{_DB}_gateway"}
TOPIC = "test.bench.queue.dossier.events"
TOPICS = [
    TOPIC,
    f"{TOPIC}.dlq",
    "test.bench.queue.dossier.state",
    "test.bench.queue.personal.events",
    "test.bench.queue.portal.events",
]
CATALOGUE_TOPIC = "test.bench.queue.catalogue.events"
CITIZENS = 10_000  # in the registry (citizen-id), for the logins
HEAVY_CITIZENS = 20  # citizens who log in and hold many dossiers each (the /me/dossiers figures)
LIMIT = 20  # the page size the apps ask for
ME = "/api/v1/me/dossiers"
# The demo accounts' units (citizen_id.accounts.OFFICERS): the busiest commune and its police in the seeded province.
COMMUNE, POLICE = "000.26.01.H29", "000.26.02.H29"
OFFICER_ACCOUNTS = {
    "lan": "lan.chuyenvien",  # specialist of the commune
    "tuan": "tuan.lanhdao",  # approver of the commune
    "son": "son.truong",  # unit head of the commune
    "minh": "minh.congan",  # receiving officer, specialist and approver of the police
    "quan": "quan.vanhanh",  # provincial operator
}


# --- load -----------------------------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Round:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    sample: str = ""


async def run_round(client: httpx.AsyncClient, requests: list[Request], concurrency: int) -> Round:
    """Send every request once with ``concurrency`` in flight (closed loop); time the 200 answers."""
    pending = iter(requests)
    result = Round()

    async def worker() -> None:
        for r in pending:
            started = time.perf_counter()
            try:
                resp = await client.get(r.path, params=r.params, headers=r.headers)
                status, detail = resp.status_code, resp.text[:300]
            except httpx.HTTPError as exc:
                status, detail = 0, repr(exc)[:300]
            if status == 200:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors[status] += 1
                result.sample = result.sample or f"{status} {r.path} {r.params}: {detail}"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class Figure:
    name: str
    what: str
    rps: float
    p50: float
    p99: float
    baseline_rps: float
    baseline_p50: float
    baseline_p99: float
    requests: int
    errors: int
    cpu_ms: float = math.nan  # all processes, per request of the measured rounds
    baseline_cpu_ms: float = math.nan
    plan: str = ""

    @property
    def ratio(self) -> float:
        return self.rps / self.baseline_rps if self.baseline_rps else float("nan")

    def line(self) -> str:
        return bench_line(
            self.name, rps=self.rps, p50_ms=self.p50, p99_ms=self.p99, cpu_ms=self.cpu_ms,
            baseline_rps=self.baseline_rps, baseline_p99_ms=self.baseline_p99, ratio=self.ratio,
        )  # fmt: skip


def percentiles(rounds: list[Round]) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) of the 200 answers of ``rounds``."""
    lat = latency_ms(x for r in rounds for x in r.latencies)
    elapsed = sum(r.elapsed for r in rounds)
    return (lat.count / elapsed if elapsed else 0.0), lat.p50, lat.p99


async def measured_round(
    client: httpx.AsyncClient, requests: list[Request], concurrency: int, meter: CpuMeter, cpu: dict[str, float]
) -> Round:
    """One round, its processes' CPU seconds added to ``cpu``."""
    before = meter.snapshot()
    result = await run_round(client, requests, concurrency)
    after = meter.snapshot()
    for k, v in after.items():
        cpu[k] = cpu.get(k, 0.0) + max(v - before.get(k, 0.0), 0.0)
    return result


def cpu_line(per_process: dict[str, float]) -> str:
    """The CPU of each process per request (what ``cpu_ms`` sums), for comparing runs process by process."""
    return "CPU ms per request: " + ", ".join(f"{name} {ms:.2f}" for name, ms in per_process.items())


def pooled(name: str, rounds: list[list[Round]], figures: list[Figure], cpu: dict[str, float]) -> str:
    """One BENCH line for a family of queries: rate, p50 and p99 of all their requests together, the worst query's
    p99 (the goal holds for each), and the CPU per request of all their measured rounds."""
    flat = [r for rs in rounds for r in rs]
    rps, p50, p99 = percentiles(flat)
    worst = max(figures, key=lambda f: f.p99)
    per = cpu_ms_per_request({}, cpu, sum(len(r.latencies) for r in flat))
    return bench_line(
        name, rps=rps, p50_ms=p50, p99_ms=p99, cpu_ms=per["total"], worst_p99_ms=worst.p99, worst=worst.name,
        baseline_rps=sum(f.baseline_rps for f in figures) / len(figures),
        ratio=sum(f.ratio for f in figures) / len(figures), queries=len(figures),
    )  # fmt: skip


# --- set-up ---------------------------------------------------------------------------------------------------------


def subject_of(token_headers: dict[str, str]) -> str:
    """The ``sub`` claim of an access token (read, not verified: these are our own fresh tokens)."""
    payload = token_headers["Authorization"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def log_in(url: str, personal_ids: list[str]) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    """The officers' and the citizens' Authorization headers (authorization code + PKCE at citizen-id)."""
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as api:
        officers = {
            name: (await login(api, username, "demo1234", account="officer")).headers
            for name, username in OFFICER_ACCOUNTS.items()
        }
        citizens = [(await login(api, pid, BENCH_PASSWORD)).headers for pid in personal_ids]
    return officers, citizens


@dataclass
class Case:
    name: str
    what: str
    who: str  # an officer of OFFICER_ACCOUNTS, or "citizen"
    params: dict[str, Any] = field(default_factory=dict)
    deep: bool = False  # each request continues from a cursor at a random depth of the queue
    path: str = "/api/v1/work-queue"
    walk: int = 100  # the page size the list is walked with to collect deep cursors


CASES = [
    Case("work_queue_unit_first", "unit head, whole commune queue, first page", "son"),
    Case("work_queue_unit_deep", "unit head, whole commune queue, a page at a random depth", "son", deep=True),
    Case("work_queue_role_first", "specialist, own queue (steps naming the role), first page", "lan"),
    Case("work_queue_role_deep", "specialist, own queue, a page at a random depth", "lan", deep=True),
    Case("work_queue_roles_first", "police officer with three roles, first page", "minh"),
    Case("work_queue_roles_deep", "police officer with three roles, a page at a random depth", "minh", deep=True),
    Case("work_queue_overdue", "specialist, overdue=true", "lan", {"overdue": "true"}),
    Case("work_queue_due_soon", "unit head, due_soon=true", "son", {"due_soon": "true"}),
    Case("work_queue_procedure", "unit head, procedure_code=1.001193", "son", {"procedure_code": "1.001193"}),
    Case("work_queue_procedure_rare", "approver, a rare procedure", "tuan", {"procedure_code": "MC-GPXD-NHA-O"}),
    Case("work_queue_step", "unit head, step=appraise", "son", {"step": "appraise"}),
    Case("work_queue_status", "unit head, status=supplement_requested", "son", {"status": "supplement_requested"}),
    Case("work_queue_province_first", "provincial operator, whole province, first page", "quan"),
    Case("work_queue_province_deep", "provincial operator, whole province, random depth", "quan", deep=True),
    Case("work_queue_province_overdue", "provincial operator, whole province, overdue", "quan", {"overdue": "true"}),
    Case("me_dossiers_first", "citizen's own dossiers, first page", "citizen", path=ME),
    Case("me_dossiers_deep", "citizen's own dossiers, a random depth", "citizen", deep=True, path=ME, walk=LIMIT),
]


async def collect_cursors(
    client: httpx.AsyncClient, case: Case, headers: list[dict[str, str]], pages: int
) -> list[tuple[dict[str, str], str]]:
    """Cursors at every depth of the case's list (walked ``case.walk`` rows a page), with the headers that got them:
    a cursor is bound to its filters and its caller's scope, not to the page size."""
    found: list[tuple[dict[str, str], str]] = []
    for h in headers:
        cursor = None
        for _ in range(pages):
            params = {**case.params, "limit": case.walk} | ({"cursor": cursor} if cursor else {})
            resp = await client.get(case.path, params=params, headers=h)
            if resp.status_code != 200:
                raise RuntimeError(f"{case.name}: walking the list failed: {resp.status_code} {resp.text[:300]}")
            cursor = resp.json()["next_cursor"]
            if cursor is None:
                break
            found.append((h, cursor))
    if not found:
        raise RuntimeError(f"{case.name}: the list has a single page; nothing deep to measure")
    return found


def requests_for(
    case: Case,
    count: int,
    officers: dict[str, dict[str, str]],
    citizens: list[dict[str, str]],
    cursors: list[tuple[dict[str, str], str]],
    rng: random.Random,
) -> list[Request]:
    out = []
    for _ in range(count):
        headers = rng.choice(citizens) if case.who == "citizen" else officers[case.who]
        params = {**case.params, "limit": LIMIT}
        if case.deep:
            headers, cursor = rng.choice(cursors)
            params["cursor"] = cursor
        out.append(Request(case.path, params, headers))
    return out


# --- plans ----------------------------------------------------------------------------------------------------------


def principal_of(username: str) -> Principal:
    for name, _, unit, roles in OFFICERS:
        if name == username:
            return Principal(kind="officer", subject=name, client_id="bench", unit_code=unit, roles=frozenset(roles))
    raise KeyError(username)


async def plan_of(conn: asyncpg.Connection, case: Case, clock: Clock, settings: ProcessingSettings) -> str:
    """The plan PostgreSQL runs for the case's first page (the service's own SQL, built as the service builds it):
    the indexes it reads, the rows it examines and its execution time."""
    now = datetime.now(UTC)
    if case.who == "citizen":  # as repository.my_dossiers, for the citizen with the most dossiers
        heaviest = await conn.fetchval(
            "SELECT subject FROM dossier_parties GROUP BY subject ORDER BY count(*) DESC LIMIT 1"
        )
        sql = (
            "SELECT d.id FROM dossier_parties p JOIN dossiers d ON d.id = p.dossier_id WHERE p.subject = $1"
            " ORDER BY p.received_at DESC, p.dossier_id DESC LIMIT 21"
        )
        args: list[Any] = [heaviest]
    else:
        scope = domain.queue_scope(principal_of(OFFICER_ACCOUNTS[case.who]), None, None)
        p = case.params
        query = repository.QueueQuery(
            unit_code=scope.unit_code,
            roles=scope.roles,
            status=p.get("status"),
            procedure_code=p.get("procedure_code"),
            step=p.get("step"),
            overdue_at=now if p.get("overdue") else None,
            due_soon=(now, clock.due_soon_until(now, settings.due_soon_working_days)) if p.get("due_soon") else None,
        )
        sql, args = repository.work_queue_query(query, limit=LIMIT + 1, after=None)
    (plan,) = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args))
    nodes, stack = [], [plan["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack += node.get("Plans", [])
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    seq = any(n["Node Type"] == "Seq Scan" for n in nodes)
    examined = sum(
        n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0)
        for n in scans
        if n["Node Type"] != "Bitmap Index Scan" and not str(n.get("Index Name", "")).endswith("_pkey")
    )
    used = sorted({f"{n['Node Type']} on {n['Index Name']}" for n in scans if "Index Name" in n})
    buffers = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
    return (
        f"{'SEQ SCAN; ' if seq else ''}{'; '.join(used)}; {examined} rows examined, {buffers} buffers, "
        f"{plan['Execution Time']:.2f} ms"
    )


# --- report ---------------------------------------------------------------------------------------------------------


def markdown_section(
    args: argparse.Namespace,
    argv: list[str],
    figures: list[Figure],
    track: Figure | None,
    lines_out: list[str],
    summary: SeedSummary,
    seed_note: str,
    memory: float | None,
    started_at: datetime,
    duration: float,
    revision: str,
) -> str:
    top = sorted(summary.open_by_unit.items(), key=lambda kv: -kv[1])[:3]
    lines = [
        f"## {started_at:%Y-%m-%d %H:%M %Z}: tracking, work queues and a citizen's dossiers at "
        f"{summary.dossiers:,} dossiers",
        "",
        f"- Command: `{command_line('bench_queue.py', argv)}` (this part took {duration:.0f}s; {seed_note})",
        f"- Code: commit {revision}",
        f"- Machine: {machine_line()}",
        f"- Data: {summary.dossiers:,} dossiers ({summary.open:,} open) over {len(summary.open_by_unit)} units holding "
        f"open ones, the busiest {', '.join(f'{u} ({n:,} open)' for u, n in top)}; {summary.parties:,} party rows; "
        f"{args.communes} communes (Zipf), their police, 4 provincial departments, 3 service centres, a delegated "
        "body; the 17 shipped procedure definitions",
    ]
    if track is not None:
        lines += [
            f"- Tracking: {args.track_rounds} rounds of {args.track_requests} `GET /api/v1/dossiers/{{code}}` through "
            f"the gateway by {HEAVY_CITIZENS} citizens each reading one of their own dossiers (token verified by the "
            "gateway and by processing), alternating with a bare FastAPI + asyncpg app's primary-key select of a "
            f"random dossier (no token), concurrency {args.track_concurrency}",
            "",
            "| | req/s | p50 (ms) | p99 (ms) | CPU ms / request |",
            "|---|---:|---:|---:|---:|",
            f"| tracking through the gateway | {track.rps:.1f} | {track.p50:.1f} | {track.p99:.1f} | "
            f"{track.cpu_ms:.2f} |",
            f"| bare primary-key select | {track.baseline_rps:.1f} | {track.baseline_p50:.1f} | "
            f"{track.baseline_p99:.1f} | {track.baseline_cpu_ms:.2f} |",
            "",
        ]
    lines += [
        f"- Queues: {args.rounds} rounds of {args.requests} requests per query and as many to the baseline, "
        f"alternating, concurrency {args.concurrency}, page size {LIMIT}, after {args.warmup} warm-up requests; "
        "straight to processing (no gateway); deep pages continue from a cursor at a random depth of the list",
        "- Queue baseline: `GET /api/v1/public/dossiers/{id}`, a primary-key read of one random dossier of the same "
        "table through the same HTTP stack; `ratio` = queue req/s ÷ baseline req/s of the rounds alternating with it",
        "",
        "| query | what | req/s | p50 (ms) | p99 (ms) | CPU ms / req | baseline req/s | baseline p50 / p99 (ms) "
        "| ratio | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| `{f.name}` | {f.what} | {f.rps:.1f} | {f.p50:.1f} | {f.p99:.1f} | {f.cpu_ms:.2f} | "
            f"{f.baseline_rps:.1f} | {f.baseline_p50:.1f} / {f.baseline_p99:.1f} | {f.ratio:.2f} | {f.errors} |"
        )
    lines += ["", "The plan of each first page at this size (`EXPLAIN (ANALYZE, BUFFERS)` of the service's SQL):", ""]
    lines += [f"- `{f.name}`: {f.plan}" for f in figures if f.plan]
    if memory is not None:
        lines += ["", f"- Resident memory of processing after the run (VmRSS): {memory:.0f} MiB"]
    if any(f.errors for f in figures) or (track is not None and track.errors):
        lines.append("- **Errors occurred**: the figures above are not trustworthy")
    lines += ["", "```", *lines_out, "```"]
    return "\n".join(lines) + "\n"


# --- the seeded data: made once, reused while it matches ----------------------------------------------------------


def seed_fingerprint(args: argparse.Namespace) -> str:
    """What the seeded databases depend on: the sizes asked for, processing's migrations and the seed's code. A
    database seeded with the same fingerprint (and finished) is reused instead of being seeded again."""
    h = hashlib.sha256(f"{args.dossiers}/{args.open}/{args.communes}/{CITIZENS}/{HEAVY_CITIZENS}".encode())
    for path in sorted(PROCESSING_MIGRATIONS.glob("*.sql")):
        h.update(path.name.encode() + path.read_bytes())
    h.update(Path(seed_module.__file__).read_bytes())
    return h.hexdigest()[:16]


SEED_TABLE = "bench_seed"  # one row, written last: the seed finished


async def reusable_seed(dsn: str, fingerprint: str) -> SeedSummary | None:
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        row = await conn.fetchrow(
            f"SELECT summary FROM {SEED_TABLE} WHERE fingerprint = $1 AND seeded_at > now() - interval '1 day'",
            fingerprint,
        )
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    return None if row is None else SeedSummary(**json.loads(row["summary"]))


async def mark_seeded(conn: asyncpg.Connection, fingerprint: str, summary: SeedSummary) -> None:
    await conn.execute(
        f"CREATE TABLE {SEED_TABLE} (fingerprint text NOT NULL, summary text NOT NULL, seeded_at timestamptz NOT NULL"
        " DEFAULT now())"
    )
    await conn.execute(
        f"INSERT INTO {SEED_TABLE} (fingerprint, summary) VALUES ($1, $2)",
        fingerprint,
        json.dumps(dataclasses.asdict(summary)),
    )


# --- main -----------------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, argv: list[str], services: list[Service]) -> int:
    wall = time.perf_counter()
    started_at = datetime.now().astimezone()
    revision = git_revision()
    base = ServiceSettings()
    dsn = {k: base.model_copy(update={"database": db}).dsn for k, db in DATABASES.items()}
    fingerprint = seed_fingerprint(args)
    reused = None if args.reseed else await reusable_seed(dsn["processing"], fingerprint)
    if reused is None:
        say(f"==> Databases {', '.join(DATABASES.values())}: drop and recreate")
        await recreate_databases(base, DATABASES.values())
        await migrate(dsn["processing"], PROCESSING_MIGRATIONS)
        await seed_citizens(dsn["citizen-id"], CITIZENS, verbose=False)
    else:
        say(f"==> Reusing {DATABASES['processing']} and {DATABASES['citizen-id']} (seeded earlier, same fingerprint)")
        await recreate_databases(base, [DATABASES["gateway"]])
    await migrate(dsn["gateway"], GATEWAY_MIGRATIONS)
    personal_ids = await applicants_with_passwords(dsn["citizen-id"], HEAVY_CITIZENS)
    await create_topics(base.kafka_bootstrap, *TOPICS, CATALOGUE_TOPIC)

    log_dir = Path(tempfile.mkdtemp(prefix="motcua-bench-queue-"))
    ports = {name: free_port() for name in ("citizen-id", "processing", "gateway", "bare")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common = {
        "MOTCUA_DOSSIER_TOPIC": TOPIC,
        "MOTCUA_DLQ_TOPIC": f"{TOPIC}.dlq",
        "MOTCUA_PERSONAL_TOPIC": TOPICS[3],
        "MOTCUA_CATALOGUE_TOPIC": CATALOGUE_TOPIC,
        # tokens name citizen-id itself as their issuer (the gateway is told the same)
        "MOTCUA_ISSUER": url["citizen-id"],
        "MOTCUA_JWKS_URL": f"{url['citizen-id']}/oauth/jwks",
        "MOTCUA_TOKEN_URL": f"{url['citizen-id']}/oauth/token",
    }
    citizen_id = start_service(
        "citizen-id",
        "citizen_id",
        ports["citizen-id"],
        {"CITIZEN_ID_DATABASE": DATABASES["citizen-id"], "CITIZEN_ID_ACCESS_TOKEN_TTL": "7200", **common},
        log_dir,
    )
    services.append(citizen_id)
    say(f"    citizen-id ready in {await wait_ready(citizen_id):.1f}s (pid {citizen_id.process.pid})")
    _, citizens = await log_in(url["citizen-id"], personal_ids)
    heavy = [subject_of(h) for h in citizens]

    settings = ProcessingSettings()
    clock = Clock(settings.legal_clock())
    conn = await asyncpg.connect(dsn["processing"])
    try:
        if reused is None:
            definitions = read_shipped(IntakeSettings().catalogue_dir)
            province = Province.build(
                args.communes,
                busiest=(Unit(COMMUNE, "UBND xã Tây Hồ (demo)"), Unit(POLICE, "Công an xã Tây Hồ (demo)")),
            )
            say(f"==> Seeding {args.dossiers:,} dossiers ({args.open:,} open) into {DATABASES['processing']} with COPY")
            t = time.perf_counter()
            summary = await seed_dossiers(
                conn,
                definitions=definitions,
                province=province,
                clock=clock,
                total=args.dossiers,
                open_count=args.open,
                subjects=[f"bench-{i:07d}" for i in range(args.dossiers // 3)],
                heavy_subjects=heavy,
                heavy_share=0.01,
                now=datetime.now(UTC),
                rebuild_indexes=True,
            )
            await conn.execute("VACUUM ANALYZE dossiers")
            await conn.execute("VACUUM ANALYZE dossier_parties")
            await mark_seeded(conn, fingerprint, summary)
            seed_note = f"seeded in {time.perf_counter() - t:.0f}s"
            say(f"    done: {seed_note}; open in the busiest units: {sorted(summary.open_by_unit.values())[-3:]}")
        else:
            summary = reused
            seed_note = "the seeded databases of an earlier run reused"
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM dossiers TABLESAMPLE SYSTEM (1) LIMIT 5000")]
        owned = await conn.fetch(
            "SELECT d.code, p.subject FROM dossier_parties p JOIN dossiers d ON d.id = p.dossier_id"
            " WHERE p.subject = ANY($1::text[]) LIMIT 5000",
            heavy,
        )

        processing = start_service(
            "processing",
            "processing",
            ports["processing"],
            {
                "PROCESSING_DATABASE": DATABASES["processing"],
                "PROCESSING_DEADLINE_INTERVAL_SECONDS": "3600",
                **common,
            },
            log_dir,
        )
        gateway = start_service(
            "gateway",
            "gateway",
            ports["gateway"],
            {
                "GATEWAY_DATABASE": DATABASES["gateway"],
                "GATEWAY_PROCESSING_URL": url["processing"],
                "GATEWAY_CITIZEN_ID_URL": url["citizen-id"],
                # Not started (only tracking is measured through the gateway): a live /healthz for its readiness.
                "GATEWAY_INTAKE_URL": url["citizen-id"],
                "GATEWAY_NOTIFY_URL": url["citizen-id"],
                **{
                    f"GATEWAY_RATE_{k}_PER_MINUTE": "100000000"
                    for k in ("CITIZEN", "OFFICER", "CLIENT", "ANONYMOUS", "LOGIN", "PUBLIC_LOOKUP")
                },
                **common,
            },
            log_dir,
        )
        bare = start_service(
            "bare", "bench_baseline", ports["bare"], {"BENCH_BASELINE_DSN": dsn["processing"]}, log_dir,
            app="bench_baseline:create_bare_app",
        )  # fmt: skip
        services += [processing, gateway, bare]
        for svc in (processing, gateway, bare):
            say(f"    {svc.name} ready in {await wait_ready(svc):.1f}s (pid {svc.process.pid})")
        officers, citizens = await log_in(url["citizen-id"], personal_ids)  # fresh tokens after the seed
        say(f"==> Logged in {len(officers)} officers and {len(citizens)} citizens (authorization code + PKCE)")
        token_of = {subject_of(h): h for h in citizens}
        meter = cpu_meter(services)

        rng = random.Random(20251121)
        lines: list[str] = []
        track = await measure_track(args, url, owned, token_of, ids, meter, rng) if args.track_rounds else None
        if track is not None:
            lines.append(
                bench_line(
                    "track",
                    rps=track.rps,
                    p50_ms=track.p50,
                    p99_ms=track.p99,
                    cpu_ms=track.cpu_ms,
                    baseline_rps=track.baseline_rps,
                    baseline_p50_ms=track.baseline_p50,
                    baseline_p99_ms=track.baseline_p99,
                    baseline_cpu_ms=track.baseline_cpu_ms,
                    ratio=track.ratio,
                    dossiers=summary.dossiers,
                )  # fmt: skip
            )
            say(lines[-1])

        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        figures: list[Figure] = []
        family_rounds: dict[str, list[list[Round]]] = {"queue_officer": [], "queue_citizen": []}
        family_figures: dict[str, list[Figure]] = {"queue_officer": [], "queue_citizen": []}
        family_cpu: dict[str, dict[str, float]] = {"queue_officer": {}, "queue_citizen": {}}
        async with httpx.AsyncClient(
            base_url=url["processing"], limits=limits, timeout=httpx.Timeout(30.0), trust_env=False
        ) as client:

            def baseline(count: int) -> list[Request]:
                return [Request(f"/api/v1/public/dossiers/{rng.choice(ids)}", {}, {}) for _ in range(count)]

            warm = await run_round(client, baseline(args.warmup), args.concurrency)
            if warm.errors:
                raise RuntimeError(f"baseline warm-up failed: {warm.sample}")
            for case in CASES:
                if args.only and not any(word in case.name for word in args.only):
                    continue
                headers = citizens if case.who == "citizen" else [officers[case.who]]
                cursors = await collect_cursors(client, case, headers, args.depth) if case.deep else []
                warm = await run_round(
                    client, requests_for(case, args.warmup, officers, citizens, cursors, rng), args.concurrency
                )
                if warm.errors:
                    raise RuntimeError(f"{case.name}: warm-up failed: {warm.sample}")
                measured: list[Round] = []
                base_rounds: list[Round] = []
                cpu: dict[str, float] = {}
                base_cpu: dict[str, float] = {}
                for _ in range(args.rounds):
                    reqs = requests_for(case, args.requests, officers, citizens, cursors, rng)
                    measured.append(await measured_round(client, reqs, args.concurrency, meter, cpu))
                    base_rounds.append(
                        await measured_round(client, baseline(args.requests), args.concurrency, meter, base_cpu)
                    )
                rps, p50, p99 = percentiles(measured)
                b_rps, b_p50, b_p99 = percentiles(base_rounds)
                errors = sum(sum(r.errors.values()) for r in measured + base_rounds)
                figure = Figure(case.name, case.what, rps, p50, p99, b_rps, b_p50, b_p99, args.requests, errors)
                per_process = cpu_ms_per_request({}, cpu, sum(len(r.latencies) for r in measured))
                figure.cpu_ms = per_process["total"]
                figure.baseline_cpu_ms = cpu_ms_per_request({}, base_cpu, sum(len(r.latencies) for r in base_rounds))[
                    "total"
                ]
                if not case.deep:
                    figure.plan = await plan_of(conn, case, clock, settings)
                figures.append(figure)
                family = "queue_citizen" if case.who == "citizen" else "queue_officer"
                family_rounds[family].append(measured)
                family_figures[family].append(figure)
                for k, v in cpu.items():
                    family_cpu[family][k] = family_cpu[family].get(k, 0.0) + v
                say(figure.line())
                say(f"      {cpu_line(per_process)}")
                if figure.plan:
                    say(f"      plan: {figure.plan}")
                for r in measured + base_rounds:
                    if r.errors:
                        say(f"      errors {dict(r.errors)}; first: {r.sample}")
    finally:
        await conn.close()

    for family, rounds in family_rounds.items():
        if rounds:
            lines.append(pooled(family, rounds, family_figures[family], family_cpu[family]))
            count = sum(len(r.latencies) for rs in rounds for r in rs)
            say(f"{family}: {cpu_line(cpu_ms_per_request({}, family_cpu[family], count))}")
    lines += [f.line() for f in figures]
    memory = rss_mib(processing.process.pid)
    duration = time.perf_counter() - wall
    section = markdown_section(
        args, argv, figures, track, lines, summary, seed_note, memory, started_at, duration, revision
    )
    publish(args.output, section, lines, started_at, revision)
    failed = sum(f.errors for f in figures) + (track.errors if track is not None else 0)
    if failed:
        say(f"==> {failed} request(s) failed: see above")
    attempts = 2 * args.rounds * args.requests * len(figures) + 2 * args.track_rounds * args.track_requests
    return 0 if acceptable(failed, attempts) else 1


async def measure_track(
    args: argparse.Namespace,
    url: dict[str, str],
    owned: list[asyncpg.Record],
    token_of: dict[str, dict[str, str]],
    ids: list[Any],
    meter: CpuMeter,
    rng: random.Random,
) -> Figure:
    """A citizen tracking one of their own dossiers through the gateway, alternating with the bare app's primary-key
    select of a random dossier of the same table."""
    if not owned:
        raise RuntimeError("no dossier of the logged-in citizens to track")
    limits = httpx.Limits(max_connections=args.track_concurrency, max_keepalive_connections=args.track_concurrency)
    timeout = httpx.Timeout(30.0)

    def tracking(count: int) -> list[Request]:
        picks = [rng.choice(owned) for _ in range(count)]
        return [Request(f"/api/v1/dossiers/{r['code']}", {}, token_of[r["subject"]]) for r in picks]

    def selects(count: int) -> list[Request]:
        return [Request(f"/api/v1/dossiers/{rng.choice(ids)}", {}, {}) for _ in range(count)]

    measured: list[Round] = []
    base_rounds: list[Round] = []
    cpu: dict[str, float] = {}
    base_cpu: dict[str, float] = {}
    async with (
        httpx.AsyncClient(base_url=url["gateway"], limits=limits, timeout=timeout, trust_env=False) as gw,
        httpx.AsyncClient(base_url=url["bare"], limits=limits, timeout=timeout, trust_env=False) as bare,
    ):
        for client, make in ((gw, tracking), (bare, selects)):
            warm = await run_round(client, make(args.warmup), args.track_concurrency)
            if warm.errors:
                raise RuntimeError(f"tracking warm-up failed: {warm.sample}")
        say(
            f"==> Tracking: {args.track_rounds} rounds x {args.track_requests} requests through the gateway, "
            f"alternating with a bare primary-key select, concurrency {args.track_concurrency}"
        )
        for i in range(1, args.track_rounds + 1):
            measured.append(await measured_round(gw, tracking(args.track_requests), args.track_concurrency, meter, cpu))
            base_rounds.append(
                await measured_round(bare, selects(args.track_requests), args.track_concurrency, meter, base_cpu)
            )
            for label, r in (("tracking", measured[-1]), ("PK select", base_rounds[-1])):
                lat = latency_ms(r.latencies)
                say(
                    f"    round {i}/{args.track_rounds} {label:<9} {len(r.latencies) / r.elapsed:8.1f} req/s  "
                    f"p50 {lat.p50:6.1f} ms  p99 {lat.p99:6.1f} ms  {sum(r.errors.values())} errors"
                    + (f"; first: {r.sample}" if r.sample else "")
                )
    rps, p50, p99 = percentiles(measured)
    b_rps, b_p50, b_p99 = percentiles(base_rounds)
    errors = sum(sum(r.errors.values()) for r in measured + base_rounds)
    figure = Figure("track", "tracking a dossier", rps, p50, p99, b_rps, b_p50, b_p99, args.track_requests, errors)
    per_process = cpu_ms_per_request({}, cpu, sum(len(r.latencies) for r in measured))
    say(f"    tracking {cpu_line(per_process)}")
    figure.cpu_ms = per_process["total"]
    figure.baseline_cpu_ms = cpu_ms_per_request({}, base_cpu, sum(len(r.latencies) for r in base_rounds))["total"]
    return figure


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_queue.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    q = QUICK  # BENCH_QUICK=1: a smoke run of the harness, seconds instead of minutes
    parser.add_argument("--dossiers", type=int, default=20_000 if q else 1_000_000, help="dossiers seeded (1,000,000)")
    parser.add_argument("--open", type=int, default=2_000 if q else 100_000, help="of which open (100,000)")
    parser.add_argument("--communes", type=int, default=20 if q else 150, help="commune units (default 150)")
    parser.add_argument("--requests", type=int, default=20 if q else 300, help="requests per round and query (300)")
    parser.add_argument("--rounds", type=int, default=1 if q else 2, help="measured rounds per query (default 2)")
    parser.add_argument("--warmup", type=int, default=5 if q else 50, help="warm-up requests per query (default 50)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--depth", type=int, default=3 if q else 200, help="pages of 100 walked for deep cursors (200)")
    parser.add_argument(
        "--track-requests", type=int, default=30 if q else 600, help="tracking requests per round (600)"
    )
    parser.add_argument("--track-rounds", type=int, default=1 if q else 3, help="tracking rounds (3; 0: not measured)")
    parser.add_argument("--track-concurrency", type=int, default=16, help="tracking requests in flight (default 16)")
    parser.add_argument("--reseed", action="store_true", help="seed again even if a finished seed can be reused")
    parser.add_argument(
        "--only",
        nargs="*",
        default=["unit_first", "roles_deep", "me_dossiers_first"] if q else [],
        help="only the queries whose name contains one of these",
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    for name in ("dossiers", "requests", "rounds", "concurrency", "communes", "depth", "track_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.track_rounds < 0 or args.track_requests < 1:
        parser.error("--track-rounds must be 0 or more and --track-requests at least 1")
    if not 0 < args.open <= args.dossiers:
        parser.error("--open must be between 1 and --dossiers")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run_benchmark(bench, parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
