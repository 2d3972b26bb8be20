"""`feedback report`: the strategy office's summary from the command line, made by the workspace (its reports API,
GET /api/reports/{xlsx|docx}) with the admin token in FEEDBACK_ADMIN_TOKEN, written to a file.

The file appears whole or not at all: the download goes to a temporary file beside it, renamed when complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8003"
# A report of a large consultation takes the workspace seconds to make; waiting for it is the normal case.
TIMEOUT_SECONDS = 600.0
# Exit statuses: the workspace refused the request (4xx, or no token); it could not be reached or failed.
REFUSED, FAILED = 2, 1


def register_report(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report",
        help="the strategy office's summary of the statements as a spreadsheet (xlsx) or a document (docx)",
        description="Make the summary of the statements in the workspace: every routed paragraph (xlsx), or the "
        "draft of the lausuntoyhteenveto section by section (docx). Needs FEEDBACK_ADMIN_TOKEN.",
    )
    parser.add_argument("--format", required=True, choices=("xlsx", "docx"), help="spreadsheet or document")
    parser.add_argument("--output", required=True, type=Path, metavar="FILE", help="where to write the file")
    parser.add_argument("--section", action="append", default=[], metavar="ID",
                        help="a section and everything under it, e.g. 5.2 (repeatable; '-' for no section)")  # fmt: skip
    parser.add_argument("--respondent-type", action="append", default=[], metavar="T",
                        help="e.g. municipality or 'kunta tai kaupunki' (repeatable)")  # fmt: skip
    parser.add_argument("--since", metavar="TIME", help="received on or after: a date (2026-04-01) or an ISO time")
    parser.add_argument("--until", metavar="TIME", help="received up to: a date (that day included) or an ISO time")
    parser.add_argument("--state", action="append", default=[], metavar="STATE",
                        help="the owners' state: uusi, luettu, kasitelty, ei_minulle (repeatable)")  # fmt: skip
    parser.add_argument("--owner", action="append", default=[], metavar="ID", help="only this owner role's items")
    parser.add_argument("--all-revisions", action="store_true", help="earlier revisions of edited statements too")
    parser.add_argument(
        "--url",
        default=None,
        metavar="WORKSPACE_URL",
        help=f"the workspace's address (default: WORKSPACE_URL, else WORKSPACE_BASE_URL, else {DEFAULT_URL})",
    )
    parser.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    token = os.environ.get("FEEDBACK_ADMIN_TOKEN", "").strip()
    if not token:
        print("error: no token: set FEEDBACK_ADMIN_TOKEN (one of the workspace's ADMIN_API_TOKENS)", file=sys.stderr)
        return REFUSED
    if not (token.isascii() and token.isprintable()):
        print(
            "error: FEEDBACK_ADMIN_TOKEN holds characters no token has (letters a-z, digits, - and _)", file=sys.stderr
        )
        return REFUSED
    base = args.url or os.environ.get("WORKSPACE_URL") or os.environ.get("WORKSPACE_BASE_URL") or DEFAULT_URL
    params: list[tuple[str, str]] = [("section", s) for s in args.section]
    params += [("respondent_type", t) for t in args.respondent_type] + [("state", s) for s in args.state]
    params += [("owner", o) for o in args.owner]
    params += [(name, value) for name, value in (("since", args.since), ("until", args.until)) if value]
    if args.all_revisions:
        params.append(("revisions", "all"))
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(handle, "wb") as target:
            status = _download(f"{base.rstrip('/')}/api/reports/{args.format}", params, token, target)
        if status:
            return status
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    print(f"wrote {output} ({output.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


def _download(url: str, params: list[tuple[str, str]], token: str, target) -> int:  # noqa: ANN001 - a binary file
    """The report streamed into `target`: 0, or the exit status after saying on stderr what went wrong."""
    try:
        with httpx.stream("GET", url, params=params, headers={"Authorization": f"Bearer {token}"},
                          timeout=TIMEOUT_SECONDS) as answer:  # fmt: skip
            if not answer.is_success:
                answer.read()
                print(f"error: {answer.status_code}: {_detail(answer)}", file=sys.stderr)
                return REFUSED if 400 <= answer.status_code < 500 else FAILED
            for chunk in answer.iter_bytes():
                target.write(chunk)
    except httpx.HTTPError as exc:
        print(f"error: cannot get the report from {url}: {exc}", file=sys.stderr)
        return FAILED
    return 0


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail", answer.text)
    except (ValueError, AttributeError):
        return answer.text
    return "; ".join(map(str, detail)) if isinstance(detail, list) else str(detail)
