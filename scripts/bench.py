"""Benchmark dossier submission through the gateway against the same request straight to intake.

``make bench`` (or ``uv run --frozen python scripts/bench.py --help``). The script starts its own
citizen-id, intake and gateway as uvicorn processes on free loopback ports, with databases
(``bench_intake``, ``bench_citizen_id``, ``bench_gateway``) and topics (``test.bench.*``) of their own, so the data
of ``make run`` is untouched. It warms both targets up, then alternates rounds (gateway, direct,
gateway, direct…) so that drift on a shared machine hits both equally: only the comparison within one
run means something. Results are printed and appended to ``docs/benchmarks.md``.
"""

import argparse
import asyncio
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from citizen_id.oidc import hash_secret
from citizen_id.seed import seed
from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
from intake.main import MIGRATIONS as INTAKE_MIGRATIONS
from intake.settings import Settings as IntakeSettings
from intake.versions import load_catalogue
from motcua_common.db import migrate
from motcua_common.oidc_client import login
from motcua_common.settings import ServiceSettings
from motcua_common.testing import create_topics, recreate_databases

ROOT = Path(__file__).resolve().parent.parent
DATABASES = {"intake": "bench_intake", "citizen-id": "bench_citizen_id", "gateway": "bench_gateway"}
# Under the `test.` prefix, which the local broker's development ACLs open to the services' own Kafka users.
TOPIC = "test.bench.dossier.events"
DLQ_TOPIC = f"{TOPIC}.dlq"
PERSONAL_TOPIC = "test.bench.personal.events"
PERSONAL_DLQ = f"{PERSONAL_TOPIC}.dlq"
CATALOGUE_TOPIC = "test.bench.catalogue.events"
BENCH_PASSWORD = "bench-password"
PROCEDURE = "1.004873"
COMPONENT = "TK-XNHN"
CITIZENS = 10_000
APPLICANT_POOL = 100  # citizens who log in (PKCE) and submit for themselves
READY_TIMEOUT = 90.0
TARGETS = {"gateway": "gateway → intake", "direct": "intake direct"}

PREAMBLE = """# Benchmarks

Each section below was appended by one run of `make bench` (`scripts/bench.py`).

**What is measured.** Dossier submission, `POST /api/v1/dossiers`, sent through the gateway and the same
request sent straight to intake, in the same run. The difference is what the gateway costs: one more
HTTP hop and process, header filtering, its own request id, tracing and metrics. Every submission is a
complete intake by a logged-in citizen for themself: the citizen's access token verified by the gateway (when
sent through it) and again by intake, validation against the procedure (`1.004873`, marital status
confirmation), an HTTP prefill call to citizen-id with intake's own service token and the citizen's token
(citizen-id verifies both, decides the mandate and writes the citizen's access log), the legal clock, and one
PostgreSQL transaction holding the dossier and its two outbox rows; the outbox relay publishes the
`dossier.submitted` and `dossier.contact` events to Kafka in the background. Since the identity work (issue 10)
the gateway also counts every request in its shared rate-limit table (one PostgreSQL statement).

**How.** The script starts citizen-id, intake and the gateway as separate uvicorn processes on free
loopback ports, on databases and topics of their own (`bench_intake`, `bench_citizen_id` with 10,000
seeded citizens, `bench_gateway`, dropped and recreated at every run; `test.bench.*` topics), so the data
of `make run` is untouched. Processing and notify are not started: a submission does not wait for them
(the gateway's unused processing and notify upstreams point at citizen-id only so that its `/readyz`,
which pings every upstream, can answer). An `httpx` load generator in the same script keeps a fixed
number of requests in flight (closed loop), each with a unique `Idempotency-Key` and the access token of one of
100 citizens who logged in through the gateway (authorization code + PKCE) before the rounds. After a warm-up
of both targets, rounds alternate gateway, direct, gateway,
direct… Throughput counts `201 Created` answers per second of wall time; latencies are those of the 201
answers; anything else is counted as an error. CPU time per process (each service, the Kafka broker, all
PostgreSQL processes) is read from `/proc/<pid>/stat` before and after each round and divided by the 201 answers.
Resident memory (VmRSS) is read from `/proc` after the last round.

**Why absolute numbers drift.** These are shared 2-vCPU machines: neighbours, CPU frequency and steal
time change from one run to the next, and the load generator, PostgreSQL and Kafka run on the same
cores as the services, so a faster client or a busier database moves every number. In a closed loop
throughput and latency are two views of the same thing (throughput ≈ concurrency / mean latency): the
req/s below is the capacity at that concurrency on that machine, not a ceiling. Compare the gateway
with the direct path **within one run** (the p50 difference and the throughput ratio), not figures
across runs.
"""


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- infrastructure -------------------------------------------------------------------------------


