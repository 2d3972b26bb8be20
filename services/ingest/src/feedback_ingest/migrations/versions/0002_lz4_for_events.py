"""PostgreSQL: compress stored events with lz4 instead of pglz

Every accepted revision stores its event twice (revisions.event and outbox.payload, ~8 KB each), and
PostgreSQL compresses each with pglz when it writes it: under load that was the database server's largest
cost per accept. lz4 compresses these about as well at a fraction of the CPU. Only values written from now
on are affected. A server without lz4 (PostgreSQL before 14, or built without it) keeps pglz; SQLite stores
text uncompressed and is not touched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:00:00
"""

from feedback_runtime.migrations import set_compression

revision = "0002"
down_revision = "0001"

_COLUMNS = (("revisions", "event"), ("outbox", "payload"))


def upgrade() -> None:
    set_compression(_COLUMNS, "lz4")


def downgrade() -> None:
    set_compression(_COLUMNS, "pglz")
