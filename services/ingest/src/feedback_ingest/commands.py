"""`feedback import PATH`: turn a statement document into a SurveyResponse, and optionally submit it.

Registered through the `feedback.commands` entry point, so the `feedback` CLI finds it without the
ingest service depending on the CLI package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .importer import ImportOptions

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_INVALID = 2
EXIT_SUBMIT_FAILED = 1


def register_import(commands: argparse._SubParsersAction) -> None:
    """Add the `import` subcommand to the `feedback` CLI."""
    parser = commands.add_parser(
        "import",
        help="turn a statement document (.txt, .md, .docx) into a response",
        description=(
            "Read a statement document and print it as a SurveyResponse (JSON). Warnings about text that "
            "was left out go to stderr. With --submit, post it to the ingest API."
        ),
    )
    parser.add_argument("path", type=Path, help="the statement: plain text, markdown or .docx")
    parser.add_argument(
        "--respondent-type",
        help="code or the form's Finnish label (e.g. municipality, 'Kunta tai kaupunki'); "
        "required when the document does not say it",
    )
    parser.add_argument("--organization", help="the organisation represented (overrides the document)")
    parser.add_argument("--title", help="the respondent's title (overrides the document)")
    parser.add_argument("--response-id", help="response id (default: derived from the document's content)")
    parser.add_argument("--survey-id", default=None, help="survey id (default: palvelustrategia-2026)")
    parser.add_argument("--submit", action="store_true", help="post the response to the ingest API")
    parser.add_argument("--url", default=None, help=f"ingest base URL (default: $INGEST_URL or {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="bearer token (default: first of $INGEST_API_TOKENS)")
    parser.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Import the document; print the response, warnings and (with --submit) the API's answer."""
    # Imported here so that loading the entry point costs nothing for the other `feedback` commands.
    from .importer import DocumentError, import_file

    try:
        options = _options(args)
        result = import_file(args.path, options)
    except DocumentError as exc:
        return _fail(str(exc))
    except Exception as exc:  # a user runs this by hand: a bug must still read as one line, not a traceback
        return _fail(f"could not import {args.path}: {type(exc).__name__}: {exc}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    body = json.dumps(result.response.model_dump(mode="json"), indent=2, ensure_ascii=False)
    print(body)
    return _submit(body, args) if args.submit else 0


def _options(args: argparse.Namespace) -> ImportOptions:
    from feedback_contracts.respondents import RespondentType

    from .importer import DEFAULT_SURVEY_ID, DocumentError, ImportOptions

    rtype = None
    if args.respondent_type is not None:
        try:
            rtype = RespondentType.parse(args.respondent_type)
        except ValueError as exc:
            raise DocumentError(f"--respondent-type: {exc}") from None
    return ImportOptions(
        respondent_type=rtype,
        organization=args.organization,
        title=args.title,
        response_id=args.response_id,
        survey_id=args.survey_id or DEFAULT_SURVEY_ID,
    )


def _submit(body: str, args: argparse.Namespace) -> int:
    import httpx

    url = (args.url or os.environ.get("INGEST_URL") or DEFAULT_URL).rstrip("/")
    token = args.token or os.environ.get("INGEST_API_TOKENS", "").split(",")[0].strip()
    if not token:
        return _fail("no token: pass --token or set INGEST_API_TOKENS")
    try:
        answer = httpx.post(
            url + "/v1/responses",
            content=body.encode("utf-8"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return EXIT_SUBMIT_FAILED
    # stdout carries the response JSON alone, so it stays usable in a pipe; the API's answer goes beside it.
    print(f"submitted: {answer.status_code} {answer.text}", file=sys.stderr)
    return 0 if answer.is_success else EXIT_SUBMIT_FAILED


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID
