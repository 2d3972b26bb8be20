"""Schema migrations of the workspace's store; `migrate(url)` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from feedback_runtime import migrations

SCRIPTS = Path(__file__).parent


def alembic_config(url: str) -> Config:
    return migrations.alembic_config(SCRIPTS, url)


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (blocking; call it from a thread in async code)."""
    migrations.upgrade(SCRIPTS, url)
