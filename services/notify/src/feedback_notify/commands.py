"""`feedback notify flush-digests`: ask the running notify service to send every pending digest now."""

from __future__ import annotations

import argparse
import os
import sys

import httpx


def register_notify(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("notify", help="talk to the running notify service")
    sub = parser.add_subparsers(dest="notify_command", required=True, metavar="SUBCOMMAND")
    flush = sub.add_parser("flush-digests", help="send every pending digest now")
    flush.add_argument("--owner", help="only this owner's digest")
    flush.add_argument(
        "--url", default=os.environ.get("NOTIFY_URL", "http://127.0.0.1:8002"), help="notify base URL (NOTIFY_URL)"
    )
    flush.set_defaults(run=run_flush)


def run_flush(args: argparse.Namespace) -> int:
    token = os.environ.get("FEEDBACK_ADMIN_TOKEN", "").strip()
    if not token:
        print("error: set FEEDBACK_ADMIN_TOKEN to one of notify's ADMIN_API_TOKENS", file=sys.stderr)
        return 2
    params = {"owner": args.owner} if args.owner else {}
    try:
        answer = httpx.post(
            args.url.rstrip("/") + "/v1/admin/flush-digests",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    if not answer.is_success:
        print(f"error: {answer.status_code} {answer.text}", file=sys.stderr)
        return 1
    digests = answer.json().get("digests", {})
    if not digests:
        print("no pending digest items")
    for owner, count in digests.items():
        print(f"{owner}: digest with {count} item(s) queued")
    return 0
