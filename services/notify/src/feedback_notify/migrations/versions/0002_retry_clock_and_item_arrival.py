"""deliveries.retry_from: the give-up clock of a delivery sent again; digest_items.received_at: when the
statement arrived, which decides the digest it belongs to

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_from", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_column("received_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("retry_from")
