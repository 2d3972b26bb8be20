"""Notify's migrations build exactly the schema the code uses, and adopt a delivery log made before them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from feedback_notify.migrations import alembic_config, migrate
from feedback_notify.schema import digest_items, jobs, metadata, snapshots
from feedback_runtime.db import async_database_url

T = TypeVar("T")


def _on(database_url: str, work: Callable[[Connection], T]) -> T:
    """`work` in one committed transaction on the database, through the driver the service uses."""

    async def run() -> T:
        engine = create_async_engine(async_database_url(database_url))
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"version_table": "notify_alembic_version"})
    return compare_metadata(context, metadata)


def test_migrating_an_empty_database_yields_the_models_schema_and_a_second_run_changes_nothing(
    database_url: str,
) -> None:
    migrate(async_database_url(database_url))
    migrate(async_database_url(database_url))
    assert _on(database_url, _differences) == []


def test_a_delivery_log_made_before_migrations_is_adopted_with_its_rows(database_url: str) -> None:
    now = datetime.now(UTC)
    row = {
        "key": "turvallisuus:email:r-1:1", "owner_id": "turvallisuus", "channel": "email", "mode": "immediate",
        "kind": "alert", "payload": "{}", "status": "pending", "attempts": 0, "next_attempt_at": now,
        "created_at": now,
    }  # fmt: skip

    # What notify made with CREATE TABLE before it had migrations: migration 0001's schema, no history.
    command.upgrade(alembic_config(async_database_url(database_url)), "0001")
    _on(database_url, lambda connection: connection.execute(text("DROP TABLE notify_alembic_version")))
    _on(database_url, lambda connection: connection.execute(insert(jobs).values(**row)))
    migrate(async_database_url(database_url))
    keys = _on(database_url, lambda connection: [r.key for r in connection.execute(select(jobs.c.key))])
    tables = _on(database_url, lambda connection: set(inspect(connection).get_table_names()))
    assert keys == [row["key"]] and "notify_alembic_version" in tables
    assert _on(database_url, _differences) == []


def test_what_was_recorded_before_routings_were_numbered_is_each_revisions_first_routing(database_url: str) -> None:
    now = datetime.now(UTC)
    snapshot = {"response_id": "r-1", "owner_id": "turvallisuus", "revision": 2, "content": "{}", "updated_at": now}
    item = {"owner_id": "turvallisuus", "response_id": "r-1", "revision": 2, "payload": "{}", "created_at": now}

    command.upgrade(alembic_config(async_database_url(database_url)), "0002")
    _on(database_url, lambda connection: connection.execute(insert(snapshots).values(**snapshot)))
    _on(database_url, lambda connection: connection.execute(insert(digest_items).values(**item)))
    migrate(async_database_url(database_url))

    routings = _on(
        database_url,
        lambda connection: (
            connection.execute(select(snapshots.c.revision, snapshots.c.routing)).all(),
            connection.execute(select(digest_items.c.revision, digest_items.c.routing)).all(),
        ),
    )
    assert routings == ([(2, 1)], [(2, 1)])
    # A re-routing of that revision keeps an item of its own beside the first routing's.
    _on(database_url, lambda connection: connection.execute(insert(digest_items).values(**item, routing=2)))
    assert (
        _on(
            database_url, lambda connection: connection.execute(select(func.count()).select_from(digest_items)).scalar()
        )
        == 2
    )
