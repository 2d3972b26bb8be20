"""Ingest's migrations on both databases: up to the newest schema and back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command

from feedback_ingest.migrations import alembic_config, migrate
from feedback_runtime.db import async_database_url

pytestmark = pytest.mark.integration


async def _compression(database_url: str) -> dict[str, str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT attrelid::regclass::text AS table_name, attcompression FROM pg_attribute "
            "WHERE (attrelid, attname) IN (('revisions'::regclass, 'event'), ('outbox'::regclass, 'payload'))"
        )
        return {row["table_name"]: row["attcompression"].decode() for row in rows}
    finally:
        await connection.close()


def test_stored_events_are_compressed_with_lz4_on_postgresql_and_the_migration_goes_back(database_url: str) -> None:
    url = async_database_url(database_url)
    migrate(url)
    migrate(url)  # a second run is a no-op
    if not database_url.startswith("postgresql"):
        command.downgrade(alembic_config(url), "0001")  # nothing to undo on SQLite
        migrate(url)
        return
    # Since 0004 the event is stored once, in revisions; the outbox names its revision.
    assert asyncio.run(_compression(database_url)) == {"revisions": "l"}
    command.downgrade(alembic_config(url), "0003")
    assert asyncio.run(_compression(database_url)) == {"revisions": "l", "outbox": "l"}
    command.downgrade(alembic_config(url), "0001")
    assert asyncio.run(_compression(database_url)) == {"revisions": "p", "outbox": "p"}
