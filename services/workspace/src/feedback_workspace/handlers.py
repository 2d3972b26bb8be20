"""The workspace's consumer: each classified revision becomes (or updates) the owners' items."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from feedback_contracts.events import ResponseClassified

from .metrics import WorkspaceMetrics
from .store import WorkspaceStore

log = logging.getLogger("feedback.workspace")


class ClassifiedHandler:
    """Records one revision; a store that cannot be reached raises, and the record comes again after a pause."""

    def __init__(self, store: WorkspaceStore, metrics: WorkspaceMetrics, now: Callable[[], datetime]) -> None:
        self.store = store
        self.metrics = metrics
        self.now = now

    async def __call__(self, event: ResponseClassified) -> None:
        recorded = await self.store.record(event, self.now())
        self.metrics.events.labels("recorded" if recorded.applied else "duplicate").inc()
        log.info(
            "response %s revision %d: %d new items, %d kept, %d changed, %d withdrawn%s",
            event.response_id, event.revision, recorded.created, recorded.carried, recorded.changed,
            recorded.withdrawn, "" if recorded.applied else " (seen before: nothing changed)",
            extra={"response_id": event.response_id, "revision": event.revision},
        )  # fmt: skip
