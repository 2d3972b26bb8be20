"""Publishing corrections: the RouteCorrected events the store keeps in its outbox go to `feedback.corrections.v1`
(keyed by the response id, so classify applies a statement's corrections in order), and are marked published
once the broker has acknowledged them.

A stored correction wakes the publisher at once, so the paragraph is re-routed within a second or two; it also
looks every few seconds, so an event left behind by a crash or a broker away goes out again (with the same
correction id, which classify applies once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from feedback_contracts.events import CORRECTIONS_TOPIC, EVENT_TYPE_HEADER, RouteCorrected

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from .correcting import CorrectionsStore

log = logging.getLogger("feedback.workspace.corrections")

# Events published per round; the rest wait for the next.
PUBLISH_BATCH = 100
Publish = Callable[[RouteCorrected], Awaitable[None]]


class CorrectionsPublisher:
    """Publishes the outbox when woken (`kick`) and every `interval` seconds."""

    def __init__(
        self,
        store: CorrectionsStore,
        publish: Publish,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 5.0,
    ) -> None:
        self.store = store
        self.publish = publish
        self.clock = clock
        self.interval = interval
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()

    def kick(self) -> None:
        """A correction was stored: publish now rather than at the next look."""
        self._woken.set()

    async def publish_pending(self) -> int:
        """Publish what the outbox holds, oldest first; stops at the first failure (tried again later)."""
        published = 0
        for event in await self.store.unpublished(PUBLISH_BATCH):
            try:
                await self.publish(event)
            except Exception:
                log.exception("could not publish correction %s; trying again later", event.correction_id)
                break
            await self.store.published(event.correction_id, self.clock())
            log.info(
                "correction %s of %s published", event.correction_id, event.response_id,
                extra={"response_id": event.response_id},
            )  # fmt: skip
            published += 1
        return published

    async def run(self) -> None:
        """Rounds until stopped; a failing round (the database away) is logged and tried again."""
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publishing corrections failed; trying again in %.0fs", self.interval)
            try:
                await asyncio.wait_for(self._woken.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()


def corrections_publisher(
    broker: KafkaBroker, store: CorrectionsStore, clock: Callable[[], datetime], interval: float
) -> CorrectionsPublisher:
    """The publisher as the workspace runs it: to `feedback.corrections.v1`, keyed by the response id."""
    publisher = broker.publisher(
        CORRECTIONS_TOPIC, title="RouteCorrected", description="Corrections of routes made in the workspace."
    )

    async def publish(event: RouteCorrected) -> None:
        # Returns once the broker has acknowledged it.
        await publisher.publish(
            event.model_dump_json(), key=event.response_id.encode(), headers={EVENT_TYPE_HEADER: "RouteCorrected"}
        )

    return CorrectionsPublisher(store, publish, clock, interval)
