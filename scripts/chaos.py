"""Chaos test: a bounded load through the gateway while every service, Kafka and PostgreSQL are killed in turn,
then a reconciliation of every acknowledged dossier across intake, processing, notify, the topics and the mailbox.

``make chaos`` (or ``uv run --frozen python scripts/chaos.py --help``). The run never touches the shared
infrastructure: it starts a PRIVATE PostgreSQL and Kafka from ``<repo>/.run/chaos`` (``MOTCUA_RUN_DIR``) on ports of
their own (55532, 59192/59193 by default), databases ``chaos_*`` and topics ``test.chaos<time>.*`` in them, and
citizen-id, intake, processing, notify, the gateway and an SMTP sink as subprocesses on free loopback ports. At the
end it stops everything it started, the private PostgreSQL and Kafka included (their data stays in
``.run/chaos`` for a post-mortem; ``--keep`` leaves them running).

Faults, one after the other while the load runs: ``kill -9`` and restart of each service, ``SIGKILL`` of the Kafka
broker and restart, ``pg_ctl -m immediate`` stop of PostgreSQL and restart. For each fault the time from the kill
to "healthy again" is measured: every ``/readyz`` answers 200 and the pipeline caught up (every outbox row written
before the restart is published, every dossier stored before it has a case in processing and its in-app
notification, notify has handled every event written before it, no e-mail due before it is still pending).

Exit status 0 only when nothing acknowledged is lost and nothing is duplicated.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run" / "chaos"
PROCEDURE = "1.004873"
COMPONENT = "TK-XNHN"
CITIZEN_PASSWORD = "chaos-password"
OFFICER_PASSWORD = "demo1234"
DATABASES = {
    "intake": "chaos_intake",
    "processing": "chaos_processing",
    "notify": "chaos_notify",
    "citizen-id": "chaos_citizen_id",
    "gateway": "chaos_gateway",
}
SERVICE_MODULES = {
    "citizen-id": "citizen_id",
    "intake": "intake",
    "processing": "processing",
    "notify": "notify",
    "gateway": "gateway",
}
PARTITIONS = 6
# PostgreSQL early: the slow recoveries (Kafka, consumer rebalances) come last, so every fault falls within the load
FAULTS = ["citizen-id", "intake", "postgresql", "processing", "notify", "gateway", "kafka"]

EVENT_PREFIX = "vn.motcua.dossier."
SUBMITTED = "vn.motcua.dossier.submitted.v2"
CONTACT = "vn.motcua.dossier.contact.v1"
RESULT_ISSUED = "vn.motcua.dossier.result_issued.v1"
# The officer path of 1.004873 as shipped (POST …/actions): (action kind, officer, body, the status it leads to,
# the step it completes, the event it publishes)
OFFICER_PATH = [
    ("receive", "hoa.tiepnhan", {"note": "chaos"}, "processing", "receive", "vn.motcua.dossier.accepted.v1"),
    ("forward", "lan.chuyenvien", {}, "processing", "appraise", "vn.motcua.dossier.step_forwarded.v1"),
    ("approve", "tuan.lanhdao", {}, "approved", "approve", "vn.motcua.dossier.approved.v1"),
    ("issue_result", "lan.chuyenvien", {}, "result_issued", "issue", RESULT_ISSUED),
    (
        "return_result",
        "hoa.tiepnhan",
        {"return_method": "online"},
        "completed",
        "return",
        "vn.motcua.dossier.result_returned.v1",
    ),
]
ACTION_STEP = {a: step for a, _, _, _, step, _ in OFFICER_PATH}
ACTION_EVENT = {a: ev for a, _, _, _, _, ev in OFFICER_PATH}
STATUS_ORDER = ["submitted", "processing", "approved", "result_issued", "completed"]
RETRY_STATUSES = {401, 408, 425, 429, 500, 502, 503, 504}


def say(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- reconciliation (pure: plain data in, a report out; tests/chaos/test_reconcile.py) --------------------------


@dataclass
class Report:
    acknowledged: int = 0
    actions_acknowledged: int = 0
    lost: Counter = field(default_factory=Counter)
    duplicated: Counter = field(default_factory=Counter)
    info: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def _note(self, counter: Counter, kind: str, example: str) -> None:
        counter[kind] += 1
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(example)

    def lose(self, kind: str, example: str) -> None:
        self._note(self.lost, kind, example)

    def duplicate(self, kind: str, example: str, extra: int = 1) -> None:
        self._note(self.duplicated, kind, example)
        self.duplicated[kind] += extra - 1

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def total_duplicated(self) -> int:
        return sum(self.duplicated.values())


def _groups(rows: Iterable[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def reconcile(
    *,
    acks: list[dict],
    actions: list[dict],
    intake_dossiers: list[dict],
    intake_results: list[dict],
    dossier_events: list[dict],
    personal_events: list[dict],
    cases: list[dict],
    steps: list[dict],
    notifications: list[dict],
    mails: list[dict],
) -> Report:
    """Check every acknowledged submission and officer action against every store.

    ``acks``: {key, submitter, dossier_id, code} per 2xx the load generator got for a submission.
    ``actions``: {dossier_id, action} per officer action acknowledged (2xx) or verified done after a retry.
    ``intake_dossiers``: {id, code, idempotency_key, submitter, email}; ``intake_results``: {dossier_id}.
    ``dossier_events``/``personal_events``: one per Kafka record: {id, type, dossier_id}.
    ``cases``: {id, status}; ``steps``: {dossier_id, step, completed}; ``notifications``: {id, dossier_id,
    event_id, event_type, channel, status}; ``mails``: {message_id (the notification id), event_id}.
    Ids are compared as strings."""
    r = Report()
    by_id = _groups(intake_dossiers, "id")
    topic_by_dossier = _groups(dossier_events, "dossier_id", "type")
    personal_by_dossier = _groups(personal_events, "dossier_id", "type")
    case_by_id = _groups(cases, "id")
    steps_by = _groups(steps, "dossier_id", "step")
    notes_by = _groups(notifications, "dossier_id", "event_type", "channel")
    mails_by_message = _groups(mails, "message_id")
    results_by = _groups(intake_results, "dossier_id")

    # --- duplicates, over everything the stores hold
    for (_submitter, key), answers in _groups(acks, "submitter", "key").items():
        distinct = {a["dossier_id"] for a in answers}
        if len(distinct) > 1:
            r.duplicate(
                "dossiers for one idempotency key (answers)", f"key {key}: {sorted(distinct)}", len(distinct) - 1
            )
    for (_submitter, key), rows in _groups(intake_dossiers, "submitter", "idempotency_key").items():
        if key is not None and len(rows) > 1:
            r.duplicate(
                "dossiers for one idempotency key (intake)", f"key {key}: {[x['code'] for x in rows]}", len(rows) - 1
            )
    for (cid,), rows in case_by_id.items():
        if len(rows) > 1:
            r.duplicate("cases for one dossier", cid, len(rows) - 1)
    for (did, etype), recs in topic_by_dossier.items():
        ids = {x["id"] for x in recs}
        if len(ids) > 1:
            r.duplicate(f"events of one kind for one dossier ({etype.removeprefix(EVENT_PREFIX)})", did, len(ids) - 1)
        if len(recs) > len(ids):
            r.info["records republished with the same event id (absorbed by the inboxes)"] += len(recs) - len(ids)
    for (did, _etype), recs in personal_by_dossier.items():
        ids = {x["id"] for x in recs}
        if len(ids) > 1:
            r.duplicate("contact events for one dossier", did, len(ids) - 1)
        if len(recs) > len(ids):
            r.info["records republished with the same event id (absorbed by the inboxes)"] += len(recs) - len(ids)
    for (eid, channel), rows in _groups(notifications, "event_id", "channel").items():
        if len(rows) > 1:
            r.duplicate("notifications for one (event, channel)", f"{eid}/{channel}", len(rows) - 1)
    for (did, etype, channel), rows in notes_by.items():
        if len({x["event_id"] for x in rows}) > 1:
            r.duplicate(
                "notifications for one (dossier, event kind, channel)", f"{did} {etype} {channel}", len(rows) - 1
            )
    for (mid,), rows in mails_by_message.items():
        if len(rows) > 1:
            r.duplicate("e-mails for one notification", mid, len(rows) - 1)
    for (did, step), rows in steps_by.items():
        if len(rows) > 1:
            r.duplicate("steps applied twice", f"{did} {step}", len(rows) - 1)
    for (did,), rows in results_by.items():
        if len(rows) > 1:
            r.duplicate("result documents for one dossier", did, len(rows) - 1)

    # --- losses, per acknowledged dossier and action
    acked_ids = {a["dossier_id"]: a for a in acks}
    r.acknowledged = len(acked_ids)
    done_actions: dict[str, set[str]] = defaultdict(set)
    for a in actions:
        done_actions[a["dossier_id"]].add(a["action"])
    r.actions_acknowledged = sum(len(v) for k, v in done_actions.items() if k in acked_ids)
    for did, ack in acked_ids.items():
        label = f"{ack['code']} ({did})"
        rows = by_id.get((did,), [])
        if not rows:
            r.lose("intake dossier", label)
        email = bool(rows and rows[0].get("email"))
        if not personal_by_dossier.get((did, CONTACT)):
            r.lose("contact event on the personal topic", label)
        if not case_by_id.get((did,)):
            r.lose("processing case", label)
        expected = [SUBMITTED] + [ACTION_EVENT[a] for a, *_ in OFFICER_PATH if a in done_actions.get(did, set())]
        for action in done_actions.get(did, set()):
            step = [s for s in steps_by.get((did, ACTION_STEP[action]), []) if s["completed"]]
            if not step:
                r.lose(f"completed step of an acknowledged '{action}'", label)
        for etype in expected:
            short = etype.removeprefix(EVENT_PREFIX)
            if not topic_by_dossier.get((did, etype)):
                r.lose(f"{short} event on the topic", label)
            if not notes_by.get((did, etype, "app")):
                r.lose(f"in-app notification of {short}", label)
            if email:
                mails_due = notes_by.get((did, etype, "email"), [])
                if not mails_due:
                    r.lose(f"e-mail notification of {short}", label)
                for n in mails_due:
                    if not mails_by_message.get((n["id"],)):
                        r.lose(f"e-mail of {short} in the mailbox (notification {n['status']})", label)
        if RESULT_ISSUED in expected and not results_by.get((did,)):
            r.lose("result document in intake's vault", label)
    known = {d["id"] for d in intake_dossiers}
    r.info["cases of dossiers intake does not have"] = sum(1 for c in cases if c["id"] not in known)
    r.info["dossiers stored but never acknowledged (the client gave up)"] = len(known - set(acked_ids))
    return r


# --- infrastructure (private copy) ------------------------------------------------------------------------------


class Infra:
    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.env = {
            **os.environ,
            "MOTCUA_RUN_DIR": str(args.run_dir),
            "MOTCUA_PG_PORT": str(args.pg_port),
            "MOTCUA_KAFKA_PORT": str(args.kafka_port),
            "MOTCUA_KAFKA_CONTROLLER_PORT": str(args.kafka_controller_port),
        }
        self.bootstrap = f"127.0.0.1:{args.kafka_port}"

    def _script(self, *cmd: str) -> None:
        log = self.log_dir / "infra.log"
        with log.open("ab") as out:
            code = subprocess.run(
                ["bash", *cmd], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            ).returncode
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{tail}")

    def up(self) -> None:
        self._script("scripts/infra/up.sh")

    def down(self) -> None:
        self._script("scripts/infra/down.sh")

    def pg_start(self) -> None:
        self._script("scripts/infra/postgres.sh", "up")

    def kafka_start(self) -> None:
        self._script("scripts/infra/kafka.sh", "up")

    def pg_stop_immediate(self) -> None:
        data = self.args.run_dir / "pg" / "data"
        pg_ctl = shutil.which("pg_ctl")
        if pg_ctl is None or not (Path(pg_ctl).resolve().parent / "initdb").exists():
            pg_ctl = str(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))[-1])
        cmd = f"{pg_ctl} -D {data} -m immediate -w stop"
        full = ["su", "postgres", "-s", "/bin/sh", "-c", cmd] if os.geteuid() == 0 else ["sh", "-c", cmd]
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kafka_kill(self) -> None:
        pid = int((self.args.run_dir / "kafka" / "kafka.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if str(self.args.run_dir) not in cmdline:
            raise RuntimeError(f"pid {pid} is not the chaos run's broker: {cmdline[:200]}")
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)


@dataclass
class Service:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = f"{SERVICE_MODULES[self.name]}.main:create_app"
        cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(self.port),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with self.log.open("ab") as out:
            out.write(f"\n==== {now_utc().isoformat()} start\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    answers: Counter = field(default_factory=Counter)  # every answer (or exception) the clients saw
    acks: list[dict] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)
    refused_samples: dict[str, str] = field(default_factory=dict)
    actions: list[dict] = field(default_factory=list)
    action_outcomes: Counter = field(default_factory=Counter)
    action_problems: list[str] = field(default_factory=list)
    finished: int = 0
    load_done: bool = False


@dataclass
class Fault:
    name: str
    started: float
    restarted: float = 0.0
    healthy: float | None = None
    during_load: bool = True
    note: str = ""


class Chaos:
    def __init__(self, args: argparse.Namespace, log_dir: Path, infra: Infra):
        self.args, self.log_dir, self.infra = args, log_dir, infra
        self.run_id = f"chaos{int(time.time())}"
        self.topic = f"test.{self.run_id}.dossier.events"
        self.personal_topic = f"test.{self.run_id}.personal.events"
        self.catalogue_topic = f"test.{self.run_id}.catalogue.events"
        # processing's dossier-state topic (compacted in production; a plain one is enough here), named after the
        # dossier topic as processing derives it
        self.state_topic = f"test.{self.run_id}.dossier.state"
        self.portal_topic = f"test.{self.run_id}.portal.events"  # processing's reports to the national portal
        self.services: dict[str, Service] = {}
        self.stats = Stats()
        self.faults: list[Fault] = []
        self.rng = random.Random(args.seed)
        self.t0 = time.perf_counter()
        self.mail_dir = log_dir / "mail"
        self.sink: subprocess.Popen | None = None

    def dsn(self, service: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.args.pg_port}/{DATABASES[service]}"

    # --- set-up
    async def prepare(self) -> list[str]:
        import asyncpg

        from citizen_id.main import MIGRATIONS as CITIZEN_ID_MIGRATIONS
        from citizen_id.oidc import hash_secret
        from citizen_id.seed import seed
        from gateway.ratelimit import MIGRATIONS as GATEWAY_MIGRATIONS
        from intake.main import MIGRATIONS as INTAKE_MIGRATIONS
        from intake.settings import Settings as IntakeSettings
        from intake.versions import load_catalogue
        from motcua_common.db import migrate
        from motcua_common.settings import ServiceSettings
        from motcua_common.testing import create_topics, delete_topics, kafka_admin_settings, recreate_databases
        from notify.main import MIGRATIONS as NOTIFY_MIGRATIONS
        from processing.main import MIGRATIONS as PROCESSING_MIGRATIONS

        await recreate_databases(ServiceSettings(pg_port=self.args.pg_port), DATABASES.values())
        migrations = {
            "intake": INTAKE_MIGRATIONS,
            "processing": PROCESSING_MIGRATIONS,
            "notify": NOTIFY_MIGRATIONS,
            "citizen-id": CITIZEN_ID_MIGRATIONS,
            "gateway": GATEWAY_MIGRATIONS,
        }
        for service, directory in migrations.items():
            await migrate(self.dsn(service), directory)
        catalogue = IntakeSettings().catalogue_dir
        await load_catalogue(self.dsn("intake"), topic=self.catalogue_topic, directory=catalogue)
        say(f"==> Databases {', '.join(DATABASES.values())} recreated and migrated")
        await seed(self.dsn("citizen-id"), self.args.citizens, verbose=False)
        conn = await asyncpg.connect(self.dsn("citizen-id"))
        try:
            rows = await conn.fetch(
                "SELECT personal_id, email IS NOT NULL AS has_email FROM citizens"
                " WHERE status = 'active' AND date_of_birth < DATE '2000-01-01' ORDER BY personal_id LIMIT $1",
                self.args.pool,
            )
            ids = [r["personal_id"] for r in rows]
            await conn.execute(
                "INSERT INTO citizen_credentials (personal_id, password_hash) SELECT unnest($1::text[]), $2"
                " ON CONFLICT (personal_id) DO NOTHING",
                ids,
                await hash_secret(CITIZEN_PASSWORD),
            )
        finally:
            await conn.close()
        say(
            f"==> {self.args.citizens:,} citizens seeded; {len(ids)} of them log in "
            f"({sum(r['has_email'] for r in rows)} with an e-mail address)"
        )
        # Old chaos topics of this private broker go; this run's are new.
        from aiokafka.admin import AIOKafkaAdminClient  # noqa: F401  (imported for the admin client below)

        from motcua_common.kafka import make_admin

        client = make_admin(kafka_admin_settings(self.infra.bootstrap))
        await client.start()
        try:
            old = [t for t in await client.list_topics() if t.startswith("test.chaos")]
        finally:
            await client.close()
        if old:
            await delete_topics(self.infra.bootstrap, *old)
        names = [
            self.topic,
            f"{self.topic}.dlq",
            self.personal_topic,
            f"{self.personal_topic}.dlq",
            self.state_topic,
            self.portal_topic,
        ]
        names.append(self.catalogue_topic)
        await create_topics(self.infra.bootstrap, *names, partitions=PARTITIONS)
        say(f"==> Topics {self.topic}, {self.personal_topic} (+ .dlq), {self.state_topic}")
        return ids

    def start_services(self) -> None:
        ports = {name: free_port() for name in SERVICE_MODULES}
        url = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
        smtp_port = free_port()
        common = {
            "MOTCUA_PG_PORT": str(self.args.pg_port),
            "MOTCUA_KAFKA_BOOTSTRAP": self.infra.bootstrap,
            "MOTCUA_DOSSIER_TOPIC": self.topic,
            "MOTCUA_DLQ_TOPIC": f"{self.topic}.dlq",
            "MOTCUA_PERSONAL_TOPIC": self.personal_topic,
            "MOTCUA_CATALOGUE_TOPIC": self.catalogue_topic,
            "MOTCUA_CONSUMER_GROUP_PREFIX": f"test-{self.run_id}-",
            "MOTCUA_ISSUER": url["gateway"],
            "MOTCUA_JWKS_URL": f"{url['citizen-id']}/oauth/jwks",
            "MOTCUA_TOKEN_URL": f"{url['citizen-id']}/oauth/token",
        }
        env = {
            "citizen-id": {"CITIZEN_ID_DATABASE": DATABASES["citizen-id"], "CITIZEN_ID_ACCESS_TOKEN_TTL": "7200"},
            "intake": {"INTAKE_DATABASE": DATABASES["intake"], "INTAKE_CITIZEN_ID_URL": url["citizen-id"]},
            "processing": {"PROCESSING_DATABASE": DATABASES["processing"]},
            "notify": {"NOTIFY_DATABASE": DATABASES["notify"], "NOTIFY_SMTP_PORT": str(smtp_port)},
            "gateway": {
                "GATEWAY_DATABASE": DATABASES["gateway"],
                "GATEWAY_INTAKE_URL": url["intake"],
                "GATEWAY_PROCESSING_URL": url["processing"],
                "GATEWAY_CITIZEN_ID_URL": url["citizen-id"],
                "GATEWAY_NOTIFY_URL": url["notify"],
                # one address, a few hundred citizens: limits far above the load (rate limiting is not tested)
                **{
                    f"GATEWAY_RATE_{k}_PER_MINUTE": "100000000"
                    for k in ("CITIZEN", "OFFICER", "CLIENT", "ANONYMOUS", "LOGIN", "PUBLIC_LOOKUP")
                },
            },
        }
        with (self.log_dir / "mailsink.log").open("ab") as out:
            self.sink = subprocess.Popen(
                [sys.executable, "-m", "notify.mailsink", "--port", str(smtp_port), "--dir", str(self.mail_dir)],
                cwd=ROOT, env={**os.environ, **common}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        for name in SERVICE_MODULES:
            svc = Service(name, ports[name], {**common, **env[name]}, self.log_dir / f"{name}.log")
            svc.start()
            self.services[name] = svc
        say(
            "==> Started " + ", ".join(f"{n} :{s.port}" for n, s in self.services.items()) + f", SMTP sink :{smtp_port}"
        )

    def stop_all(self) -> None:
        for svc in reversed(list(self.services.values())):
            svc.stop()
        if self.sink is not None and self.sink.poll() is None:
            self.sink.terminate()
            try:
                self.sink.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sink.kill()

    # --- health
    async def all_ready(self, client: "httpx.AsyncClient") -> bool:
        import httpx

        for svc in self.services.values():
            try:
                if (await client.get(f"{svc.url}/readyz", timeout=3)).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True

    async def caught_up(self, cutoff: datetime) -> tuple[bool, str]:
        """True when everything written up to ``cutoff`` went all the way through the pipeline."""
        import asyncpg

        try:
            conns = {s: await asyncpg.connect(self.dsn(s), timeout=3) for s in ("intake", "processing", "notify")}
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return False, f"database: {type(exc).__name__}"
        try:
            i, p, n = conns["intake"], conns["processing"], conns["notify"]
            for name, conn in (("intake", i), ("processing", p)):
                left = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND created_at <= $1", cutoff
                )
                if left:
                    return False, f"{left} unpublished outbox rows in {name}"
            ids = [r["id"] for r in await i.fetch("SELECT id FROM dossiers WHERE submitted_at <= $1", cutoff)]
            # the events notify consumes: the dossier topic and the personal topic (not the dossier-state topic)
            mine = "SELECT id FROM outbox WHERE created_at <= $1 AND topic = ANY($2::text[])"
            topics = [self.topic, self.personal_topic]
            event_ids = [r["id"] for r in await i.fetch(mine, cutoff, topics)]
            event_ids += [r["id"] for r in await p.fetch(mine, cutoff, topics)]
            have = await p.fetchval("SELECT count(*) FROM dossiers WHERE id = ANY($1::uuid[])", ids)
            if have < len(ids):
                return False, f"{len(ids) - have} dossiers without a case"
            handled = await n.fetchval(
                "SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::text[])",
                [str(e) for e in event_ids],
            )
            if handled < len(event_ids):
                return False, f"{len(event_ids) - handled} events not handled by notify"
            due = await n.fetchval(
                "SELECT count(*) FROM notifications WHERE channel = 'email'"
                " AND status IN ('queued', 'sending', 'failed_temporary') AND created_at <= $1",
                cutoff,
            )
            if due:
                return False, f"{due} e-mails pending"
            return True, "caught up"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return False, f"database: {type(exc).__name__}"
        finally:
            for c in conns.values():
                await c.close()

    async def wait_healthy(self, cutoff: datetime, limit: float) -> tuple[float | None, str]:
        import httpx

        deadline = time.perf_counter() + limit
        last = "not checked"
        async with httpx.AsyncClient(trust_env=False) as client:
            while time.perf_counter() < deadline:
                for name, svc in self.services.items():
                    if svc.process is not None and svc.process.poll() is not None:
                        last = f"{name} exited ({svc.process.returncode}): restarted"
                        svc.start()
                if await self.all_ready(client):
                    ok, last = await self.caught_up(cutoff)
                    if ok:
                        return time.perf_counter(), last
                else:
                    last = "a /readyz is not 200"
                await asyncio.sleep(0.25)
        return None, last

    # --- faults
    async def inject(self, name: str) -> Fault:
        fault = Fault(name, time.perf_counter(), during_load=not self.stats.load_done)
        say(f"    [{self.elapsed():6.1f}s] fault: {name} ({'during load' if fault.during_load else 'after load'})")
        loop = asyncio.get_running_loop()
        if name in self.services:
            self.services[name].kill9()
            await asyncio.sleep(self.args.down)
            self.services[name].start()
        elif name == "kafka":
            await loop.run_in_executor(None, self.infra.kafka_kill)
            await asyncio.sleep(self.args.down)
            await loop.run_in_executor(None, self.infra.kafka_start)
        elif name == "postgresql":
            await loop.run_in_executor(None, self.infra.pg_stop_immediate)
            await asyncio.sleep(self.args.down)
            await loop.run_in_executor(None, self.infra.pg_start)
        fault.restarted = time.perf_counter()
        cutoff = now_utc()
        fault.healthy, fault.note = await self.wait_healthy(cutoff, self.args.recovery_timeout)
        if fault.healthy is None:
            say(f"    [{self.elapsed():6.1f}s]   NOT healthy after {self.args.recovery_timeout:.0f}s: {fault.note}")
        else:
            say(
                f"    [{self.elapsed():6.1f}s]   healthy {fault.healthy - fault.started:.1f}s after the kill "
                f"(restart took {fault.restarted - fault.started:.1f}s)"
            )
        return fault

    async def chaos_loop(self, total: int) -> None:
        faults = FAULTS if not self.args.faults else self.args.faults
        for i, name in enumerate(faults):
            threshold = (i + 1) * total / (len(faults) + 1)
            while self.stats.finished < threshold and not self.stats.load_done:  # noqa: ASYNC110 (a counter)
                await asyncio.sleep(0.2)
            self.faults.append(await self.inject(name))

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # --- load
    async def submit(self, api: "httpx.AsyncClient", headers: dict[str, str], submitter: str) -> dict | None:
        import httpx

        key = str(uuid.uuid4())
        body = {"procedure_code": PROCEDURE, "components": [{"code": COMPONENT, "file_name": "to-khai.pdf"}]}
        deadline = time.perf_counter() + self.args.request_deadline
        for attempt in range(1, self.args.max_attempts + 1):
            wait = min(0.2 * 2**attempt, 3.0) * (0.5 + self.rng.random())
            try:
                resp = await api.post("/api/v1/dossiers", json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.HTTPError as exc:
                self.stats.answers[type(exc).__name__] += 1
            else:
                self.stats.answers[str(resp.status_code)] += 1
                if resp.status_code in (200, 201):
                    data = resp.json()
                    return {"key": key, "submitter": submitter, "dossier_id": data["id"], "code": data["code"],
                            "attempts": attempt}  # fmt: skip
                if resp.status_code not in RETRY_STATUSES and resp.status_code != 409:
                    self.stats.refused[str(resp.status_code)] += 1
                    self.stats.refused_samples.setdefault(str(resp.status_code), resp.text[:300])
                    return None
                wait = max(wait, min(float(resp.headers.get("retry-after", "0") or 0), 5.0))
            if time.perf_counter() + wait > deadline:
                break
            await asyncio.sleep(wait)
        self.stats.gave_up.append(key)
        return None

    async def dossier_status(self, api: "httpx.AsyncClient", headers: dict[str, str], code: str) -> str | None:
        import httpx

        for _ in range(40):
            try:
                resp = await api.get(f"/api/v1/dossiers/{code}", headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if resp.status_code == 200:
                return resp.json()["status"]
            await asyncio.sleep(0.5)
        return None

    async def work_dossier(self, api: "httpx.AsyncClient", officers: dict[str, dict[str, str]], ack: dict) -> None:
        """Take one acknowledged dossier along the officer path, retrying as a careful client does."""
        import httpx

        code, reader = ack["code"], officers["hoa.tiepnhan"]
        deadline = time.perf_counter() + self.args.request_deadline * 2
        while await self.dossier_status(api, reader, code) is None:  # processing opens the case after the event
            if time.perf_counter() > deadline:
                self.stats.action_outcomes["case never visible"] += 1
                self.stats.action_problems.append(f"{code}: no case visible through the gateway")
                return
        for action, officer, body, target, _step, _event in OFFICER_PATH:
            uncertain = False  # an earlier attempt may have been applied without our hearing of it
            deadline = time.perf_counter() + self.args.request_deadline
            outcome = None
            # One key per action: a retry of an attempt that was applied unheard gets its answer again.
            key = {"Idempotency-Key": f"chaos-{code}-{action}"}
            for attempt in range(1, self.args.max_attempts + 1):
                try:
                    resp = await api.post(
                        f"/api/v1/dossiers/{code}/actions",
                        json={"action": action, **body},
                        headers={**officers[officer], **key},
                    )
                except httpx.HTTPError as exc:
                    self.stats.answers[f"action {type(exc).__name__}"] += 1
                    uncertain = True
                else:
                    status = resp.status_code
                    self.stats.answers[f"action {status}"] += 1
                    if status == 200:
                        outcome = "ok"
                        break
                    problem = resp.json().get("type", "") if "json" in resp.headers.get("content-type", "") else ""
                    if status == 409 and "invalid-transition" in problem:
                        now = await self.dossier_status(api, reader, code)
                        reached = now in STATUS_ORDER and STATUS_ORDER.index(now) >= STATUS_ORDER.index(target)
                        if uncertain and reached:
                            outcome = "already done"
                        else:
                            outcome = "invalid transition"
                            self.stats.action_problems.append(
                                f"{code} {action}: 409 invalid-transition (retry: {uncertain}, status now {now})"
                            )
                        break
                    if status >= 500 or status in (408, 429):
                        uncertain = True
                    elif status not in (401, 404, 409):  # 404: case not visible yet; 409: concurrent update
                        outcome = f"refused {status}"
                        self.stats.action_problems.append(f"{code} {action}: {status} {resp.text[:200]}")
                        break
                wait = min(0.2 * 2**attempt, 3.0) * (0.5 + self.rng.random())
                if time.perf_counter() + wait > deadline:
                    break
                await asyncio.sleep(wait)
            outcome = outcome or "gave up"
            self.stats.action_outcomes[outcome] += 1
            if outcome not in ("ok", "already done"):
                return
            self.stats.actions.append({"dossier_id": ack["dossier_id"], "action": action})

    async def load(self, gateway: str, personal_ids: list[str]) -> None:
        import httpx

        from motcua_common.oidc_client import login

        async with httpx.AsyncClient(base_url=gateway, timeout=30, trust_env=False) as api:
            tokens = [(pid, (await login(api, pid, CITIZEN_PASSWORD)).headers) for pid in personal_ids]
            officers = {
                u: (await login(api, u, OFFICER_PASSWORD, account="officer")).headers
                for u in ("hoa.tiepnhan", "tuan.lanhdao", "lan.chuyenvien")
            }
        say(f"==> {len(tokens)} citizens and {len(officers)} officers logged in (authorization code + PKCE)")

        total = self.args.submissions
        jobs = iter(range(total))
        queue: asyncio.Queue = asyncio.Queue()
        every = max(1, round(1 / self.args.officer_share)) if self.args.officer_share > 0 else 0
        stop_at = time.perf_counter() + self.args.max_duration
        limits = httpx.Limits(max_connections=self.args.concurrency + 8)
        timeout = httpx.Timeout(self.args.timeout)

        async with httpx.AsyncClient(base_url=gateway, limits=limits, timeout=timeout, trust_env=False) as api:

            async def submitter() -> None:
                for n in jobs:
                    if time.perf_counter() > stop_at:
                        break
                    pid, headers = tokens[n % len(tokens)]
                    ack = await self.submit(api, headers, pid)
                    self.stats.finished += 1
                    if ack is not None:
                        self.stats.acks.append(ack)
                        if every and n % every == 0:
                            queue.put_nowait(ack)
                    if self.stats.finished % 250 == 0:
                        say(f"    [{self.elapsed():6.1f}s] {self.stats.finished}/{total} submissions finished, "
                            f"{len(self.stats.acks)} acknowledged")  # fmt: skip

            async def officer() -> None:
                while True:
                    ack = await queue.get()
                    if ack is None:
                        return
                    if time.perf_counter() < stop_at:
                        await self.work_dossier(api, officers, ack)

            chaos = asyncio.create_task(self.chaos_loop(total))
            workers = [asyncio.create_task(officer()) for _ in range(self.args.officer_concurrency)]
            await asyncio.gather(*(submitter() for _ in range(self.args.concurrency)))
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers)
            self.stats.load_done = True
            say(f"    [{self.elapsed():6.1f}s] load finished")
            await chaos

    # --- final reading of every store
    async def read_topic(self, topic: str) -> list[dict]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from motcua_common.kafka import client_options
        from motcua_common.testing import kafka_admin_settings

        consumer = AIOKafkaConsumer(
            **client_options(kafka_admin_settings(self.infra.bootstrap)),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        out = []
        try:
            parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]  # created so by prepare()
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            end = await consumer.end_offsets(parts)
            while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000, max_records=1000)).values():
                    for rec in records:
                        ev = json.loads(rec.value)
                        out.append({"id": ev["id"], "type": ev["type"], "dossier_id": ev["data"].get("dossier_id")})
        finally:
            await consumer.stop()
        return out

    def read_mailbox(self) -> list[dict]:
        parser = BytesHeaderParser()
        mails = []
        for path in sorted((self.mail_dir / "new").glob("*.eml")):
            with path.open("rb") as f:
                h = parser.parse(f)
            mid = (h.get("Message-ID") or "").strip("<> ").split("@")[0]
            mails.append(
                {"message_id": mid, "event_id": h.get("X-Motcua-Event-Id"), "code": h.get("X-Motcua-Dossier-Code")}
            )
        return mails

    async def collect(self) -> dict:
        import asyncpg

        async def rows(service: str, sql: str) -> list[dict]:
            conn = await asyncpg.connect(self.dsn(service))
            try:
                return [
                    {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in r.items()}
                    for r in await conn.fetch(sql)
                ]
            finally:
                await conn.close()

        return {
            "intake_dossiers": await rows(
                "intake",
                "SELECT id, code, idempotency_key, submitter_subject AS submitter, applicant->>'email' AS email"
                " FROM dossiers",
            ),
            "intake_results": await rows(
                "intake", "SELECT dossier_id FROM documents WHERE kind = 'result' AND dossier_id IS NOT NULL"
            ),
            "cases": await rows("processing", "SELECT id, status FROM dossiers"),
            "steps": await rows(
                "processing", "SELECT dossier_id, step, completed_at IS NOT NULL AS completed FROM steps"
            ),
            "notifications": await rows(
                "notify", "SELECT id, dossier_id, event_id, event_type, channel, status FROM notifications"
            ),
            "dossier_events": await self.read_topic(self.topic),
            "personal_events": await self.read_topic(self.personal_topic),
            "mails": self.read_mailbox(),
        }


def submitter_subjects(acks: list[dict], intake: list[dict]) -> list[dict]:
    """Acks carry the personal id; intake keys dossiers by the submitter's subject: name them alike."""
    subject_of = {}
    by_id = {d["id"]: d for d in intake}
    for a in acks:
        if a["dossier_id"] in by_id:
            subject_of[a["submitter"]] = by_id[a["dossier_id"]]["submitter"]
    return [{**a, "submitter": subject_of.get(a["submitter"], a["submitter"])} for a in acks]


