"""snapshots.routing and digest_items.routing: a revision is routed again after each correction, and what an
owner last received is ordered by (revision, routing); a re-routing's digest item is one of its own

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routing", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routing", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("uq_digest_item", type_="unique")
        batch_op.create_unique_constraint("uq_digest_item", ["owner_id", "response_id", "revision", "routing"])


def downgrade() -> None:
    # Items of re-routings would break the narrower constraint: keep each revision's first routing's item.
    op.execute("DELETE FROM digest_items WHERE routing > 1")
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_digest_item", type_="unique")
        batch_op.create_unique_constraint("uq_digest_item", ["owner_id", "response_id", "revision"])
        batch_op.drop_column("routing")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_column("routing")
