"""The store's port: what ingest needs from its database, whichever it is. Adapters: sqlite.py and postgres.py,
both on the SQLAlchemy Core statements of core.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .rules import AcceptResult, ConflictError, PostedRevision


@dataclass(frozen=True)
class RevisionState:
    response_id: str
    survey_id: str
    revision: int
    replaces_revision: int | None
    source: str
    submitted_at: datetime
    received_at: datetime
    published_at: datetime | None

    @property
    def state(self) -> str:
        return "published" if self.published_at else "accepted"


@dataclass(frozen=True)
class Contact:
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    response_id: str
    revision: int
    topic: str
    payload: bytes  # the revision's event as published: JSON, UTF-8
    created_at: datetime


class StoreError(Exception):
    """A write failed in the database. The message names the error, not the values written."""


class RelayLeaseLost(Exception):
    """The relay's lease is no longer this process's: another relay took it over, so the rows were not marked."""


class GroupWriter(Protocol):
    """Writes groups of posted revisions, one transaction each, on what it holds (PostgreSQL: a connection)."""

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
        """Decide and store a group in one transaction; one outcome per revision, in order. Raises (and stores
        none of it) when the transaction failed: StoreError for the database's errors."""
        ...

    async def close(self) -> None: ...


class Repository(Protocol):
    # How many groups may be written at once.
    writers: int

    async def writer(self) -> GroupWriter:
        """A writer to keep while there is work; raises when the database cannot be reached."""
        ...

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
        """A group in a transaction of its own."""
        ...

    # The relay's side.
    async def unsent(self, limit: int) -> list[OutboxRow]: ...

    async def mark_sent(self, rows: Sequence[OutboxRow], sent_at: datetime, epoch: int | None) -> None:
        """Mark rows sent and their revisions published. `epoch`: the relay lease's fencing token, checked in
        the same transaction (RelayLeaseLost, nothing marked, when it is no longer current); None: unchecked."""
        ...

    async def backlog(self) -> tuple[int, datetime | None]: ...

    # Reads, erasure and replay.
    async def revisions_of(self, response_id: str) -> list[RevisionState]: ...

    async def contact(self, response_id: str) -> Contact | None: ...

    async def erase_contact(self, response_id: str) -> bool: ...

    async def exists(self, response_id: str) -> bool: ...

    async def latest_revisions(self) -> dict[str, int]: ...

    async def enqueue_latest(self, response_ids: Sequence[str]) -> int: ...

    async def enqueue_replay(self, *, since: datetime | None, response_id: str | None) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