def print_report(chaos: Chaos, report: Report, duration: float) -> None:
    s = chaos.stats
    say("\n==> Chaos test results")
    say(f"    submissions: {chaos.args.submissions} sent, {report.acknowledged} acknowledged (2xx), "
        f"{len(s.gave_up)} gave up after retries, {sum(s.refused.values())} refused")  # fmt: skip
    for status, sample in s.refused_samples.items():
        say(f"      first refusal {status}: {sample}")
    say(f"    officer actions: {report.actions_acknowledged} acknowledged or verified done; outcomes: "
        + ", ".join(f"{k} {v}" for k, v in sorted(s.action_outcomes.items())))  # fmt: skip
    for p in s.action_problems[:10]:
        say(f"      {p}")
    say("    answers seen by the clients: " + ", ".join(f"{k}: {v}" for k, v in sorted(s.answers.items())))
    say(f"    LOST: {report.total_lost}")
    for kind, n in sorted(report.lost.items()):
        say(f"      {n:>5}  {kind}   e.g. {', '.join(report.examples[kind][:3])}")
    say(f"    DUPLICATED: {report.total_duplicated}")
    for kind, n in sorted(report.duplicated.items()):
        say(f"      {n:>5}  {kind}   e.g. {', '.join(report.examples[kind][:3])}")
    for kind, n in sorted(report.info.items()):
        say(f"    note: {n} {kind}")
    say("    faults (seconds from the kill to every /readyz 200 and the pipeline caught up):")
    for f in chaos.faults:
        rec = f"{f.healthy - f.started:6.1f}s" if f.healthy is not None else f"  not recovered ({f.note})"
        say(f"      {f.name:<11} {rec}   restart took {f.restarted - f.started:4.1f}s"
            f"{'' if f.during_load else '   (after the load had ended)'}")  # fmt: skip
    say(f"    total duration {duration:.0f}s; logs in {chaos.log_dir}")


