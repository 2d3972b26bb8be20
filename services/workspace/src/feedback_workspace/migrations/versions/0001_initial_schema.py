"""initial schema: statements, revisions, the owners' items and their history

Revision ID: 0001
Revises:
Create Date: 2026-12-05 14:41:14.568378
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("survey_id", sa.String(length=128), nullable=False),
        sa.Column("latest_revision", sa.Integer(), nullable=False),
        sa.Column("organization", sa.String(length=300), nullable=False),
        sa.Column("respondent_type", sa.String(length=64), nullable=False),
        sa.Column("first_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("section_id", sa.String(length=32), nullable=False),
        sa.Column("section_title", sa.String(length=300), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("respondent_type", sa.String(length=64), nullable=False),
        sa.Column("organization", sa.String(length=300), nullable=False),
        sa.Column("paragraphs", sa.Text(), nullable=False),
        sa.Column("paragraphs_digest", sa.String(length=64), nullable=False),
        sa.Column("paragraph_count", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["statements.response_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "response_id", "section_id", name="uq_items_owner_response_section"),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_owner_state_updated", ["owner_id", "state", "updated_at"], unique=False)
        batch_op.create_index("ix_items_response", ["response_id"], unique=False)
        batch_op.create_index("ix_items_state_updated", ["state", "updated_at"], unique=False)

    op.create_table(
        "revisions",
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("classified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["statements.response_id"],
        ),
        sa.PrimaryKeyConstraint("response_id", "revision"),
    )
    op.create_table(
        "item_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_events", schema=None) as batch_op:
        batch_op.create_index("ix_item_events_item", ["item_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_events", schema=None) as batch_op:
        batch_op.drop_index("ix_item_events_item")

    op.drop_table("item_events")
    op.drop_table("revisions")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_state_updated")
        batch_op.drop_index("ix_items_response")
        batch_op.drop_index("ix_items_owner_state_updated")

    op.drop_table("items")
    op.drop_table("statements")