async def applicants_with_passwords(dsn: str, limit: int) -> list[str]:
    """``limit`` active adult citizens of the bench registry, given a password so they can log in like the demo
    citizens (only in the bench's own database)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT personal_id FROM citizens WHERE status = 'active' AND date_of_birth < DATE '2000-01-01'"
            " ORDER BY personal_id LIMIT $1",
            limit,
        )
        ids = [r["personal_id"] for r in rows]
        await conn.execute(
            "INSERT INTO citizen_credentials (personal_id, password_hash) SELECT unnest($1::text[]), $2"
            " ON CONFLICT (personal_id) DO NOTHING",
            ids,
            await hash_secret(BENCH_PASSWORD),
        )
    finally:
        await conn.close()
    return ids


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    log: Path


def start_service(name: str, module: str, port: int, env: dict[str, str], log_dir: Path) -> Service:
    """Run the server itself (the venv's interpreter, not the ``uv`` wrapper), so its pid is the server's."""
    log = log_dir / f"{name}.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        # A session of its own: Ctrl-C reaches only this script, which then stops the servers in order.
        process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Service(name, f"http://127.0.0.1:{port}", process, log)


def stop_services(services: list[Service]) -> None:
    for svc in reversed(services):
        if svc.process.poll() is None:
            svc.process.terminate()
    for svc in reversed(services):
        try:
            svc.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            svc.process.kill()
            svc.process.wait(timeout=5)


def log_tail(svc: Service, lines: int = 20) -> str:
    text = svc.log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("      " + line for line in text[-lines:])


async def wait_ready(svc: Service) -> float:
    started = time.perf_counter()
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        while time.perf_counter() - started < READY_TIMEOUT:
            if svc.process.poll() is not None:
                raise RuntimeError(
                    f"{svc.name} exited with code {svc.process.returncode}; its log ({svc.log}):\n{log_tail(svc)}"
                )
            try:
                resp = await client.get(f"{svc.url}/readyz")
                if resp.status_code == 200:
                    return time.perf_counter() - started
                last = f"{resp.status_code} {resp.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.2)
    raise RuntimeError(
        f"{svc.name} not ready after {READY_TIMEOUT:.0f}s ({last}); its log ({svc.log}):\n{log_tail(svc)}"
    )


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and of its reaped children) from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime


def process_groups(services: list["Service"]) -> dict[str, list[int]]:
    """The processes whose CPU a round is charged with: each service, the Kafka broker, and every PostgreSQL
    process (backends come and go, so they are summed by name at each reading)."""
    groups = {svc.name: [svc.process.pid] for svc in services}
    groups["kafka"] = [int(p) for p in (ROOT / ".run" / "kafka" / "kafka.pid").read_text().split()[:1]]
    return groups


def postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "postgres":
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    snap = {name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()}
    snap["postgresql"] = sum(cpu_seconds(p) for p in postgres_pids())
    return snap


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- load -----------------------------------------------------------------------------------------


@dataclass
class RoundResult:
    target: str
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the round


def make_requests(count: int, tokens: list[dict[str, str]], rng: random.Random) -> list[tuple[dict, dict]]:
    """Bodies and headers built before the clock starts, so the generator spends less CPU in the round. Each
    request is a citizen submitting for themself with their own access token."""
    return [
        (
            {
                "procedure_code": PROCEDURE,
                "channel": "online",
                "components": [{"code": COMPONENT, "file_name": "to-khai.pdf"}],
            },
            {**rng.choice(tokens), "Idempotency-Key": str(uuid.uuid4())},
        )
        for _ in range(count)
    ]


async def run_round(
    client: httpx.AsyncClient,
    target: str,
    count: int,
    concurrency: int,
    tokens: list[dict[str, str]],
    rng: random.Random,
) -> RoundResult:
    requests = iter(make_requests(count, tokens, rng))
    result = RoundResult(target, 0.0)

    async def worker() -> None:
        for body, headers in requests:  # one shared iterator: each request is sent exactly once
            started = time.perf_counter()
            try:
                resp = await client.post("/api/v1/dossiers", json=body, headers=headers)
                status = str(resp.status_code)
                detail = resp.text[:200]
            except httpx.HTTPError as exc:
                status, detail = type(exc).__name__, repr(exc)[:200]
            elapsed = time.perf_counter() - started
            if status == "201":
                result.latencies.append(elapsed)
            else:
                result.errors[status] += 1
                result.samples.setdefault(status, detail)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class Summary:
    target: str
    requests: int
    ok: int
    errors: Counter
    rps: float
    p50: float
    p90: float
    p99: float
    round_rps: list[float]


def summarize(target: str, rounds: list[RoundResult]) -> Summary:
    latencies = sorted(x * 1000 for r in rounds for x in r.latencies)
    errors: Counter = Counter()
    for r in rounds:
        errors.update(r.errors)
    ok = len(latencies)
    if ok >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p90, p99 = cuts[49], cuts[89], cuts[98]
    else:
        p50 = p90 = p99 = latencies[0] if latencies else float("nan")
    elapsed = sum(r.elapsed for r in rounds)
    return Summary(
        target=target,
        requests=ok + sum(errors.values()),
        ok=ok,
        errors=errors,
        rps=ok / elapsed if elapsed else 0.0,
        p50=p50,
        p90=p90,
        p99=p99,
        round_rps=[len(r.latencies) / r.elapsed for r in rounds],
    )


def cpu_per_request_table(rounds: dict[str, list[RoundResult]]) -> str:
    """CPU milliseconds per successful submission, per process, over all measured rounds of each target."""
    names: list[str] = []
    for rs in rounds.values():
        for r in rs:
            names += [n for n in r.cpu if n not in names]
    lines = [
        "| CPU ms per submission | " + " | ".join(names) + " | all |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for target, rs in rounds.items():
        ok = sum(len(r.latencies) for r in rs) or 1
        per = {n: sum(r.cpu.get(n, 0.0) for r in rs) * 1000 / ok for n in names}
        cells = " | ".join(f"{per[n]:.1f}" for n in names)
        lines.append(f"| {TARGETS[target]} | {cells} | {sum(per.values()):.1f} |")
    return "\n".join(lines)


def round_line(label: str, r: RoundResult) -> str:
    lat = sorted(x * 1000 for x in r.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    errs = sum(r.errors.values())
    return (
        f"    {label:<9} {TARGETS[r.target]:<17} {len(r.latencies) + errs:>6} requests  "
        f"{errs} errors  {len(r.latencies) / r.elapsed:8.1f} req/s  p50 {p50:7.1f} ms  ({r.elapsed:.1f}s)"
    )


# --- report ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpus": str(len(os.sched_getaffinity(0))),
        "model": model,
        "memory": mem,
        "python": platform.python_version(),
        "kernel": f"{platform.system()} {platform.release()}",
    }


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def command_line(argv: list[str]) -> str:
    if not argv and os.environ.get("MAKELEVEL"):
        return "make bench"
    return " ".join(["uv run --frozen python scripts/bench.py", *map(shlex.quote, argv)])


def fmt_errors(errors: Counter) -> str:
    return ", ".join(f"{n}× {status}" for status, n in sorted(errors.items())) or "0"


def results_table(summaries: list[Summary]) -> str:
    rows = [
        "| target | requests | errors | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | req/s per round |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        rows.append(
            f"| {TARGETS[s.target]} | {s.requests:,} | {fmt_errors(s.errors)} | {s.rps:.1f} | {s.p50:.1f} | "
            f"{s.p90:.1f} | {s.p99:.1f} | {' / '.join(f'{x:.1f}' for x in s.round_rps)} |"
        )
    return "\n".join(rows)


def overhead_lines(gw: Summary, direct: Summary) -> list[str]:
    ratio = gw.rps / direct.rps if direct.rps else float("nan")
    return [
        f"p50 {gw.p50 - direct.p50:+.1f} ms ({(gw.p50 / direct.p50 - 1) * 100:+.0f}%), "
        f"p90 {gw.p90 - direct.p90:+.1f} ms, p99 {gw.p99 - direct.p99:+.1f} ms",
        f"throughput ratio gateway / direct = {ratio:.2f} ({(ratio - 1) * 100:+.0f}%)",
    ]


def markdown_section(
    args: argparse.Namespace,
    argv: list[str],
    summaries: list[Summary],
    memory: dict[str, float | None],
    started_at: datetime,
    duration: float,
) -> str:
    m = machine()
    gw, direct = summaries
    mem = ", ".join(f"{name} {v:.0f} MiB" if v is not None else f"{name} n/a" for name, v in memory.items())
    lines = [
        f"## {started_at:%Y-%m-%d %H:%M %Z}: submissions through the gateway vs straight to intake",
        "",
        f"- Command: `{command_line(argv)}` (the whole run took {duration:.0f}s)",
        f"- Code: commit {git_revision()}",
        f"- Machine: {m['cpus']} CPUs ({m['model']}), {m['memory']} RAM, {m['kernel']}, Python {m['python']}; "
        f"the load generator, PostgreSQL and Kafka share the {m['cpus']} cores with the services",
        f"- Parameters: {args.rounds} rounds of {args.requests:,} requests per target, alternating gateway/direct, "
        f"after {args.warmup} warm-up requests per target; concurrency {args.concurrency}; "
        f"procedure `{PROCEDURE}`; applicants drawn from {APPLICANT_POOL} of {CITIZENS:,} seeded citizens",
        "",
        results_table(summaries),
        "",
        f"- Gateway overhead: {'; '.join(overhead_lines(gw, direct))}",
        f"- Resident memory after the run (VmRSS): {mem}",
    ]
    errors = gw.errors + direct.errors
    if errors:
        lines.append(f"- **Errors occurred** ({fmt_errors(errors)}): the figures above are not trustworthy")
    return "\n".join(lines) + "\n"


def append_markdown(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    with path.open("a", encoding="utf-8") as out:
        if not existing.strip():
            out.write(PREAMBLE)
        elif not existing.endswith("\n"):
            out.write("\n")
        out.write("\n" + section)


# --- main -----------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, argv: list[str], services: list[Service]) -> int:
    wall = time.perf_counter()
    started_at = datetime.now().astimezone()
    base = ServiceSettings()
    dsn = {k: base.model_copy(update={"database": db}).dsn for k, db in DATABASES.items()}

    say(f"==> Databases {', '.join(DATABASES.values())}: drop and recreate")
    await recreate_databases(base, DATABASES.values())
    await migrate(dsn["intake"], INTAKE_MIGRATIONS)  # services only check their schema at start
    await load_catalogue(dsn["intake"], topic=CATALOGUE_TOPIC, directory=IntakeSettings().catalogue_dir)
    await migrate(dsn["gateway"], GATEWAY_MIGRATIONS)
    t = time.perf_counter()
    say(f"==> Seeding {CITIZENS:,} citizens into {DATABASES['citizen-id']}")
    await seed(dsn["citizen-id"], CITIZENS, verbose=False)
    personal_ids = await applicants_with_passwords(dsn["citizen-id"], APPLICANT_POOL)
    say(f"    done in {time.perf_counter() - t:.1f}s; {len(personal_ids)} applicants with a password")
    say(f"==> Topics {TOPIC}, {PERSONAL_TOPIC} and their DLQs (created if missing)")
    await create_topics(base.kafka_bootstrap, TOPIC, DLQ_TOPIC, PERSONAL_TOPIC, PERSONAL_DLQ, CATALOGUE_TOPIC)

    log_dir = Path(tempfile.mkdtemp(prefix="motcua-bench-"))
    ports = {name: free_port() for name in ("citizen-id", "intake", "gateway")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    topics = {
        "MOTCUA_DOSSIER_TOPIC": TOPIC,
        "MOTCUA_DLQ_TOPIC": DLQ_TOPIC,
        "MOTCUA_PERSONAL_TOPIC": PERSONAL_TOPIC,
        "MOTCUA_CATALOGUE_TOPIC": CATALOGUE_TOPIC,
        # tokens name the bench gateway as issuer; every service fetches the keys from the bench citizen-id
        "MOTCUA_ISSUER": url["gateway"],
        "MOTCUA_JWKS_URL": f"{url['citizen-id']}/oauth/jwks",
        "MOTCUA_TOKEN_URL": f"{url['citizen-id']}/oauth/token",
    }
    plan = [
        ("citizen-id", "citizen_id", {"CITIZEN_ID_DATABASE": DATABASES["citizen-id"], **topics}),
        (
            "intake",
            "intake",
            {"INTAKE_DATABASE": DATABASES["intake"], "INTAKE_CITIZEN_ID_URL": url["citizen-id"], **topics},
        ),
        (
            "gateway",
            "gateway",
            {
                "GATEWAY_INTAKE_URL": url["intake"],
                "GATEWAY_CITIZEN_ID_URL": url["citizen-id"],
                # Not started: the gateway only needs a live /healthz there for its readiness check.
                "GATEWAY_PROCESSING_URL": url["citizen-id"],
                "GATEWAY_NOTIFY_URL": url["citizen-id"],
                "GATEWAY_DATABASE": DATABASES["gateway"],
                # the load comes from one address and 100 citizens: limits far above it (they are not measured)
                **{
                    f"GATEWAY_RATE_{k}_PER_MINUTE": "100000000"
                    for k in ("CITIZEN", "OFFICER", "CLIENT", "ANONYMOUS", "LOGIN", "PUBLIC_LOOKUP")
                },
                **topics,
            },
        ),
    ]
    say(f"==> Starting {', '.join(f'{n} :{ports[n]}' for n, _, _ in plan)} (logs in {log_dir})")
    for name, module, env in plan:
        services.append(start_service(name, module, ports[name], env, log_dir))
    for svc in services:
        say(f"    {svc.name:<10} ready in {await wait_ready(svc):.1f}s (pid {svc.process.pid})")

    t = time.perf_counter()
    async with httpx.AsyncClient(base_url=url["gateway"], timeout=30, trust_env=False) as api:
        tokens = [(await login(api, pid, BENCH_PASSWORD)).headers for pid in personal_ids]
    say(f"==> {len(tokens)} citizens logged in (authorization code + PKCE) in {time.perf_counter() - t:.1f}s")

    rng = random.Random(20250701)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(base_url=url["gateway"], limits=limits, timeout=timeout, trust_env=False) as via_gateway,
        httpx.AsyncClient(base_url=url["intake"], limits=limits, timeout=timeout, trust_env=False) as direct,
    ):
        clients = {"gateway": via_gateway, "direct": direct}
        say(f"==> Warm-up: {args.warmup} requests to each target, concurrency {args.concurrency}")
        for target, client in clients.items():
            warm = await run_round(client, target, args.warmup, args.concurrency, tokens, rng)
            say(round_line("warm-up", warm))
            if warm.errors:
                raise RuntimeError(f"warm-up of {target} failed: {fmt_errors(warm.errors)}; e.g. {warm.samples}")

        say(
            f"==> Measuring: {args.rounds} rounds x {args.requests:,} requests per target, "
            f"concurrency {args.concurrency}, alternating"
        )
        rounds: dict[str, list[RoundResult]] = {"gateway": [], "direct": []}
        groups = process_groups(services)
        for i in range(1, args.rounds + 1):
            for target, client in clients.items():
                before = cpu_snapshot(groups)
                result = await run_round(client, target, args.requests, args.concurrency, tokens, rng)
                after = cpu_snapshot(groups)
                # PostgreSQL backends that ended during the round lose their time: a lower bound for it
                result.cpu = {k: max(after[k] - before.get(k, 0.0), 0.0) for k in after}
                rounds[target].append(result)
                say(round_line(f"round {i}/{args.rounds}", result))
                for status, sample in result.samples.items():
                    say(f"      first {status} answer: {sample}")

    memory = {svc.name: rss_mib(svc.process.pid) for svc in services}
    summaries = [summarize(target, rounds[target]) for target in ("gateway", "direct")]
    cpu_table = cpu_per_request_table(rounds)
    duration = time.perf_counter() - wall
    section = markdown_section(args, argv, summaries, memory, started_at, duration) + "\n" + cpu_table + "\n"

    say("\n==> Results\n")
    say(results_table(summaries))
    say("")
    say(cpu_table)
    say("")
    for line in overhead_lines(*summaries):
        say(f"    gateway overhead: {line}")
    say("    resident memory (VmRSS): " + ", ".join(f"{n} {v:.0f} MiB" for n, v in memory.items() if v is not None))
    if args.output is not None:
        append_markdown(args.output, section)
        say(f"\n==> Appended to {args.output}")
    total_errors = sum(sum(s.errors.values()) for s in summaries)
    if total_errors:
        say(f"==> {total_errors} request(s) failed: see the error counts above")
    return 1 if total_errors else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per round and target (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per target (default 3)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests per target (default 100)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "rounds", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--output FILE`` (default docs/benchmarks.md) or ``--no-write``: where a run's section goes."""
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--output",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="markdown file the results are appended to (default docs/benchmarks.md)",
    )
    out.add_argument("--no-write", dest="output", action="store_const", const=None, help="only print the results")


def run_benchmark(
    run: Callable[[argparse.Namespace, list[str], list[Service]], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
    argv: list[str],
) -> int:
    """Run a benchmark that starts servers into ``services``; stop them whatever happens (Ctrl-C and ``kill``
    included), keeping their logs when the run failed."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the servers like Ctrl-C does
    services: list[Service] = []
    code = 1
    try:
        code = asyncio.run(run(args, argv, services))
    except KeyboardInterrupt:
        say("\n==> Interrupted")
        code = 130
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:
        say(f"\n==> Benchmark failed: {exc}")
    finally:
        if services:
            say("==> Stopping " + ", ".join(svc.name for svc in reversed(services)))
            stop_services(services)
            if code == 0:
                shutil.rmtree(services[0].log.parent, ignore_errors=True)
            else:
                say(f"    server logs kept in {services[0].log.parent}")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run_benchmark(bench, parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
