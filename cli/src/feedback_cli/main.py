"""Entry point of `feedback`. Services add their own subcommands through the `feedback.commands` entry points."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

from . import dev, owners, reconcile, schemas, submit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedback", description="Feedback pipeline for Oma Häme's service strategy.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (dev, submit, owners, schemas, reconcile):
        module.register(commands)
    for entry in entry_points(group="feedback.commands"):
        entry.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "httpx", "kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
