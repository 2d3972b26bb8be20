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

from alembic import op

revision = "0002"
down_revision = "0001"

_COLUMNS = (("revisions", "event"), ("outbox", "payload"))


def _offers(method: str) -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    offered = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()  # no such setting before PostgreSQL 14
    return bool(offered) and method in offered


def upgrade() -> None:
    if _offers("lz4"):
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _offers("pglz"):
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz")
