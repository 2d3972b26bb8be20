"""`feedback route correct ...` and `feedback labels export ...`: correcting a paragraph's routes and exporting
the corrected paragraphs as labels, through the workspace's API (token from FEEDBACK_ADMIN_TOKEN)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8003"
TIMEOUT_SECONDS = 30.0
# Exit statuses: the workspace refused the request (4xx, or no token); it could not be reached or failed.
REFUSED, FAILED = 2, 1


def register_route(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("route", help="correct where a paragraph is routed (the workspace's API)")
    sub = parser.add_subparsers(dest="route_command", required=True)
    correct = sub.add_parser(
        "correct",
        help="move a paragraph to other sections: it is re-routed at once and the owners who gain it are told",
    )
    correct.add_argument("--response-id", required=True, help="the statement (its response id)")
    correct.add_argument("--paragraph", required=True, help="the paragraph's id (GET /api/statements/ID shows them)")
    correct.add_argument("--add", action="append", default=[], metavar="SECTION", help="a section it belongs to")
    correct.add_argument("--remove", action="append", default=[], metavar="SECTION", help="a section it does not")
    correct.add_argument("--reason", required=True, help="why, in a sentence (shown to the owners)")
    correct.add_argument("--by-role", default=None, help="the role making it (default: the strategy office)")
    correct.add_argument("--correction-id", default=None, help="an id of your own: the same id again changes nothing")
    _url_argument(correct)
    correct.set_defaults(run=run_correct)


def register_labels(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("labels", help="routing labels made of corrections")
    sub = parser.add_subparsers(dest="labels_command", required=True)
    export = sub.add_parser(
        "export", help="write every corrected paragraph in the labels format (JSON lines), for eval and calibrate"
    )
    export.add_argument("--since", default=None, metavar="TIME", help="only corrections made at or after this time")
    export.add_argument("--output", type=Path, default=None, metavar="FILE", help="write here (default: stdout)")
    _url_argument(export)
    export.set_defaults(run=run_export)


def _url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        metavar="WORKSPACE_URL",
        help=f"the workspace's address (default: WORKSPACE_URL, else WORKSPACE_BASE_URL, else {DEFAULT_URL})",
    )


def _base(args: argparse.Namespace) -> str:
    url = args.url or os.environ.get("WORKSPACE_URL") or os.environ.get("WORKSPACE_BASE_URL") or DEFAULT_URL
    return url.rstrip("/")


def _token() -> str:
    """FEEDBACK_ADMIN_TOKEN, else the first of ADMIN_API_TOKENS (as `feedback dev up` sets them)."""
    token = os.environ.get("FEEDBACK_ADMIN_TOKEN", "").strip()
    return token or next((t.strip() for t in os.environ.get("ADMIN_API_TOKENS", "").split(",") if t.strip()), "")


def _call(method: str, url: str, **options: object) -> httpx.Response | int:
    """The answer, or the exit status after saying on stderr what went wrong."""
    token = _token()
    if not token:
        print("error: no token: set FEEDBACK_ADMIN_TOKEN (one of the workspace's ADMIN_API_TOKENS)", file=sys.stderr)
        return REFUSED
    try:
        answer = httpx.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_SECONDS, **options
        )
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the workspace at {url}: {exc}", file=sys.stderr)
        return FAILED
    if answer.is_success:
        return answer
    print(f"error: {answer.status_code}: {_detail(answer)}", file=sys.stderr)
    return REFUSED if 400 <= answer.status_code < 500 else FAILED


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail", answer.text)
    except (ValueError, AttributeError):
        return answer.text
    if isinstance(detail, list):  # a request the API could not read: each problem with where it is
        return "; ".join(f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail)
    return str(detail)


def run_correct(args: argparse.Namespace) -> int:
    body = {
        "response_id": args.response_id, "paragraph_id": args.paragraph, "add": args.add, "remove": args.remove,
        "reason": args.reason, "by_role": args.by_role, "correction_id": args.correction_id,
    }  # fmt: skip
    answer = _call("POST", _base(args) + "/api/corrections", json={k: v for k, v in body.items() if v is not None})
    if isinstance(answer, int):
        return answer
    correction = answer.json()
    print(json.dumps(correction, ensure_ascii=False, indent=2))
    if answer.status_code == 200:
        print(f"correction {correction['correction_id']} was made before: nothing changed", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    params = {"since": args.since} if args.since else {}
    answer = _call("GET", _base(args) + "/api/labels", params=params)
    if isinstance(answer, int):
        return answer
    lines = answer.text
    if args.output is None:
        sys.stdout.write(lines)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(lines, encoding="utf-8")
    count = sum(1 for line in lines.splitlines() if line.strip())
    print(f"{count} corrected paragraphs" + (f" written to {args.output}" if args.output else ""), file=sys.stderr)
    return 0
