"""The delivery log as notify's service layer sees it: the rows it reads and writes as named types, and the
port (`DeliveryLog`) a store implements. Nothing here knows SQL; `store.NotifyStore` is the implementation.

Each revision of a response is recorded in one transaction: the store reads every owner's snapshot of the
response, hands them to a pure decision (`alerts.decide`), and writes what it returns (snapshots, delivery
jobs, digest items) before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from .keys import DeliveryKey

Mode = Literal["immediate", "digest", "reminder"]
Status = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an owner received of a response: the revision and its routing (one higher after each correction),
    and their part of it (to compare the next one with)."""

    owner_id: str
    revision: int
    content: dict[str, Any]
    routing: int = 1

    def is_as_new_as(self, revision: int, routing: int) -> bool:
        """Whether this snapshot is of that routing of that revision or a later one: routings are ordered by
        (revision, routing), so an older one arriving late, or one arriving again, has nothing new."""
        return (self.revision, self.routing) >= (revision, routing)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A delivery to queue: an alert (new, update, withdrawn, moved), a digest, or a workspace reminder
    (reminder, escalation), to one owner on one channel."""

    key: DeliveryKey
    kind: str  # new, update, withdrawn, moved, digest, reminder, escalation
    payload: dict[str, Any] | str  # what to render: the Alert, Digest or ItemsOverdue, or already its JSON
    # When ingest received the statement (the digest: its oldest item; a moved paragraph's alert: when it was
    # corrected; a reminder: None).
    received_at: datetime | None

    @property
    def owner_id(self) -> str:
        return self.key.owner

    @property
    def channel(self) -> str:
        return self.key.channel

    @property
    def mode(self) -> Mode:
        return "digest" if self.key.is_digest else "reminder" if self.key.is_reminder else "immediate"


@dataclass(frozen=True, slots=True)
class Job:
    """A delivery claimed from the log, to be sent."""

    key: DeliveryKey
    mode: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    received_at: datetime | None
    created_at: datetime
    lease_until: datetime | None = None  # when this worker's claim on it lapses
    retry_from: datetime | None = None  # sent again by retry-dead at this time: retries give up counting from it

    @property
    def owner_id(self) -> str:
        return self.key.owner

    @property
    def channel(self) -> str:
        return self.key.channel


@dataclass(frozen=True, slots=True)
class NewDigestItem:
    """An owner's part of a routing of a revision, kept for their next digest."""

    owner_id: str
    response_id: str
    revision: int
    payload: dict[str, Any] | str  # the Alert, or already its JSON
    received_at: datetime | None = None
    routing: int = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed job: delivered, dead, retry (at `next_attempt_at`) or released (not tried)."""

    key: DeliveryKey
    status: Literal["delivered", "dead", "retry", "released"]
    error: str | None = None
    next_attempt_at: datetime | None = None
    at: datetime | None = None  # when it was delivered


@dataclass(frozen=True)
class Decision:
    """What one revision of a response means for its owners: the snapshots, jobs and digest items to write,
    and who was left out (their part unchanged: a snapshot only; or this revision already recorded)."""

    snapshots: list[Snapshot] = field(default_factory=list)
    jobs: list[NewJob] = field(default_factory=list)
    digest_items: list[NewDigestItem] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: int = 0


@dataclass(frozen=True)
class Recorded:
    """A revision as the log took it: the decision, and how many of its jobs and digest items were new."""

    decision: Decision
    jobs: int
    digest_items: int


Decide = Callable[[Mapping[str, Snapshot]], Decision]
BuildDigest = Callable[[list[dict[str, Any]]], dict[str, Any]]


class DeliveryLog(Protocol):
    """Notify's durable state, as the service layer uses it."""

    async def record_revision(self, response_id: str, decide: Decide, now: datetime) -> Recorded:
        """In one transaction: each owner's snapshot of the response (by owner id) to `decide`, then what it
        decided written (a job or digest item already in the log is not added again)."""
        ...

    async def queue(self, new: list[NewJob], now: datetime) -> int:
        """Queue deliveries whose keys are not in the log yet (sent, due or dead); how many were new."""
        ...

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Job]:
        """Lease up to `limit` due jobs, soonest due first; nobody else takes them until the lease lapses."""
        ...

    async def settle(self, outcomes: list[Outcome], now: datetime) -> None:
        """Record what became of claimed jobs, in one transaction, ending their leases."""
        ...

    async def requeue_dead(self, now: datetime, owner_id: str | None = None, since: datetime | None = None) -> int:
        """Make dead deliveries (an owner's, created at or after `since`) due again with a fresh start."""
        ...

    async def counts(self) -> dict[str, int]:
        """Pending deliveries ("pending") and digest items waiting for a digest ("digest_items_pending")."""
        ...

    async def oldest_pending_items(self) -> dict[str, datetime]:
        """Per owner with items waiting for a digest, when the oldest of them arrived at ingest."""
        ...

    async def owners_with_pending_items(self) -> list[str]: ...

    async def digest_exists(self, keys: list[DeliveryKey]) -> bool:
        """Whether any of these digest deliveries is in the log."""
        ...

    async def create_digest(
        self, owner_id: str, digest_id: str, channels: list[str], now: datetime, build: BuildDigest
    ) -> int:
        """Gather the owner's pending items into one digest job per channel, in one transaction; how many items
        (0 when none waits: no empty digest)."""
        ...
