"""`feedback reconcile`: find statements ingest accepted that notify never recorded, and replay them.

After the broker lost data (the local broker keeps it in memory only) or a consumer lost its offsets,
some accepted revisions may never have reached the owners. Ingest knows every accepted revision, notify
every revision it recorded; the difference is published again (its latest revision), and downstream
idempotency makes the replay safe.
"""

from __future__ import annotations

import argparse
import os
import sys

import httpx


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("reconcile", help="replay what ingest accepted and notify never recorded")
    parser.add_argument("--ingest-url", default=os.environ.get("INGEST_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--notify-url", default=os.environ.get("NOTIFY_URL", "http://127.0.0.1:8002"))
    parser.add_argument("--dry-run", action="store_true", help="only list what is missing")
    parser.set_defaults(run=run)


def missing(accepted: dict[str, int], recorded: dict[str, int]) -> dict[str, int]:
    """Responses whose latest accepted revision notify has not recorded."""
    return {rid: rev for rid, rev in sorted(accepted.items()) if recorded.get(rid, 0) < rev}


def run(args: argparse.Namespace) -> int:
    token = os.environ.get("FEEDBACK_ADMIN_TOKEN", "").strip()
    if not token:
        print("error: set FEEDBACK_ADMIN_TOKEN to an admin token of ingest and notify", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"}
    try:
        accepted = _get(f"{args.ingest_url.rstrip('/')}/v1/admin/accepted", headers)
        recorded = _get(f"{args.notify_url.rstrip('/')}/v1/admin/recorded", headers)
        gaps = missing(accepted, recorded)
        print(f"accepted {len(accepted)} response(s); notify recorded {len(recorded)}; missing {len(gaps)}")
        for rid, rev in gaps.items():
            print(f"  {rid} revision {rev}")
        if gaps and not args.dry_run:
            answer = httpx.post(
                f"{args.ingest_url.rstrip('/')}/v1/admin/replay",
                json={"response_ids": list(gaps)},
                headers=headers,
                timeout=60,
            )
            answer.raise_for_status()
            print(f"replay queued for {answer.json()['queued']} revision(s)")
    except (httpx.HTTPError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _get(url: str, headers: dict[str, str]) -> dict[str, int]:
    answer = httpx.get(url, headers=headers, timeout=60)
    answer.raise_for_status()
    return answer.json()
