"""Notify's consumers: each `ResponseClassified` is recorded as what each owner should hear, each `ItemsOverdue`
from the workspace as a reminder to deliver."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from feedback_contracts.events import ItemsOverdue, ResponseClassified

from .reminders import ReminderIntake
from .service import Dispatcher, Intake, NotifyMetrics

log = logging.getLogger("feedback.notify")


class ClassifiedHandler:
    """Records one revision's deliveries and digest items, then wakes the dispatcher that sends them.

    A store that cannot be reached raises, and the consumer delivers the record again after a pause."""

    def __init__(
        self, intake: Intake, dispatcher: Dispatcher, metrics: NotifyMetrics, now: Callable[[], datetime]
    ) -> None:
        self.intake = intake
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.now = now

    async def __call__(self, event: ResponseClassified) -> None:
        report = await self.intake.accept(event, self.now())
        # An owner's part of a revision seen before (a redelivery or a replay) is not recorded again.
        self.metrics.events.labels(
            "duplicate" if report.duplicates and not (report.jobs or report.digest_items) else "handled"
        ).inc()
        self.dispatcher.notify()
        log.info(
            "recorded response %s revision %d routing %d: %d deliveries, %d digest items",
            event.response_id, event.revision, event.routing, report.jobs, report.digest_items,
            extra={"response_id": event.response_id, "revision": event.revision},
        )  # fmt: skip


class RemindersHandler:
    """Queues one reminder or escalation (once per reminder id, however often it comes), then wakes the
    dispatcher. A store that cannot be reached raises, and the record comes again after a pause."""

    def __init__(
        self, intake: ReminderIntake, dispatcher: Dispatcher, metrics: NotifyMetrics, now: Callable[[], datetime]
    ) -> None:
        self.intake = intake
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.now = now

    async def __call__(self, event: ItemsOverdue) -> None:
        report = await self.intake.accept(event, self.now())
        self.metrics.reminders.labels(event.kind, "queued" if report.jobs else "duplicate").inc()
        self.dispatcher.notify()
        log.info(
            "%s %s for %s (%d items): %d deliveries queued%s",
            event.kind, event.reminder_id, report.recipient, event.item_count, report.jobs,
            "" if report.jobs else " (seen before, or nowhere to deliver)",
            extra={"owner": report.recipient},
        )  # fmt: skip
