"""Claimed jobs on their way out: `concurrency` workers sending, and a recorder writing their outcomes to the
delivery log in groups (one transaction each)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from .delivery_log import DeliveryLog, Job, Outcome

log = logging.getLogger("feedback.notify")

# How long the recorder may hold finished outcomes back while sends under way are about to add theirs.
GROUP_WAIT_S = 0.02


class DeliveryPipeline:
    """A queue, `concurrency` workers each running `attempt` on a job, and a recorder that settles outcomes in
    the delivery log in one transaction per group: what has come in while the previous write ran, and what the
    sends still under way add in the next moments (unless every worker's slot is already taken). `recorded`
    hears of each outcome once it is in the log."""

    def __init__(
        self,
        delivery_log: DeliveryLog,
        attempt: Callable[[Job], Awaitable[Outcome]],
        recorded: Callable[[Job, Outcome], None],
        clock: Callable[[], datetime],
        *,
        concurrency: int,
        batch_size: int,
    ) -> None:
        self.log, self.attempt, self.recorded, self.clock = delivery_log, attempt, recorded, clock
        self.batch_size = batch_size
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.outstanding = 0  # claimed and not yet recorded
        self.sending = 0  # workers in the middle of an attempt
        self.unrecorded = asyncio.Semaphore(concurrency)  # being sent, or sent and not yet recorded
        self.outcomes: list[tuple[Job, Outcome, bool]] = []  # ..., and whether a worker's slot goes with it
        self.outcomes_waiting = asyncio.Event()
        self.changed = asyncio.Event()  # set whenever outcomes have been recorded
        self.tasks = [asyncio.create_task(self._work(), name="notify-worker") for _ in range(concurrency)]
        self.tasks.append(asyncio.create_task(self._record(), name="notify-recorder"))

    def room(self) -> int:
        return self.batch_size - self.outstanding

    def submit(self, jobs: list[Job]) -> int:
        for job in jobs:
            self.queue.put_nowait(job)
        self.outstanding += len(jobs)
        return len(jobs)

    async def wait_for_room(self, stopping: asyncio.Event) -> None:
        self.changed.clear()
        waits = [asyncio.create_task(stopping.wait()), asyncio.create_task(self.changed.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def drained(self) -> None:
        while self.outstanding:
            self.changed.clear()
            await self.changed.wait()

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            await self.unrecorded.acquire()
            self.sending += 1
            try:
                outcome = await self.attempt(job)
            except Exception as exc:  # attempt() answers for its own failures; this keeps the worker alive regardless
                log.exception("delivery %s failed unexpectedly", job.key)
                outcome = Outcome(job.key, "dead", f"{type(exc).__name__}: {exc}")
            finally:
                self.sending -= 1
            self.outcomes.append((job, outcome, True))
            self.outcomes_waiting.set()

    async def _record(self) -> None:
        while True:
            await self.outcomes_waiting.wait()
            self.outcomes_waiting.clear()
            if not self.outcomes:
                continue
            await self._gather_group()
            batch, self.outcomes = self.outcomes, []
            while True:
                try:
                    await self.log.settle([outcome for _, outcome, _ in batch], self.clock())
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Keep the outcomes (and the workers' slots) until the log takes them: a job recorded late
                    # is still sent once; one never recorded would be sent again when its lease lapses.
                    log.exception("could not record %d delivery outcomes; trying again", len(batch))
                    await asyncio.sleep(1.0)
            for job, outcome, slot in batch:
                if slot:
                    self.unrecorded.release()
                try:
                    self.recorded(job, outcome)
                except Exception:
                    log.exception("could not report delivery %s", job.key)
            delivered = sum(1 for _, outcome, _ in batch if outcome.status == "delivered")
            if delivered:
                # One line per group rather than per alert: at hundreds of alerts a second the log itself
                # would cost a good share of a core. Each alert's own line is at DEBUG; failures are at
                # WARNING and ERROR, one line each.
                log.info("delivered %d alerts", delivered)
            self.outstanding -= len(batch)
            self.changed.set()

    async def _gather_group(self) -> None:
        """Wait (briefly) for the sends under way, so that one transaction records them all: a statement's alerts
        go out together, and a transaction per alert cost more than sending it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GROUP_WAIT_S
        while self.sending and not self.unrecorded.locked():
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.outcomes_waiting.wait(), left)
            except TimeoutError:
                return
            self.outcomes_waiting.clear()

    async def close(self) -> None:
        """Hand back what was claimed but not started, let what is under way finish and be recorded, stop."""
        while not self.queue.empty():
            job = self.queue.get_nowait()
            self.outcomes.append((job, Outcome(job.key, "released"), False))
            self.outcomes_waiting.set()
        try:
            await self.drained()
        finally:
            await self.abort()

    async def abort(self) -> None:
        """Stop at once: what was claimed and not recorded goes out again once its lease lapses."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
