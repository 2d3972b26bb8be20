"""routings and corrections: each response's latest routing, and the corrections people made to routes

Revision ID: 0001
Revises:
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "routings",
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("routing", sa.Integer(), nullable=False),
        sa.Column("correction_id", sa.String(length=100), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id"),
    )
    op.create_table(
        "corrections",
        sa.Column("correction_id", sa.String(length=100), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("paragraph_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("respondent_type", sa.String(length=64), nullable=False),
        sa.Column("add_sections", sa.Text(), nullable=False),
        sa.Column("remove_sections", sa.Text(), nullable=False),
        sa.Column("by_role", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("final_sections", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("correction_id"),
    )
    with op.batch_alter_table("corrections", schema=None) as batch_op:
        batch_op.create_index("ix_corrections_response", ["response_id", "applied_at"], unique=False)
        batch_op.create_index("ix_corrections_applied", ["applied_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("corrections", schema=None) as batch_op:
        batch_op.drop_index("ix_corrections_applied")
        batch_op.drop_index("ix_corrections_response")

    op.drop_table("corrections")
    op.drop_table("routings")
