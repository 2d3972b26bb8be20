"""The migrations build exactly the schema the code uses."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from feedback_ingest.migrations import migrate
from feedback_ingest.tables import metadata


def test_migrating_an_empty_database_yields_the_models_schema(tmp_path: Path) -> None:
    path = tmp_path / "ingest.sqlite3"
    migrate(f"sqlite+aiosqlite:///{path}")
    migrate(f"sqlite+aiosqlite:///{path}")  # a second run is a no-op
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
