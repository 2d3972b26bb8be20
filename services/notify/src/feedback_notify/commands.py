"""`feedback notify flush-digests` and `feedback notify retry-dead`: ask the running notify service to send
every pending digest now, or to send dead deliveries again."""

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
    retry = sub.add_parser("retry-dead", help="send dead deliveries again (after fixing an address or the server)")
    retry.add_argument("--owner", help="only this owner's deliveries")
    retry.add_argument("--since", help="only deliveries created at or after this ISO 8601 time, with a time zone")
    retry.add_argument(
        "--url", default=os.environ.get("NOTIFY_URL", "http://127.0.0.1:8002"), help="notify base URL (NOTIFY_URL)"
    )
    retry.set_defaults(run=run_retry_dead)


def _admin_post(url: str, path: str, params: dict[str, str]) -> httpx.Response | int:
    """POST to one of notify's admin endpoints with FEEDBACK_ADMIN_TOKEN; the answer, or the exit code."""
    token = os.environ.get("FEEDBACK_ADMIN_TOKEN", "").strip()
    if not token:
        print("error: set FEEDBACK_ADMIN_TOKEN to one of notify's ADMIN_API_TOKENS", file=sys.stderr)
        return 2
    try:
        answer = httpx.post(
            url.rstrip("/") + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    if not answer.is_success:
        print(f"error: {answer.status_code} {answer.text}", file=sys.stderr)
        return 1
    return answer


def run_retry_dead(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("owner", args.owner), ("since", args.since)) if v}
    answer = _admin_post(args.url, "/v1/admin/retry-dead", params)
    if isinstance(answer, int):
        return answer
    print(f"{answer.json().get('requeued', 0)} dead deliveries queued to be sent again")
    return 0


def run_flush(args: argparse.Namespace) -> int:
    answer = _admin_post(args.url, "/v1/admin/flush-digests", {"owner": args.owner} if args.owner else {})
    if isinstance(answer, int):
        return answer
    digests = answer.json().get("digests", {})
    if not digests:
        print("no pending digest items")
    for owner, count in digests.items():
        print(f"{owner}: digest with {count} item(s) queued")
    return 0
