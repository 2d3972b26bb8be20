"""Alembic environment for the workspace's store; its own version table, should it share a database."""

from feedback_runtime.migrations import run_env
from feedback_workspace.tables import metadata

run_env(metadata, version_table="workspace_alembic_version")
