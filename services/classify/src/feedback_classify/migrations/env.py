"""Alembic environment for classify's store; its own version table, should it share a database."""

from feedback_classify.migrations import VERSION_TABLE
from feedback_classify.tables import metadata
from feedback_runtime.migrations import run_env

run_env(metadata, version_table=VERSION_TABLE)
