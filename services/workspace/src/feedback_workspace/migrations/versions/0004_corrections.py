"""corrections: the corrections of routes (who, when, why) and their outbox; the routing of each revision; who
each paragraph was ever routed to; the correction an item's history entry names

A revision is routed again when a correction is applied (ResponseClassified.routing), so the stored revision
keeps the routing it holds. An owner may correct only the paragraphs that were routed to them in some revision
or routing of the statement, which `paragraph_owners` remembers; it is filled here from the revisions already
stored (their first routings, the only ones there were).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 10:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

from feedback_contracts.events import paragraph_id

revision = "0004"
down_revision = "0003"

# Rows written per statement when the owners of existing paragraphs are filled in.
_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routing", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("item_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correction_id", sa.String(length=100), nullable=True))
    op.create_table(
        "corrections",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("paragraph_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("added", sa.Text(), nullable=False),
        sa.Column("removed", sa.Text(), nullable=False),
        sa.Column("by_role", sa.String(length=64), nullable=False),
        sa.Column("by_office", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["statements.response_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_corrections_response", "corrections", ["response_id", "corrected_at"], unique=False)
    op.create_index("ix_corrections_corrected_at", "corrections", ["corrected_at"], unique=False)
    op.create_table(
        "correction_outbox",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_correction_outbox_unpublished", "correction_outbox", ["published_at", "created_at"], unique=False
    )
    owners = op.create_table(
        "paragraph_owners",
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("paragraph_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["statements.response_id"]),
        sa.PrimaryKeyConstraint("response_id", "paragraph_id", "owner_id"),
    )
    _fill_paragraph_owners(owners)


def _fill_paragraph_owners(owners: sa.Table) -> None:
    connection = op.get_bind()
    revisions = sa.table("revisions", sa.column("response_id"), sa.column("event"))
    response_ids = connection.execute(sa.select(revisions.c.response_id).distinct()).scalars().all()
    for response_id in response_ids:
        pairs: set[tuple[str, str]] = set()
        for text in connection.execute(sa.select(revisions.c.event).where(revisions.c.response_id == response_id)).scalars():  # fmt: skip
            event = json.loads(text)
            ids = {p["index"]: paragraph_id(p["question"], p["text"]) for p in event["paragraphs"]}
            for route in event["routes"]:
                for routed in route["paragraphs"]:
                    pairs.update((ids[routed["paragraph"]], owner) for owner in route["owners"])
        rows = [{"response_id": response_id, "paragraph_id": p, "owner_id": o} for p, o in sorted(pairs)]
        for start in range(0, len(rows), _BATCH):
            connection.execute(sa.insert(owners), rows[start : start + _BATCH])


def downgrade() -> None:
    op.drop_table("paragraph_owners")
    op.drop_index("ix_correction_outbox_unpublished", table_name="correction_outbox")
    op.drop_table("correction_outbox")
    op.drop_index("ix_corrections_corrected_at", table_name="corrections")
    op.drop_index("ix_corrections_response", table_name="corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("item_events", schema=None) as batch_op:
        batch_op.drop_column("correction_id")
    with op.batch_alter_table("revisions", schema=None) as batch_op:
        batch_op.drop_column("routing")