async def run(args: argparse.Namespace, infra: Infra, chaos: Chaos) -> int:
    wall = time.perf_counter()
    say(f"==> Private infrastructure in {args.run_dir} (PostgreSQL :{args.pg_port}, Kafka :{args.kafka_port})")
    await asyncio.get_running_loop().run_in_executor(None, infra.up)
    personal_ids = await chaos.prepare()
    chaos.start_services()
    ready, note = await chaos.wait_healthy(now_utc(), 120)
    if ready is None:
        raise RuntimeError(f"services not ready: {note}")
    chaos.t0 = time.perf_counter()
    say(f"==> Load: {args.submissions} submissions, concurrency {args.concurrency}, officer path on "
        f"{args.officer_share:.0%} of them; faults: {', '.join(args.faults or FAULTS)}")  # fmt: skip
    await chaos.load(chaos.services["gateway"].url, personal_ids)
    say(f"==> Draining: waiting until everything written went through (up to {args.drain_timeout:.0f}s)")
    drained, note = await chaos.wait_healthy(now_utc(), args.drain_timeout)
    say(f"    {'drained' if drained else 'NOT drained: ' + note} at {chaos.elapsed():.1f}s")
    await asyncio.sleep(2)  # a last e-mail may be between the SMTP sink's rename and notify's commit
    (chaos.log_dir / "client.json").write_text(
        json.dumps({"acks": chaos.stats.acks, "actions": chaos.stats.actions, "gave_up": chaos.stats.gave_up})
    )
    stores = await chaos.collect()
    acks = submitter_subjects(chaos.stats.acks, stores["intake_dossiers"])
    report = reconcile(acks=acks, actions=chaos.stats.actions, **stores)
    print_report(chaos, report, time.perf_counter() - wall)
    failed = report.total_lost or report.total_duplicated or any(f.healthy is None for f in chaos.faults)
    return 1 if failed else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/chaos.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--submissions", type=int, default=2000, help="submissions to send (default 2000)")
    p.add_argument("--concurrency", type=int, default=12, help="submitting clients (default 12)")
    p.add_argument("--officer-share", type=float, default=0.25, help="share of dossiers officers work (0.25)")
    p.add_argument("--officer-concurrency", type=int, default=4, help="officer clients (default 4)")
    p.add_argument("--citizens", type=int, default=5000, help="citizens seeded in the registry (default 5000)")
    p.add_argument("--pool", type=int, default=100, help="citizens who log in and submit (default 100)")
    p.add_argument("--faults", nargs="*", choices=FAULTS, help="faults in order (default: all)")
    p.add_argument("--down", type=float, default=2.0, help="seconds a killed component stays down (default 2)")
    p.add_argument("--timeout", type=float, default=15.0, help="client timeout per request, seconds (15)")
    p.add_argument("--max-attempts", type=int, default=40, help="attempts per request (default 40)")
    p.add_argument("--request-deadline", type=float, default=120.0, help="seconds a client retries (120)")
    p.add_argument("--recovery-timeout", type=float, default=180.0, help="seconds to wait for health (180)")
    p.add_argument("--drain-timeout", type=float, default=180.0, help="seconds to wait at the end (180)")
    p.add_argument("--max-duration", type=float, default=1800.0, help="the load stops after this (1800 s)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--run-dir", type=Path, default=RUN_DIR, help="state of the private PostgreSQL and Kafka")
    p.add_argument("--pg-port", type=int, default=int(os.environ.get("CHAOS_PG_PORT", 55532)))
    p.add_argument("--kafka-port", type=int, default=int(os.environ.get("CHAOS_KAFKA_PORT", 59192)))
    p.add_argument(
        "--kafka-controller-port", type=int, default=int(os.environ.get("CHAOS_KAFKA_CONTROLLER_PORT", 59193))
    )
    p.add_argument("--keep", action="store_true", help="leave the private PostgreSQL and Kafka running")
    args = p.parse_args(argv)
    args.run_dir = args.run_dir.resolve()
    shared = {int(os.environ.get("MOTCUA_PG_PORT", 55432)), int(os.environ.get("MOTCUA_KAFKA_PORT", 59092))}
    if args.pg_port in shared or args.kafka_port in shared or args.run_dir == (ROOT / ".run").resolve():
        p.error("the chaos run needs infrastructure of its own: other ports and another state directory")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The harness's own clients (migrations, seeding, Kafka admin) talk to the private copy only.
    os.environ.update({"MOTCUA_PG_PORT": str(args.pg_port), "MOTCUA_KAFKA_BOOTSTRAP": f"127.0.0.1:{args.kafka_port}"})
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log_dir = Path(tempfile.mkdtemp(prefix="motcua-chaos-"))
    infra = Infra(args, log_dir)
    chaos = Chaos(args, log_dir, infra)
    code = 1
    try:
        code = asyncio.run(run(args, infra, chaos))
    except KeyboardInterrupt:
        say("\n==> Interrupted")
        code = 130
    except Exception as exc:  # report any failure of the harness, then clean up below
        say(f"\n==> Chaos run failed: {type(exc).__name__}: {exc}")
    finally:
        # Ctrl-C reaches make, uv and this process (uv forwards it too): a second SIGINT must not cut the clean-up
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("==> Stopping the services" + ("" if args.keep else ", the private Kafka and PostgreSQL"))
        chaos.stop_all()
        if not args.keep:
            try:
                infra.down()
            except RuntimeError as exc:
                say(f"    {exc}")
        say(f"    logs kept in {log_dir}")
    say(f"==> {'PASS' if code == 0 else 'FAIL'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
