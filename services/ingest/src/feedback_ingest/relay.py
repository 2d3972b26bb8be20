"""The outbox relay: publishes accepted revisions to Kafka, in order, marking each sent only once acknowledged.

Every ingest process runs one; of those sharing a database only the one holding the store's relay lease
publishes, the others stand by (connected to the broker) and take over when its process ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram

from .lease import PUBLISH_TIMEOUT_S
from .store import IngestStore, OutboxRow, RelayLeaseLost

log = logging.getLogger("feedback.ingest.relay")

# After an accept woke it, how long the relay lets more accepts gather before it reads the outbox. Each batch
# costs the same whatever its size (the lease and backlog checks, a produce request, a commit marking the rows
# sent): measured alone, batches of 16 rows cost 124 µs per response, of 200 rows 69 µs. At 16 connections a
# group of accepts commits about every 10 ms, so a batch then takes two groups' rows instead of one; an accepted
# response waits at most this long more before it is published.
RELAY_LINGER_S = 0.01


class Publisher(Protocol):
    """Enqueues a record and returns an awaitable that completes when the broker acknowledged it."""

    async def enqueue(self, row: OutboxRow) -> Awaitable[object]: ...


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge(
            "feedback_ingest_outbox_backlog_messages",
            "Accepted revisions not yet acknowledged by the broker.",
            registry=registry,
        )
        self.oldest_age = Gauge(
            "feedback_ingest_outbox_oldest_age_seconds",
            "Age of the oldest revision not yet acknowledged by the broker (0 when none waits).",
            registry=registry,
        )
        self.publish_latency = Histogram(
            "feedback_ingest_publish_latency_seconds",
            "From acceptance to the broker's acknowledgement.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.broker_up = Gauge(
            "feedback_ingest_broker_connected",
            "1 when the relay's producer is connected to the broker.",
            registry=registry,
        )
        self.active = Gauge(
            "feedback_ingest_relay_active",
            "1 when this process's relay holds the outbox lease and publishes; 0 while another one does.",
            registry=registry,
        )


class _BrokerFailure(Exception):
    """Connecting or publishing failed; the cause is the broker's (or its client's) error."""


class OutboxRelay:
    """One loop: wait for work, publish a batch in order, mark it sent; back off while the broker is away."""

    def __init__(
        self,
        store: IngestStore,
        connect: Callable[[], Awaitable[Publisher]],
        disconnect: Callable[[], Awaitable[None]],
        metrics: RelayMetrics,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        publish_timeout: float = PUBLISH_TIMEOUT_S,
        linger: float = 0.0,
    ) -> None:
        self.store = store
        self._connect = connect
        self._disconnect = disconnect
        self.metrics = metrics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.publish_timeout = publish_timeout
        self.linger = linger
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._publisher: Publisher | None = None
        self._leading = False
        self._standing_by = False

    @property
    def connected(self) -> bool:
        return self._publisher is not None

    def notify(self) -> None:
        """Something was accepted: publish it now rather than at the next poll."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._refresh_backlog_metrics()
                if self._publisher is None:
                    try:
                        self._publisher = await self._connect()
                    except Exception as exc:
                        raise _BrokerFailure from exc
                    self.metrics.broker_up.set(1)
                    log.info("relay connected to the broker")
                if not await self._lead():
                    await self._stand_by()
                    continue
                sent = await self._publish_batch(self._publisher)
                backoff = 0.5
                woken = sent < self.batch_size and await self._sleep(self.poll_interval)
                if woken and self.linger:
                    await asyncio.sleep(self.linger)
            except asyncio.CancelledError:
                raise
            except RelayLeaseLost as exc:
                # Another relay took the lease over while this one published: the rows stay unmarked for it.
                log.warning("relay lost the outbox lease before marking its batch sent (%s)", exc)
            except _BrokerFailure as failure:
                exc = failure.__cause__
                log.warning("relay cannot publish (%s: %s); retrying in %.1fs", type(exc).__name__, exc, backoff)
                await self._drop_connection()
                await self._sleep(backoff + random.uniform(0, backoff / 2))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:
                # The outbox could not be read or marked (a locked or unreachable database): the broker is not
                # to blame, so its connection stays, and feedback_ingest_broker_connected keeps telling the truth.
                log.warning("relay cannot use the outbox (%s: %s); retrying in %.1fs", type(exc).__name__, exc, backoff)
                await self._sleep(backoff + random.uniform(0, backoff / 2))
                backoff = min(backoff * 2, self.max_backoff)
        await self._drop_connection()
        await self._resign()

    async def _lead(self) -> bool:
        """Whether this relay publishes: it holds the store's lease, or has just taken it."""
        if self._leading:
            if await self.store.relay_lease_held():
                return True
            self._leading = False
            self.metrics.active.set(0)
            log.warning("relay lost the outbox lease; another relay may publish now")
        if await self.store.take_relay_lease(self.notify):
            self._leading, self._standing_by = True, False
            self.metrics.active.set(1)
            log.info("relay holds the outbox lease: it publishes")
            return True
        if not self._standing_by:
            self._standing_by = True
            log.info("another relay holds the outbox lease; this one stands by")
        return False

    async def _stand_by(self) -> None:
        """Wait a poll interval before asking for the lease again; accepts here do not shorten the wait (the
        leading relay publishes them)."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_interval)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def _resign(self) -> None:
        if self._leading:
            self._leading = False
            self.metrics.active.set(0)
        try:
            await self.store.release_relay_lease()
        except Exception:
            log.debug("releasing the outbox lease failed", exc_info=True)

    async def _publish_batch(self, publisher: Publisher) -> int:
        # The lease was verified just before this batch; a relay taking it over waits out a window from then,
        # which the batch must not outlast (lease.py): one not acknowledged in time is given up.
        deadline = asyncio.get_running_loop().time() + self.publish_timeout
        rows = await self.store.unsent(self.batch_size)
        if not rows:
            return 0
        # Enqueue in order, then wait for every acknowledgement: the producer keeps one batch in flight per
        # partition, so records of one response (one key, one partition) reach the log in outbox order.
        try:
            async with asyncio.timeout_at(deadline):
                acks = [await publisher.enqueue(row) for row in rows]
                await asyncio.gather(*acks)
        except Exception as exc:
            raise _BrokerFailure from exc
        now = datetime.now(UTC)
        await self.store.mark_sent(rows, now)
        for row in rows:
            self.metrics.publish_latency.observe(max(0.0, (now - row.created_at).total_seconds()))
        log.debug("relay published %d revisions", len(rows))
        return len(rows)

    async def _refresh_backlog_metrics(self) -> None:
        count, oldest = await self.store.backlog()
        self.metrics.backlog.set(count)
        self.metrics.oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)

    async def _drop_connection(self) -> None:
        if self._publisher is not None:
            self._publisher = None
            self.metrics.broker_up.set(0)
            try:
                await self._disconnect()
            except Exception:
                log.debug("closing the producer failed", exc_info=True)

    async def _sleep(self, seconds: float) -> bool:
        """Wait up to `seconds` for a wake-up; whether one came."""
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)
            woken = True
        except TimeoutError:
            woken = False
        self._wakeup.clear()
        return woken
