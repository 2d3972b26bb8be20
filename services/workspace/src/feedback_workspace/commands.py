"""`feedback workspace ...`: the workspace's commands for development and support."""

from __future__ import annotations

import argparse
import os
import sys

from feedback_runtime.signin import SignInLinks


def register_workspace(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("workspace", help="the owners' workspace")
    sub = parser.add_subparsers(dest="workspace_command", required=True)
    link = sub.add_parser(
        "login-link", help="print a personal sign-in link for an owner role (WORKSPACE_SECRET, WORKSPACE_BASE_URL)"
    )
    link.add_argument("--owner", required=True, help="the owner role's id in the owners directory")
    link.add_argument("--next", default="/", help="the workspace page to open after signing in (default /)")
    link.add_argument("--url", default=None, help="the workspace's address (default: WORKSPACE_BASE_URL)")
    link.set_defaults(run=run_login_link)


def run_login_link(args: argparse.Namespace) -> int:
    from feedback_contracts.owners import OwnersFileError, load_owners

    secret = os.environ.get("WORKSPACE_SECRET", "")
    if not secret:
        print("error: WORKSPACE_SECRET is not set (feedback dev up prints the one it uses)", file=sys.stderr)
        return 2
    owners_file = os.environ.get("OWNERS_FILE", "config/owners.example.yaml")
    try:
        directory = load_owners(owners_file)
    except OwnersFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if directory.get(args.owner) is None:
        print(f"error: no owner {args.owner!r} in {owners_file}", file=sys.stderr)
        return 2
    base = args.url or os.environ.get("WORKSPACE_BASE_URL", "http://127.0.0.1:8003")
    print(SignInLinks(secret).url(base, args.owner, args.next))
    return 0
