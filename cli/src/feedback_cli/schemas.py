"""`feedback schemas`: regenerate (or check) the JSON Schemas under contracts/schemas/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import feedback_contracts
from feedback_contracts.schemas import render_schemas

# contracts/src/feedback_contracts/__init__.py -> contracts/schemas
DEFAULT_DIR = Path(feedback_contracts.__file__).resolve().parents[2] / "schemas"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("schemas", help="write the contracts' JSON Schemas to contracts/schemas/")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="target folder (default: contracts/schemas)")
    parser.add_argument("--check", action="store_true", help="only report schemas that differ; exit 1 if any")
    parser.set_defaults(run=run)


def stale_schemas(directory: Path) -> list[str]:
    """Names of the schema files that are missing or differ from the models."""
    return [
        name
        for name, text in render_schemas().items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]


def run(args: argparse.Namespace) -> int:
    if args.check:
        stale = stale_schemas(args.dir)
        for name in stale:
            print(f"out of date: {args.dir / name}", file=sys.stderr)
        return 1 if stale else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_schemas().items():
        (args.dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.dir / name}")
    return 0
