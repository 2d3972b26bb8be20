"""Alembic for the services' stores: each service keeps its migration scripts in its own `migrations`
package and version table; the configuration, the online run and migrate-on-start are written here once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from .db import async_engine


def alembic_config(script_location: Path, url: str, **attributes: Any) -> Config:
    """Alembic's configuration for the scripts in `script_location` against the database at `url`."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes.update(attributes)
    return config


def upgrade(script_location: Path, url: str, **attributes: Any) -> None:
    """Bring the database at `url` to the newest schema (blocking: call it in a thread from async code)."""
    command.upgrade(alembic_config(script_location, url, **attributes), "head")


async def migrate_on_start(script_location: Path, url: str, **attributes: Any) -> None:
    """`upgrade` from a service's start-up, off the event loop."""
    await asyncio.to_thread(upgrade, script_location, url, **attributes)


def run_env(
    metadata: MetaData,
    *,
    version_table: str = "alembic_version",
    before: Callable[[Any, Connection], None] | None = None,
) -> None:
    """The body of a service's `migrations/env.py`: run the migrations offline (SQL) or online (async
    engines: aiosqlite, asyncpg). `before(context, connection)` runs first, in the migrations' transaction."""
    from alembic import context

    config = context.config
    options = {"target_metadata": metadata, "version_table": version_table}
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, render_as_batch=True, **options)
        with context.begin_transaction():
            if before is not None:
                before(context, connection)
            context.run_migrations()

    async def online() -> None:
        engine = async_engine(config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(online())


def set_compression(columns: tuple[tuple[str, str], ...], method: str) -> None:
    """PostgreSQL 14+: compress these (table, column)s' stored values with `method` ('lz4', 'pglz') from now on,
    where the server offers it; elsewhere (SQLite, older servers, a build without lz4) nothing changes.

    lz4 compresses stored events and paragraphs about as well as the default pglz at a fraction of its CPU,
    which under load was the database server's largest cost per write."""
    from alembic import op

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    offered = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()  # no such setting before PostgreSQL 14
    if not (offered and method in offered):
        return
    for table, column in columns:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")
