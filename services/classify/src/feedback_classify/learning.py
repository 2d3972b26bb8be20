"""Corrections become precedents: a paragraph a person moved routes the next one like it.

A replica learns the corrections it applies at once (`learn`), every stored correction at start, and, every
`interval_seconds`, the corrections other replicas applied since it last looked. Each correction is learnt
once, and the latest correction of a paragraph is the one its precedent follows, whatever order they are
learnt in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from feedback_contracts.events import RouteCorrected

from .precedents import Precedent, PrecedentIndex
from .store import ClassifyStore

log = logging.getLogger("feedback.classify")

# Another replica's transaction may commit a while after the time it stamped on its correction: each look
# reads this far behind the newest correction learnt so far (those learnt already are skipped).
COMMIT_MARGIN = timedelta(minutes=1)


def correction_precedent(correction: RouteCorrected, final_sections: tuple[str, ...]) -> Precedent:
    """The corrected paragraph as a precedent: the sections it finally belonged to."""
    return Precedent(
        text=correction.text,
        question=correction.question,
        respondent_type=correction.respondent_type,
        sections=final_sections,
        source="correction",
        response_id=correction.response_id,
        paragraph_id=correction.paragraph_id,
    )


class Learning:
    """Keeps the service's one precedent index up to date with the corrections in the store."""

    def __init__(self, precedents: PrecedentIndex, store: ClassifyStore, interval_seconds: float) -> None:
        self.precedents = precedents
        self.store = store
        self.interval_seconds = interval_seconds
        self._learnt: set[str] = set()
        self._latest: dict[tuple[str, str], datetime] = {}  # per paragraph: when its newest correction applied
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def learn(self, correction: RouteCorrected, final_sections: tuple[str, ...], applied_at: datetime) -> None:
        """Learn a correction (applied at `applied_at`) once."""
        if correction.correction_id in self._learnt:
            return
        self._learnt.add(correction.correction_id)
        self._since = max(self._since or applied_at, applied_at)
        paragraph = (correction.response_id, correction.paragraph_id)
        if paragraph in self._latest and self._latest[paragraph] > applied_at:
            return  # a later correction of the paragraph is learnt already: that is where it belongs
        self._latest[paragraph] = applied_at
        self.precedents.add(correction_precedent(correction, final_sections))

    async def catch_up(self) -> int:
        """Learn the stored corrections not learnt yet (all of them the first time); how many there were."""
        since = self._since - COMMIT_MARGIN if self._since is not None else None
        new = [
            item for item in await self.store.learned_since(since) if item.correction.correction_id not in self._learnt
        ]
        for item in new:
            self.learn(item.correction, item.final_sections, item.applied_at)
        return len(new)

    async def start(self) -> None:
        count = await self.catch_up()
        log.info("learned %d corrections as precedents; %d precedents in all", count, len(self.precedents))
        self._task = asyncio.create_task(self._poll(), name="classify-learning")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.catch_up()
            except Exception:
                # The store may be briefly unreachable: the next look catches up.
                log.warning("could not read corrections to learn from", exc_info=True)
