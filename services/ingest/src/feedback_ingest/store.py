"""Ingest's durable store: responses, their revisions, contact data and the transactional outbox.

SQLite by default, PostgreSQL (asyncpg) when DATABASE_URL says so. `IngestStore` puts together, each in a
module of its own:
- tables.py: the tables (the migrations build them);
- rules.py: what is decided about a posted revision (accepted, duplicate, conflict), the rows it writes,
  the event it is published as (no contact data), its content hash; pure functions, no I/O;
- repository.py: the port the rest needs from a database; core.py: its SQL, once, in SQLAlchemy Core;
  postgres.py and sqlite.py: the adapters (sqlite.py explains the hot path it keeps on the standard
  library's driver, and why; checkpoints.py runs SQLite's checkpoints beside the accepts);
- group_commit.py: accepts committed in groups, every caller answered once its group committed;
- lease.py: the relay's lease (one publisher per database), fenced on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.responses import SurveyResponse
from feedback_runtime.db import async_database_url, is_sqlite, sqlite_file

from .group_commit import GroupCommit
from .lease import AdvisoryLease, FileLease, RelayLease
from .postgres import PostgresRepository
from .repository import Contact, OutboxRow, RelayLeaseLost, Repository, RevisionState, StoreError
from .rules import AcceptResult, ConflictError, Outcome, content_hash, legacy_content_hash
from .sqlite import SqliteRepository

__all__ = [
    "AcceptResult",
    "ConflictError",
    "Contact",
    "IngestStore",
    "OutboxRow",
    "Outcome",
    "RelayLeaseLost",
    "RevisionState",
    "StoreError",
    "content_hash",
    "legacy_content_hash",
]


class IngestStore:
    """Accepts revisions atomically with their outbox rows, and serves the relay and the read endpoints."""

    def __init__(self, url: str) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = is_sqlite(self.url)
        self.repository: Repository
        self._lease: RelayLease
        if self.is_sqlite:
            self.repository = sqlite = SqliteRepository(self.url)
            self.engine: AsyncEngine = sqlite.engine
            self._lease = FileLease(sqlite_file(self.url))
        else:
            self.repository = postgres = PostgresRepository(self.url)
            self.engine = postgres.engine
            self._lease = AdvisoryLease(self.url)
        self._group_commit = GroupCommit(self.repository)

    async def close(self) -> None:
        await self._group_commit.drain()  # answer what was accepted before closing
        # Not handed back: a relay stopped half-way through a batch may have left it publishing.
        await self._lease.close()
        await self.repository.close()

    async def ping(self) -> bool:
        return await self.repository.ping()

    # Accepting ----------------------------------------------------------------------------------

    async def accept(self, response: SurveyResponse, received_at: datetime) -> AcceptResult:
        """Store a revision and its outbox row durably, or say why it is a duplicate or a conflict.

        Returns once the transaction holding it committed; raises ConflictError, or the database's error
        when that transaction failed (then nothing of it was stored).
        """
        return await self._group_commit.accept(response, received_at)

    # The relay's side -------------------------------------------------------------------------

    async def take_relay_lease(self, on_accepted: Callable[[], None]) -> bool:
        """Try to become the one relay that publishes this database's outbox; False when another holds it.

        The lease ends with the process (or, on PostgreSQL, its session), so a standby takes over (lease.py).
        On PostgreSQL `on_accepted` is called whenever any replica commits accepts or a replay.
        """
        return await self._lease.take(on_accepted)

    async def relay_lease_held(self) -> bool:
        """Whether the lease is still this process's, verified before each batch the relay publishes."""
        return await self._lease.held()

    async def release_relay_lease(self) -> None:
        """Give the lease back (the relay stopped between batches): a standby may publish at once."""
        await self._lease.release()

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest unsent outbox rows, in the order they were accepted."""
        return await self.repository.unsent(limit)

    async def mark_sent(self, rows: list[OutboxRow], sent_at: datetime) -> None:
        """Mark rows sent (after the broker acknowledged them) and their revisions published. On PostgreSQL only
        while this relay's lease is current, checked in the same transaction: RelayLeaseLost otherwise (nothing
        marked; the lease is released and the rows stay for the relay that took over)."""
        if not rows:
            return
        try:
            await self.repository.mark_sent(rows, sent_at, self._lease.fencing_token())
        except RelayLeaseLost:
            await self._lease.release(hand_back=False)
            raise

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many outbox rows wait, and when the oldest of them was accepted."""
        return await self.repository.backlog()

    # Reads, erasure and replay ----------------------------------------------------------------

    async def revisions_of(self, response_id: str) -> list[RevisionState]:
        """Every stored revision of a response, oldest first."""
        return await self.repository.revisions_of(response_id)

    async def contact(self, response_id: str) -> Contact | None:
        return await self.repository.contact(response_id)

    async def erase_contact(self, response_id: str) -> bool:
        """Delete a response's contact data; the statement stays. False when there was none."""
        return await self.repository.erase_contact(response_id)

    async def exists(self, response_id: str) -> bool:
        return await self.repository.exists(response_id)

    async def latest_revisions(self) -> dict[str, int]:
        """Every response's latest accepted revision."""
        return await self.repository.latest_revisions()

    async def enqueue_latest(self, response_ids: list[str]) -> int:
        """Queue the latest revision of each response for publishing again; returns how many."""
        return await self.repository.enqueue_latest(response_ids)

    async def enqueue_replay(self, *, since: datetime | None = None, response_id: str | None = None) -> int:
        """Queue stored revisions for publishing again, in their original order; returns how many."""
        return await self.repository.enqueue_replay(since=since, response_id=response_id)
