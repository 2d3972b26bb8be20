"""`feedback submit FILE.json`: post a response the way the survey form does."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("submit", help="post a response JSON to the ingest API")
    parser.add_argument("file", type=Path, help="the response as JSON (SurveyResponse)")
    parser.add_argument("--url", default=os.environ.get("INGEST_URL", DEFAULT_URL), help="ingest base URL (INGEST_URL)")
    parser.add_argument("--token", default=None, help="bearer token (default: first of INGEST_API_TOKENS)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("INGEST_API_TOKENS", "").split(",")[0].strip()
    if not token:
        print("error: no token: pass --token or set INGEST_API_TOKENS", file=sys.stderr)
        return 2
    try:
        body = args.file.read_bytes()
        json.loads(body)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {args.file} is not JSON: {exc}", file=sys.stderr)
        return 2
    try:
        answer = httpx.post(
            args.url.rstrip("/") + "/v1/responses",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.is_success else 1
