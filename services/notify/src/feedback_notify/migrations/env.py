"""Alembic environment for notify's delivery log: feedback_runtime's, with notify's version table and the
adoption of a delivery log made before notify had migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from feedback_notify.migrations import VERSION_TABLE
from feedback_notify.schema import metadata
from feedback_runtime.migrations import run_env


def _adopt_unversioned(context: Any, connection: Connection) -> None:
    """A delivery log created before notify had migrations: record it at the revision it already has (given
    by `migrate` as the "adopt_revision" attribute), so that upgrading does not try to create its tables again."""
    revision = context.config.attributes.get("adopt_revision")
    tables = set(inspect(connection).get_table_names())
    if revision and "deliveries" in tables and VERSION_TABLE not in tables:
        context.get_context().stamp(context.script, revision)


run_env(metadata, version_table=VERSION_TABLE, before=_adopt_unversioned)
