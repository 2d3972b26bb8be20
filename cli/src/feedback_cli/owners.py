"""`feedback owners check FILE`: validate an owners directory against the strategy's sections."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feedback_contracts.owners import OwnersFileError, load_owners
from feedback_contracts.taxonomy import load_taxonomy


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("owners", help="work with the owners directory")
    sub = parser.add_subparsers(dest="owners_command", required=True, metavar="SUBCOMMAND")
    check = sub.add_parser("check", help="validate an owners file against the strategy's sections")
    check.add_argument("file", type=Path)
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    taxonomy = load_taxonomy()
    try:
        directory = load_owners(args.file)
    except OwnersFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = directory.check(taxonomy)
    for problem in problems:
        print(f"error: {args.file}: {problem}", file=sys.stderr)
    if problems:
        return 1
    uncovered = directory.default_only_sections(taxonomy.ids())
    print(f"{args.file}: {len(directory.owners)} owners, default owner {directory.default_owner!r}: valid")
    if uncovered:
        print(f"{len(uncovered)} sections go only to the default owner {directory.default_owner!r}:")
        for section_id in uncovered:
            section = taxonomy.get(section_id)
            print(f"  {section_id} {section.title if section else ''}")
    else:
        print("every section has an owner")
    return 0
