"""Each event stored once: the outbox names its revision, and publication times get a table of their own

An accepted revision stored its event twice (revisions.event and outbox.payload, ~8 KB each), and the relay's
marks rewrote both rows (SQLite rewrites a whole row, event included, to set one column): about half of
ingest's writes per response. Now the relay reads the event from the revision its outbox row names, and a
revision's first publication is a row of `publications`, so a mark writes a few small rows. An outbox payload
was always a copy of its revision's event, so dropping it loses nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 18:00:00
"""

import sqlalchemy as sa
from alembic import op

from feedback_runtime.migrations import set_compression

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id", "revision"),
    )
    op.execute(
        "INSERT INTO publications (response_id, revision, published_at) "
        "SELECT response_id, revision, published_at FROM revisions WHERE published_at IS NOT NULL"
    )
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.drop_column("published_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("payload")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    op.execute(
        "UPDATE outbox SET payload = (SELECT event FROM revisions "
        "WHERE revisions.response_id = outbox.response_id AND revisions.revision = outbox.revision)"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)
    set_compression((("outbox", "payload"),), "lz4")  # as migration 0002 left it
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE revisions SET published_at = (SELECT published_at FROM publications "
        "WHERE publications.response_id = revisions.response_id AND publications.revision = revisions.revision)"
    )
    op.drop_table("publications")
