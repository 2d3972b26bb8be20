"""The workspace's store: statements as classified, the owners' items and what happened to them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = BigInteger().with_variant(Integer, "sqlite")

# One row per statement: what the pages list and filter by.
statements = Table(
    "statements",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("survey_id", String(128), nullable=False),
    Column("latest_revision", Integer, nullable=False),
    Column("organization", String(300), nullable=False),
    Column("respondent_type", String(64), nullable=False),
    Column("first_received_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Every classified revision, whole: the statement page shows any of them and what changed between them.
revisions = Table(
    "revisions",
    metadata,
    Column("response_id", String(128), ForeignKey("statements.response_id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("classified_at", DateTime(timezone=True), nullable=False),
    # The event of the revision's latest routing: 1 for its first, one higher each time a correction re-routed it.
    Column("routing", Integer, nullable=False, server_default="1"),
    Column("event", Text, nullable=False),
)

# One item per owner, statement and section: the owner's unit of work. A new revision updates it in place.
items = Table(
    "items",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("owner_id", String(64), nullable=False),
    Column("response_id", String(128), ForeignKey("statements.response_id"), nullable=False),
    # '' for the paragraphs that matched no section (the default owner's queue).
    Column("section_id", String(32), nullable=False),
    Column("section_title", String(300), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("respondent_type", String(64), nullable=False),
    Column("organization", String(300), nullable=False),
    # The routed paragraphs of this revision: [{"index", "question", "text", "score", "reasons"}].
    Column("paragraphs", Text, nullable=False),
    Column("paragraphs_digest", String(64), nullable=False),
    Column("paragraph_count", Integer, nullable=False),
    # Lowercased text of the paragraphs and the organisation, for the free-text filter.
    Column("search_text", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("withdrawn", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("state_changed_at", DateTime(timezone=True), nullable=False),
    Column("first_acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("reminded_at", DateTime(timezone=True), nullable=True),
    Column("escalated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("owner_id", "response_id", "section_id", name="uq_items_owner_response_section"),
)
# An owner's inbox in page order (newest first), all of it or one state; each also covers the list's counts
# (migration 0003; bench/workspace.py measures them).
Index("ix_items_owner_page", items.c.owner_id, items.c.withdrawn, items.c.updated_at, items.c.id)
Index("ix_items_owner_state_page", items.c.owner_id, items.c.withdrawn, items.c.state, items.c.updated_at, items.c.id)
Index("ix_items_state_updated", items.c.state, items.c.updated_at)
Index("ix_items_response", items.c.response_id)

# What happened to each item, newest last: state changes with their notes, new revisions, reminders.
item_events = Table(
    "item_events",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("item_id", ID, ForeignKey("items.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    # The owner role that acted, or 'system' for what the pipeline or the escalation did.
    Column("actor", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("note", Text, nullable=True),
    Column("revision", Integer, nullable=True),
    # The correction that moved paragraphs here or away ('moved_in', 'moved_out').
    Column("correction_id", String(100), nullable=True),
)
Index("ix_item_events_item", item_events.c.item_id, item_events.c.id)

# The outbox of reminders and escalations: written in the transaction that marks the items, published to
# feedback.reminders.v1 afterwards (again after a crash; notify delivers each id once).
reminders = Table(
    "reminders",
    metadata,
    Column("id", String(100), primary_key=True),  # the event's reminder_id
    Column("kind", String(16), nullable=False),  # reminder, escalation
    Column("recipient_owner_id", String(64), nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("event", Text, nullable=False),  # the ItemsOverdue event's JSON, published as it is
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
)
Index("ix_reminders_unpublished", reminders.c.published_at, reminders.c.created_at)

# Corrections of routes made in the workspace: who, when and why, as the corrector made them. Classify applies them
# and tells, in every later routing of the statement, whether each still applies (ResponseClassified.corrections).
corrections = Table(
    "corrections",
    metadata,
    Column("id", String(100), primary_key=True),  # the event's correction_id
    Column("response_id", String(128), ForeignKey("statements.response_id"), nullable=False),
    Column("revision", Integer, nullable=False),  # the revision the corrector saw
    Column("paragraph_id", String(64), nullable=False),
    Column("question", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("added", Text, nullable=False),  # JSON list of section ids
    Column("removed", Text, nullable=False),  # JSON list of section ids
    Column("by_role", String(64), nullable=False),
    Column("by_office", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("corrected_at", DateTime(timezone=True), nullable=False),
    Column("via", String(16), nullable=False),  # page, api
)
Index("ix_corrections_response", corrections.c.response_id, corrections.c.corrected_at)
Index("ix_corrections_corrected_at", corrections.c.corrected_at)

# The outbox of corrections: written in the transaction that stores the correction, published to
# feedback.corrections.v1 afterwards (again after a crash; classify applies each id once).
correction_outbox = Table(
    "correction_outbox",
    metadata,
    Column("id", String(100), primary_key=True),  # the event's correction_id
    Column("response_id", String(128), nullable=False),
    Column("event", Text, nullable=False),  # the RouteCorrected event's JSON, published as it is
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
)
Index("ix_correction_outbox_unpublished", correction_outbox.c.published_at, correction_outbox.c.created_at)

# Every owner each paragraph of a statement was ever routed to (any revision, any routing): an owner may correct
# the routes of those paragraphs only.
paragraph_owners = Table(
    "paragraph_owners",
    metadata,
    Column("response_id", String(128), ForeignKey("statements.response_id"), primary_key=True),
    Column("paragraph_id", String(64), primary_key=True),
    Column("owner_id", String(64), primary_key=True),
)
