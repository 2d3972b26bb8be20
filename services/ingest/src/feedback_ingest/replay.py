"""`feedback replay`: queue stored revisions for publishing again, e.g. after the broker lost data or the
owners directory changed. The running ingest's relay publishes them; downstream stages are idempotent,
so a replay never duplicates an alert.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from .migrations import migrate
from .settings import IngestSettings
from .store import IngestStore


def register_replay(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("replay", help="republish stored response revisions (ingest's DATABASE_URL)")
    parser.add_argument("--since", type=_timestamp, help="only revisions received at or after this ISO 8601 time")
    parser.add_argument("--response-id", help="only this response's revisions")
    parser.add_argument("--database-url", help="ingest's database (default: DATABASE_URL or the local SQLite file)")
    parser.set_defaults(run=run_replay)


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone, e.g. {value}+02:00 or {value}Z")
    return parsed


async def replay(url: str, since: datetime | None, response_id: str | None) -> int:
    await asyncio.to_thread(migrate, url)  # the migrations take the URL in any form the store does
    store = IngestStore(url)
    try:
        return await store.enqueue_replay(since=since, response_id=response_id)
    finally:
        await store.close()


def run_replay(args: argparse.Namespace) -> int:
    url = args.database_url or IngestSettings().database_url
    try:
        count = asyncio.run(replay(url, args.since, args.response_id))
    except Exception as exc:  # a command-line tool answers with a message, not a traceback
        print(f"error: replay failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"queued {count} revision(s) for publishing; the running ingest service publishes them")
    return 0
