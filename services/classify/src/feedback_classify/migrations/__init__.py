"""Schema migrations of classify's store; `migrate(url)` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from feedback_runtime import migrations

SCRIPTS = Path(__file__).parent
# Its own version table: were classify and another service ever pointed at one database, neither would read
# the other's migration history as its own.
VERSION_TABLE = "classify_alembic_version"


def alembic_config(url: str) -> Config:
    return migrations.alembic_config(SCRIPTS, url)


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (blocking; call it from a thread in async code)."""
    migrations.upgrade(SCRIPTS, url)


async def migrate_on_start(url: str) -> None:
    """`migrate` from the service's start-up, off the event loop."""
    await migrations.migrate_on_start(SCRIPTS, url)
