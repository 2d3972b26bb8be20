"""Schema migrations of notify's delivery log; `migrate(url)` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# The schema notify made with CREATE TABLE before it had migrations: a database that has these tables and
# no migration history is at this revision.
UNVERSIONED_SCHEMA = "0001"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (blocking; call it from a thread in async code)."""
    config = alembic_config(url)
    config.attributes["adopt_revision"] = UNVERSIONED_SCHEMA
    command.upgrade(config, "head")
