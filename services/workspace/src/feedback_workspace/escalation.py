"""Escalation: an item still `uusi` after WORKSPACE_REMINDER_DAYS working days gets one reminder to its owner;
still `uusi` WORKSPACE_ESCALATION_DAYS working days after that, the strategy office is told, once.

Both go out through notify (so they are delivered once, retried and logged like any alert) as `ItemsOverdue`
events on `feedback.reminders.v1`, one per recipient and round: an owner's overdue items in one reminder, every
item to escalate in one notice to the office. Each round, in one transaction, the store marks the items
(reminded_at, escalated_at), writes the item's history ('reminder', 'escalation') and keeps the events in an
outbox; the events are then published, and marked published once the broker has acknowledged them. A crash
in between publishes them again with the same reminder id, which notify delivers only once.

An item that becomes `uusi` again (its paragraphs changed, or its owner set it back) starts over: its next
reminder counts from then. Items acknowledged (read, handled, not mine) or withdrawn are never reminded of.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from feedback_contracts.events import EVENT_TYPE_HEADER, REMINDERS_TOPIC, ItemsOverdue, OverdueItem
from feedback_runtime.settings import split_tokens

from .items import NO_SECTION
from .working_days import add_working_days

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from feedback_contracts.owners import OwnersDirectory

    from .metrics import WorkspaceMetrics
    from .settings import WorkspaceSettings
    from .store import WorkspaceStore

log = logging.getLogger("feedback.workspace.escalation")

Kind = Literal["reminder", "escalation"]
# The most items one event lists (the count covers them all): keeps a message far below Kafka's limit.
MAX_LISTED = 500
# Events published per round; the rest wait for the next.
PUBLISH_BATCH = 100


@dataclass(frozen=True)
class Policy:
    """When to remind and whom to tell."""

    reminder_days: int
    escalation_days: int
    office_owner: str
    workspace_url: str


@dataclass(frozen=True)
class Candidate:
    """An item still `uusi` that may be overdue: what the decision needs and what the event tells."""

    id: int
    owner_id: str
    response_id: str
    section_id: str
    section_title: str | None
    organization: str
    respondent_type: str
    paragraph_count: int
    state_changed_at: datetime  # when it arrived or became new again
    reminded_at: datetime | None
    escalated_at: datetime | None

    def reminder_due(self, now: datetime, days: int) -> bool:
        """Not yet reminded since it became new, and new for `days` working days."""
        reminded = self.reminded_at is not None and self.reminded_at >= self.state_changed_at
        return not reminded and add_working_days(self.state_changed_at, days) <= now

    def escalation_due(self, now: datetime, days: int) -> bool:
        """Reminded since it became new, not escalated since, and `days` working days have passed."""
        if self.reminded_at is None or self.reminded_at < self.state_changed_at:
            return False
        if self.escalated_at is not None and self.escalated_at >= self.reminded_at:
            return False
        return add_working_days(self.reminded_at, days) <= now

    def overdue_item(self) -> OverdueItem:
        return OverdueItem(
            item_id=self.id,
            owner_id=self.owner_id,
            response_id=self.response_id,
            section_id=self.section_id if self.section_id != NO_SECTION else None,
            section_title=self.section_title,
            organization=self.organization,
            respondent_type=self.respondent_type,  # type: ignore[arg-type]
            paragraph_count=max(1, self.paragraph_count),
            waiting_since=self.state_changed_at,
            reminded_at=self.reminded_at,
        )


@dataclass(frozen=True)
class Notice:
    """One event to publish, and every item it is about (the event lists at most MAX_LISTED of them)."""

    event: ItemsOverdue
    item_ids: tuple[int, ...]

    @property
    def kind(self) -> Kind:
        return self.event.kind


def new_reminder_id(kind: Kind) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def plan(
    candidates: Iterable[Candidate],
    now: datetime,
    policy: Policy,
    new_id: Callable[[Kind], str] = new_reminder_id,
) -> list[Notice]:
    """The reminders (one per owner) and the escalation (one, to the office) that are due now. Pure."""
    to_remind: dict[str, list[Candidate]] = defaultdict(list)
    to_escalate: list[Candidate] = []
    for item in candidates:
        if item.reminder_due(now, policy.reminder_days):
            to_remind[item.owner_id].append(item)
        elif item.escalation_due(now, policy.escalation_days):
            to_escalate.append(item)
    notices = [
        _notice("reminder", owner, items, policy.reminder_days, now, policy, new_id)
        for owner, items in sorted(to_remind.items())
    ]
    if to_escalate:
        notices.append(
            _notice("escalation", policy.office_owner, to_escalate, policy.escalation_days, now, policy, new_id)
        )
    return notices


def _notice(
    kind: Kind,
    recipient: str,
    items: list[Candidate],
    days: int,
    now: datetime,
    policy: Policy,
    new_id: Callable[[Kind], str],
) -> Notice:
    ordered = sorted(items, key=lambda i: (i.state_changed_at, i.id))  # longest waiting first
    event = ItemsOverdue(
        reminder_id=new_id(kind),
        kind=kind,
        recipient_owner_id=recipient,
        working_days=days,
        items=tuple(i.overdue_item() for i in ordered[:MAX_LISTED]),
        item_count=len(ordered),
        workspace_url=policy.workspace_url.rstrip("/"),
        created_at=now,
    )
    return Notice(event, tuple(i.id for i in ordered))


@dataclass
class RoundReport:
    """What one round did."""

    recorded: list[Notice] = field(default_factory=list)
    published: int = 0
    failed: int = 0


Publish = Callable[[ItemsOverdue], Awaitable[None]]


class EscalationWorker:
    """Every `interval` seconds: records what is overdue (store), then publishes what the outbox holds."""

    def __init__(
        self,
        store: WorkspaceStore,
        publish: Publish,
        policy: Callable[[], Policy],
        metrics: WorkspaceMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 60.0,
    ) -> None:
        self.store = store
        self.publish = publish
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self.interval = interval
        self.rounds = 0  # rounds finished (failed ones too): what a test waits on after moving the clock
        self._stopping = asyncio.Event()

    async def run_once(self) -> RoundReport:
        """One round: record the reminders and escalations due now, then publish every unpublished one."""
        now = self.clock()
        policy = self.policy()
        report = RoundReport(recorded=await self.store.record_overdue(now, policy, plan))
        for notice in report.recorded:
            log.info(
                "%s %s for %s: %d items", notice.kind, notice.event.reminder_id, notice.event.recipient_owner_id,
                len(notice.item_ids), extra={"owner": notice.event.recipient_owner_id},
            )  # fmt: skip
        for event in await self.store.unpublished_reminders(PUBLISH_BATCH):
            try:
                await self.publish(event)
            except Exception:
                # The broker is away: the event stays in the outbox and goes out in a later round.
                log.exception("could not publish %s %s; trying again later", event.kind, event.reminder_id)
                report.failed += 1
                break
            if await self.store.reminder_published(event.reminder_id, self.clock()):
                self.metrics.escalations.labels(event.kind).inc()
            report.published += 1
        return report

    async def run(self) -> None:
        """Rounds until stopped; a failing round (the database away) is logged and tried again next time."""
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("escalation round failed; trying again in %.0fs", self.interval)
            self.rounds += 1
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()


def office_owner(configured: str, directory: OwnersDirectory) -> str:
    """The strategy office's role that is told: the first of WORKSPACE_OFFICE_OWNERS, else the default owner."""
    return (split_tokens(configured) or (directory.default_owner,))[0]


def escalation_worker(
    broker: KafkaBroker,
    store: WorkspaceStore,
    settings: WorkspaceSettings,
    owners: Callable[[], OwnersDirectory],
    metrics: WorkspaceMetrics,
    clock: Callable[[], datetime],
) -> EscalationWorker:
    """The worker as the workspace runs it: publishing to `feedback.reminders.v1`, keyed by the recipient."""
    publisher = broker.publisher(
        REMINDERS_TOPIC, title="ItemsOverdue", description="Reminders to owners and notices to the strategy office."
    )

    async def publish(event: ItemsOverdue) -> None:
        # Returns once the broker has acknowledged it (acks from all in-sync replicas).
        await publisher.publish(
            event.model_dump_json(),
            key=event.recipient_owner_id.encode(),
            headers={EVENT_TYPE_HEADER: "ItemsOverdue"},
        )

    def policy() -> Policy:
        return Policy(
            reminder_days=settings.workspace_reminder_days,
            escalation_days=settings.workspace_escalation_days,
            office_owner=office_owner(settings.workspace_office_owners, owners()),
            workspace_url=settings.workspace_base_url,
        )

    return EscalationWorker(store, publish, policy, metrics, clock, settings.workspace_escalation_interval_seconds)
