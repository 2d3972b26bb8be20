"""inbox reads: an owner's current items in page order, all of them or one state, covering the counts; and
PostgreSQL's lz4 for the texts every list reads

The inbox lists an owner's items that are not withdrawn, newest first, 25 at a time, with counts per state. With
only (owner_id, state, updated_at), SQLite sorted all the owner's rows, wide with their paragraphs, in a temporary
B-tree for every page (and read past each row's paragraphs to reach `withdrawn` for the counts); with these it
walks the index in page order and stops after the page, and counts from the index alone.

The free-text filter reads every one of the owner's `search_text` values, three times a page (the count, the
page, the counts per state); PostgreSQL stores them compressed, and decompressing pglz was half of that time.
lz4 decompresses about twice as fast. Only values written from now on are affected. A server without lz4
(PostgreSQL before 14, or built without it) keeps pglz; SQLite stores text uncompressed and is not touched.

Measured by bench/workspace.py (`python -m bench --only workspace`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 15:30:00
"""

from alembic import op

from feedback_runtime.migrations import set_compression

revision = "0003"
down_revision = "0002"

_COMPRESSED = (("items", "search_text"), ("items", "paragraphs"), ("revisions", "event"))


def upgrade() -> None:
    op.drop_index("ix_items_owner_state_updated", table_name="items")
    op.create_index("ix_items_owner_page", "items", ["owner_id", "withdrawn", "updated_at", "id"], unique=False)
    op.create_index(
        "ix_items_owner_state_page", "items", ["owner_id", "withdrawn", "state", "updated_at", "id"], unique=False
    )
    set_compression(_COMPRESSED, "lz4")


def downgrade() -> None:
    set_compression(_COMPRESSED, "pglz")
    op.drop_index("ix_items_owner_state_page", table_name="items")
    op.drop_index("ix_items_owner_page", table_name="items")
    op.create_index("ix_items_owner_state_updated", "items", ["owner_id", "state", "updated_at"], unique=False)
