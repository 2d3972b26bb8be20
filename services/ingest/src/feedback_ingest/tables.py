"""Ingest's tables: responses, their revisions, contact data, the transactional outbox and the relay's lease.

Contact data live in their own table so that erasing them leaves the statement. A revision's event (~8 KB) is
stored once, in `revisions`: the outbox names the revision it queues, and when a revision was first published
is a small row of `publications`, so marking rows sent rewrites no event (SQLite rewrites a whole row to set
one of its columns). The migrations (migrations/versions/) build exactly this schema; migrations/env.py
compares against `metadata`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

responses = Table(
    "responses",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("survey_id", String(128), nullable=False),
    Column("latest_revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

revisions = Table(
    "revisions",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("replaces_revision", Integer, nullable=True),
    Column("source", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("event", Text, nullable=False),
)

# When each revision was first published (the broker acknowledged it); none for a revision not yet published.
publications = Table(
    "publications",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("first_name", String(300), nullable=True),
    Column("last_name", String(300), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)

# One row (id 1): the relay lease's fencing token on PostgreSQL (see lease.py). Taking the lease adds one to
# `epoch`; marking rows sent checks, in its own transaction, that the epoch is still the marking relay's.
# `publishing_until` is how long the holder's current batch may still be publishing (NULL: handed back).
relay_lease = Table(
    "relay_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("holder", String(255), nullable=True),
    Column("taken_at", DateTime(timezone=True), nullable=True),
    Column("publishing_until", DateTime(timezone=True), nullable=True),
)
RELAY_LEASE_ROW = 1
