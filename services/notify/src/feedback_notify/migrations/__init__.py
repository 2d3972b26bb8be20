"""Schema migrations of notify's delivery log; `migrate(url)` brings a database to the newest schema.

The Alembic plumbing is feedback_runtime.migrations'; notify keeps its scripts (`versions/`), its own version
table and the adoption of a delivery log made before it had migrations (see env.py)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from feedback_runtime import migrations

SCRIPTS = Path(__file__).parent
# Its own version table: were ingest and notify ever pointed at one database, neither would read the other's
# migration history as its own.
VERSION_TABLE = "notify_alembic_version"
# The schema notify made with CREATE TABLE before it had migrations: a database that has these tables and
# no migration history is at this revision.
UNVERSIONED_SCHEMA = "0001"


def alembic_config(url: str) -> Config:
    return migrations.alembic_config(SCRIPTS, url)


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (blocking; call it from a thread in async code)."""
    migrations.upgrade(SCRIPTS, url, adopt_revision=UNVERSIONED_SCHEMA)


async def migrate_on_start(url: str) -> None:
    """`migrate` from the service's start-up, off the event loop."""
    await migrations.migrate_on_start(SCRIPTS, url, adopt_revision=UNVERSIONED_SCHEMA)
