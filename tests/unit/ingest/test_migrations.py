"""The migrations build exactly the schema the code uses."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from feedback_ingest.core import UNSENT
from feedback_ingest.migrations import alembic_config, migrate
from feedback_ingest.tables import metadata


def test_migrating_an_empty_database_yields_the_models_schema(tmp_path: Path) -> None:
    path = tmp_path / "ingest.sqlite3"
    migrate(f"sqlite+aiosqlite:///{path}")
    migrate(f"sqlite+aiosqlite:///{path}")  # a second run is a no-op
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_storing_events_once_keeps_every_queued_event_and_publication_time_both_ways(tmp_path: Path) -> None:
    """0004 drops the outbox's copy of each event and moves publication times to their own table: a row queued
    before it is still published with its event, a published revision keeps its time, and going back restores
    both."""
    path = tmp_path / "ingest.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0003")
    engine = create_engine(f"sqlite:///{path}")
    at = "2026-12-05 10:00:00.000000"
    with engine.begin() as connection:
        for rid, published in (("r-1", at), ("r-2", None)):
            connection.execute(text("INSERT INTO responses VALUES (:rid, 's', 1, :at, :at)"), {"rid": rid, "at": at})
            connection.execute(
                text("INSERT INTO revisions VALUES (:rid, 1, 'h', NULL, 'form', :at, :at, :published, :event)"),
                {"rid": rid, "at": at, "published": published, "event": f"event of {rid}"},
            )
        connection.execute(
            text("INSERT INTO outbox (response_id, revision, topic, payload, created_at) VALUES "
                 "('r-2', 1, 'feedback.responses.v1', 'event of r-2', :at)"),
            {"at": at},
        )  # fmt: skip

    migrate(url)
    with engine.connect() as connection:
        assert [(r.response_id, r.event) for r in connection.execute(UNSENT)] == [("r-2", "event of r-2")]
        assert connection.execute(text("SELECT response_id, published_at FROM publications")).all() == [("r-1", at)]

    command.downgrade(alembic_config(url), "0003")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT response_id, payload FROM outbox")).all() == [("r-2", "event of r-2")]
        published = connection.execute(text("SELECT response_id, published_at FROM revisions ORDER BY 1")).all()
        assert published == [("r-1", at), ("r-2", None)]
