"""Alembic environment for ingest's store (async engines: aiosqlite, asyncpg)."""

from feedback_ingest.tables import metadata
from feedback_runtime.migrations import run_env

run_env(metadata)
