"""The tables of notify's delivery log (the migrations in `migrations/` build exactly these)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

snapshots = Table(
    "snapshots",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("owner_id", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("content", Text, nullable=False),  # JSON: the paragraphs this owner received of that revision
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Which routing of the revision: one higher each time a correction routes it again.
    Column("routing", Integer, nullable=False, server_default="1"),
)

jobs = Table(
    "deliveries",
    metadata,
    Column("key", String(400), primary_key=True),  # DeliveryKey.text
    Column("owner_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # JSON of the Alert to render
    Column("status", String(16), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    # A worker claims a job before sending it, so two replicas never send the same job at once.
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # When `feedback notify retry-dead` made it due again: its give-up clock starts there, not at creation.
    Column("retry_from", DateTime(timezone=True), nullable=True),
)
Index("ix_deliveries_due", jobs.c.status, jobs.c.next_attempt_at)

digest_items = Table(
    "digest_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(64), nullable=False),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("payload", Text, nullable=False),  # JSON of the owner's part of that revision
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("digest_key", String(400), nullable=True),  # keys.digest_items_key once in a digest
    # When ingest received the statement: the digest it belongs to (created_at is when notify recorded it).
    Column("received_at", DateTime(timezone=True), nullable=True),
    # Which routing of the revision: a correction's re-routing adds an item of its own.
    Column("routing", Integer, nullable=False, server_default="1"),
    UniqueConstraint("owner_id", "response_id", "revision", "routing", name="uq_digest_item"),
)
Index("ix_digest_items_pending", digest_items.c.owner_id, digest_items.c.digest_key)
