"""Accepts committed in groups: the accepts waiting when a writer is free go into ONE transaction, each still
decided on its own (new revision, identical repeat, conflict) against what is stored and what the group
stored before it, and every caller hears its answer only once that transaction committed.

It knows the repository's port only (repository.Repository): how many writers it allows, a writer to keep
while there is work, a group in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from feedback_contracts.responses import SurveyResponse

from .repository import GroupWriter, Repository
from .rules import AcceptResult, PostedRevision

log = logging.getLogger("feedback.ingest.store")

# How many waiting accepts one transaction takes at most.
MAX_GROUP = 256
# With several writers: the smallest share of the waiting accepts one of them takes when the others could
# take the rest.
MIN_SHARE = 16
# A single writer (SQLite) that has just committed a group waits up to this long, while fewer accepts wait than
# half of its last two groups, for the next requests of the clients it answered. In a closed loop they come back
# within a millisecond or two of each other; without the wait the first of them got a COMMIT (and a wait for the
# disk) of its own: at 16 connections groups of 1-2 alternated with groups of 14-15, 8 on average.
GATHER_S = 0.002


@dataclass
class _Pending:
    """One accept waiting for a writer: what was posted and the future its request awaits."""

    posted: PostedRevision
    future: asyncio.Future[AcceptResult] = field(repr=False)


class GroupCommit:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository
        self._waiting: list[_Pending] = []
        self._writers = 0
        # While the writer gathers: the future an accept completes once `_enough_at` of them wait.
        self._enough: asyncio.Future[None] | None = None
        self._enough_at = 0

    async def accept(self, response: SurveyResponse, received_at: datetime) -> AcceptResult:
        """Store a revision and its outbox row durably, or say why it is a duplicate or a conflict.

        Returns once the transaction holding it committed; raises ConflictError, or the database's error
        when that transaction failed (then nothing of it was stored).
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(PostedRevision.of(response, received_at), loop.create_future())
        self._waiting.append(pending)
        if self._enough is not None and len(self._waiting) >= self._enough_at and not self._enough.done():
            self._enough.set_result(None)
        self._spawn_writer(loop)
        return await pending.future

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (up to `timeout`) until the groups being written are committed and answered."""
        deadline = time.monotonic() + timeout
        while self._writers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _spawn_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiting and self._writers < self._repository.writers:
            self._writers += 1
            loop.create_task(self._write_waiting(), name="ingest-group-commit")

    async def _write_waiting(self) -> None:
        """Commit what waits, a group per transaction, until nothing does; on the writer it keeps meanwhile."""
        try:
            if not self._waiting:  # another writer took it all meanwhile
                return
            try:
                writer = await self._repository.writer()
            except Exception as exc:
                # The database cannot be reached: this share's requests hear so (503) rather than wait.
                log.warning("cannot reach the database to store accepts (%s)", _describe(exc))
                for pending in self._take():
                    _answer(pending, exc)
                return
            try:
                # The last two groups' sizes: in a closed loop half of the clients wait while the other half's
                # group commits, so half of both is what should gather.
                previous = last = 0
                while True:
                    half = (previous + last) // 2
                    if half > 1 and self._repository.writers == 1 and len(self._waiting) < half:
                        await self._gather(half)
                    if not self._waiting:
                        break
                    group = self._take()
                    previous, last = last, len(group)
                    if not await self._commit_group(group, writer):
                        break  # its connection may be broken: the next writer takes a fresh one
            finally:
                await writer.close()
        except Exception as exc:
            log.error("the group commit writer failed (%s)", _describe(exc))
        finally:
            self._writers -= 1
            self._spawn_writer(asyncio.get_running_loop())

    async def _gather(self, count: int) -> None:
        """Wait until `count` accepts wait, or GATHER_S passed."""
        self._enough, self._enough_at = asyncio.get_running_loop().create_future(), count
        try:
            await asyncio.wait({self._enough}, timeout=GATHER_S)
        finally:
            self._enough = None

    def _take(self) -> list[_Pending]:
        """The next group. With several writers, a share of what waits, so the others take the rest at the same
        time (in a closed loop, requests come in waves: one writer taking a whole wave leaves the rest idle)."""
        share = -(-len(self._waiting) // self._repository.writers)
        size = min(MAX_GROUP, max(MIN_SHARE, share))
        group = self._waiting[:size]
        del self._waiting[:size]
        self._spawn_writer(asyncio.get_running_loop())
        return group

    async def _commit_group(self, group: list[_Pending], writer: GroupWriter) -> bool:
        """Store a group and answer each of its requests; False when its transaction failed."""
        try:
            outcomes = await writer.accept([p.posted for p in group])
        except Exception as exc:
            if len(group) == 1:
                _answer(group[0], exc)
                return False
            # What one request sent must not fail the others: each again, on its own.
            log.warning("a group of %d accepts failed (%s); retrying them one by one", len(group), _describe(exc))
            for pending in group:
                try:
                    (outcome,) = await self._repository.accept([pending.posted])
                except Exception as single:
                    outcome = single
                _answer(pending, outcome)
            return False
        for pending, outcome in zip(group, outcomes, strict=True):
            _answer(pending, outcome)
        return True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _answer(pending: _Pending, outcome: AcceptResult | Exception) -> None:
    if pending.future.done():  # the request went away; what it sent is kept all the same
        return
    if isinstance(outcome, Exception):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)
