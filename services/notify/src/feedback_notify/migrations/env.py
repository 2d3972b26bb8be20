"""Alembic environment for notify's delivery log (async engines: aiosqlite, asyncpg)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from feedback_notify.store import metadata
from feedback_runtime.db import async_engine

config = context.config
# Its own version table: were ingest and notify ever pointed at one database, neither would read the other's
# migration history as its own.
VERSION_TABLE = "notify_alembic_version"


def _adopt_unversioned(connection: Connection) -> None:
    """A delivery log created before notify had migrations: record it at the revision it already has, so that
    upgrading does not try to create its tables again."""
    revision = config.attributes.get("adopt_revision")
    tables = set(inspect(connection).get_table_names())
    if revision and "deliveries" in tables and VERSION_TABLE not in tables:
        context.get_context().stamp(context.script, revision)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, version_table=VERSION_TABLE
    )
    with context.begin_transaction():
        _adopt_unversioned(connection)
        context.run_migrations()


async def _run_online() -> None:
    engine = async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
