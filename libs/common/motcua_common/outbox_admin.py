"""Operator commands for a service's outbox: see what waits or is parked, and retry it.

    python -m motcua_common.outbox_admin --service intake list
    python -m motcua_common.outbox_admin --service intake retry <row id>
    python -m motcua_common.outbox_admin --service processing retry-all

``--service`` picks the database ``motcua_<service>`` (``--database`` names another); the PostgreSQL address comes
from the usual ``MOTCUA_PG_*`` variables. A parked row holds back the later rows of its own key (dossier) on its
topic only: ``list`` says how many. Fix the cause first (create the topic, grant the ACL…), then retry; a row that
fails again is parked again after the relay's bounded attempts.
"""

import argparse
import asyncio
import sys
import uuid

import asyncpg

from . import outbox
from .settings import ServiceSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motcua_common.outbox_admin", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--service", help="intake, processing… (database motcua_<service>)")
    where.add_argument("--database", help="the database name itself")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="parked rows, then rows waiting after a failure")
    listing.add_argument("--limit", type=int, default=100)
    one = commands.add_parser("retry", help="make one row eligible again now")
    one.add_argument("id", type=uuid.UUID)
    commands.add_parser("retry-all", help="make every parked row eligible again now")
    return parser


def _describe(row: asyncpg.Record) -> str:
    state = f"PARKED since {row['parked_at']:%Y-%m-%d %H:%M:%S%z}" if row["parked_at"] else "waiting"
    if not row["parked_at"] and row["next_attempt_at"]:
        state += f", next attempt {row['next_attempt_at']:%H:%M:%S}"
    behind = row["blocked_behind"]
    blocks = f"blocks {behind} later row(s) of its topic and key" if behind else "blocks nothing"
    return (
        f"{row['id']}  {state}; {blocks}\n"
        f"    topic {row['topic']}  key {row['key']}  type {row['event_type']}"
        f"  created {row['created_at']:%Y-%m-%d %H:%M:%S}\n"
        f"    attempts {row['attempts']}, failures {row['failures']}: {row['last_error']}"
    )


async def run(argv: list[str]) -> str:
    """Run one command and return what it prints."""
    args = _parser().parse_args(argv)
    database = args.database or f"motcua_{args.service.replace('-', '_')}"
    conn = await asyncpg.connect(ServiceSettings(database=database).dsn)
    try:
        if args.command == "list":
            rows = await outbox.list_stuck(conn, limit=args.limit)
            return "\n".join(_describe(r) for r in rows) if rows else "nothing parked or failing"
        if args.command == "retry":
            return f"retried {int(await outbox.retry(conn, args.id))}"
        return f"retried {await outbox.retry_all(conn)}"
    finally:
        await conn.close()


def main() -> None:
    print(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
