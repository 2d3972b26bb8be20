"""The tables of classify's store (the migrations in `migrations/` build exactly these): each response's latest
routing, and the corrections people made to routes."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# One row per response: the routing last stored (and published) for its newest revision.
routings = Table(
    "routings",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("routing", Integer, nullable=False),
    Column("correction_id", String(100), nullable=True),  # the correction this routing was made for
    Column("event", Text, nullable=False),  # JSON of the ResponseClassified
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every correction applied, once per id, with who, when and why: re-applied to each later revision.
corrections = Table(
    "corrections",
    metadata,
    Column("correction_id", String(100), primary_key=True),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),  # the revision the corrector saw
    Column("paragraph_id", String(64), nullable=False),
    Column("question", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("respondent_type", String(64), nullable=False),
    Column("add_sections", Text, nullable=False),  # JSON list of section ids
    Column("remove_sections", Text, nullable=False),  # JSON list of section ids
    Column("by_role", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("corrected_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    # JSON list: the sections the paragraph belonged to once this correction was applied (what precedents learn).
    Column("final_sections", Text, nullable=False),
    # When the routing made for it was published; None until then (a retry publishes it).
    Column("published_at", DateTime(timezone=True), nullable=True),
)
Index("ix_corrections_response", corrections.c.response_id, corrections.c.applied_at)
Index("ix_corrections_applied", corrections.c.applied_at)
