"""The relay lease's fencing token: a one-row table whose epoch each new holder of the lease increments

On PostgreSQL the relay marks rows sent only while the epoch is still the one it took the lease with, and a
relay taking over waits out the previous holder's `publishing_until` (see feedback_ingest/lease.py). SQLite
gets the table too (one schema), but its lease is a file lock and does not use it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    table = op.create_table(
        "relay_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publishing_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("relay_lease")
