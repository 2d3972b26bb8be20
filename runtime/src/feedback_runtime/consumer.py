"""Consuming an event topic with one dead-letter policy for every service.

The policy, in full:
- A record that is not an event of the topic (not UTF-8 JSON, or JSON that fails the event's schema) is
  parked: published to `<topic>.dlq` in a `DeadLetter` envelope with the reason, counted in
  `feedback_dead_letters_total{service,topic}`, and committed, so the partition goes on.
- A handler that raises `Unprocessable` says the record itself cannot be processed (retrying would fail the
  same way): it is parked the same way.
- Any other error of the handler (a database or broker that is away, a publish that timed out) is retried:
  the record is not committed, and after a pause it is delivered again. Nothing is skipped.
- Parking itself can fail (the broker is away): then the record is retried too, never committed unparked.

Committing: a record's offset is committed only after it is handled or parked, but not by a round trip per
record: the next offset after the last handled record of each partition is committed at most every
`COMMIT_INTERVAL_SECONDS`, when partitions are revoked (before they move to another member), and when the
consumer stops. Records are handled one at a time in offset order, so that offset never passes a record that
was not handled. A crash (kill -9) redelivers at most the records of the last interval; handlers are
idempotent. A commit that fails is tried again later; it never skips a record, it can only redeliver.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel

from feedback_contracts.events import EVENT_TYPE_HEADER, DeadLetter, dead_letter_for, dlq_topic

from .kafka import FETCH_MAX_WAIT_MS
from .settings import KafkaSettings

log = logging.getLogger("feedback.consumer")
E = TypeVar("E", bound=BaseModel)

# How long a record whose handling failed for a passing reason waits before it is delivered again.
RETRY_PAUSE_SECONDS = 1.0
# How long a handled record's offset may wait before it is committed. A commit per record was a synchronous
# round trip to the broker for every record (FastStream's `ack()` is `consumer.commit()`), which cost the
# consumer about as much CPU as the rest of consuming (0.40 -> 0.24 ms per no-op record against Tansu) and
# serialised it behind the round trip. A crash redelivers at most this much handled work.
COMMIT_INTERVAL_SECONDS = 0.1


class Unprocessable(Exception):
    """Raised by a handler: this record can never be processed; park it instead of retrying it."""


class DeadLetterMetrics:
    """`feedback_dead_letters_total{service,topic}`: the one counter every consumer's parking raises."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.parked = Counter(
            "feedback_dead_letters_total",
            "Messages parked on a dead-letter topic.",
            ["service", "topic"],
            registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> DeadLetterMetrics:
        """The registry's one counter: a service consuming several topics counts all of them in it."""
        metrics = _DEAD_LETTER_METRICS.get(registry)
        if metrics is None:
            metrics = _DEAD_LETTER_METRICS[registry] = cls(registry)
        return metrics


_DEAD_LETTER_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, DeadLetterMetrics] = weakref.WeakKeyDictionary()


def dead_letter_of(record: Any, error: BaseException, service: str) -> DeadLetter:
    """The dead-letter envelope of a consumed aiokafka record."""
    return dead_letter_for(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        error=error,
        service=service,
        attempts=1,
        failed_at=datetime.now(UTC),
    )


class OffsetCommitter(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits, per partition, the offset after the last handled (or parked) record, in one request for all
    partitions at most every `interval` seconds (see the module's policy). Also the subscriber's rebalance
    listener: partitions being revoked get their handled offsets committed first, and never afterwards."""

    def __init__(self, interval: float = COMMIT_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.consumer: AIOKafkaConsumer | None = None
        self.pending: dict[TopicPartition, int] = {}
        self.stopping = False
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def handled(self, msg: KafkaMessage) -> None:
        """`msg` is handled or parked: its offset, and every earlier one of its partition, may be committed."""
        record = msg.raw_message
        if msg.consumer is not self.consumer:  # the first record, or the subscriber started again after a stop
            self.consumer = msg.consumer  # type: ignore[assignment]
            self.stopping = False
        self.pending[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self.stopping:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval)
        self._timer = None
        await self.flush()

    async def flush(self, partitions: set[TopicPartition] | None = None) -> None:
        """Commit the pending offsets (of `partitions` only, when given) of the partitions still assigned."""
        async with self._lock:
            consumer = self.consumer
            chosen = dict(self.pending)
            if partitions is not None:
                chosen = {tp: offset for tp, offset in chosen.items() if tp in partitions}
            if consumer is None or not chosen:
                return
            assigned = consumer.assignment()
            offsets = {tp: offset for tp, offset in chosen.items() if tp in assigned}
            for tp in chosen.keys() - offsets.keys():
                # No longer ours: its new owner resumes from what was committed; this member never commits it.
                del self.pending[tp]
            for tp in offsets:
                del self.pending[tp]
            if not offsets:
                return
            try:
                await consumer.commit(offsets)
            except Exception:
                log.warning("could not commit offsets %s; will try again", offsets, exc_info=True)
                for tp, offset in offsets.items():
                    if self.pending.get(tp, -1) < offset:
                        self.pending[tp] = offset
                if not self.stopping and self._timer is None:
                    self._timer = asyncio.create_task(self._flush_later())

    async def stop(self) -> None:
        """The subscriber stops: commit what is pending now, and each record handled from now on at once."""
        self.stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.flush(set(revoked))
        for tp in revoked:
            self.pending.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


class EventConsumer(Generic[E]):
    """Subscribes `handle` to `topic` in `group_id`, decoding each record as `event_type`, committing each
    record only once it is handled or parked (see the module's policy)."""

    def __init__(
        self,
        broker: KafkaBroker,
        settings: KafkaSettings,
        *,
        service: str,
        topic: str,
        group_id: str,
        event_type: type[E],
        handle: Callable[[E], Awaitable[None]],
        registry: CollectorRegistry,
        on_parked: Callable[[], None] | None = None,
        retry_pause: float = RETRY_PAUSE_SECONDS,
        commit_interval: float = COMMIT_INTERVAL_SECONDS,
    ) -> None:
        self.service = service
        self.event_type = event_type
        self.handle = handle
        self.on_parked = on_parked
        self.retry_pause = retry_pause
        self.metrics = DeadLetterMetrics.of(registry)
        self.dead_letters = broker.publisher(
            dlq_topic(topic), title="DeadLetter", description=f"Records of {topic} that {service} could not process."
        )
        self.committer = OffsetCommitter(commit_interval)
        subscriber = broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            title=event_type.__name__,
            listener=self.committer,
        )
        # The handler takes the message itself, as its "decoded body": no JSON decoding by FastStream (the event
        # is validated from the bytes below) and no `Context("message")` field, which fast_depends resolves in a
        # worker thread, a thread hop per record.
        subscriber(self._delivered, decoder=_the_message)
        _commit_before_stopping(subscriber, self.committer)

    async def _delivered(self, msg: Any) -> None:
        """FastStream's handler (typed `Any`: FastStream refuses to inject a parameter typed as the message)."""
        await self.consume(msg)

    async def consume(self, msg: KafkaMessage) -> None:
        """Handle one record, park it, or leave it to be delivered again."""
        try:
            event = self.event_type.model_validate_json(msg.body)
        except ValueError as exc:
            await self._park(msg, exc)
            return
        try:
            await self.handle(event)
        except Unprocessable as exc:
            await self._park(msg, exc.__cause__ or exc)
            return
        except Exception:
            log.exception("handling failed; the record will be delivered again")
            await self._retry(msg)
            return
        await self.committer.handled(msg)

    async def _park(self, msg: KafkaMessage, error: BaseException) -> None:
        record = msg.raw_message
        letter = dead_letter_of(record, error, self.service)
        try:
            await self.dead_letters.publish(
                letter.model_dump_json(), key=record.key, headers={EVENT_TYPE_HEADER: "DeadLetter"}
            )
        except Exception:
            log.exception("could not park %s[%d]@%d; it will be delivered again", record.topic, record.partition, record.offset)
            await self._retry(msg)
            return
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic, record.partition, record.offset, letter.error_type,
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )  # fmt: skip
        self.metrics.parked.labels(self.service, record.topic).inc()
        if self.on_parked is not None:
            self.on_parked()
        await self.committer.handled(msg)

    async def _retry(self, msg: KafkaMessage) -> None:
        await asyncio.sleep(self.retry_pause)
        await msg.nack()


async def _the_message(msg: KafkaMessage) -> KafkaMessage:
    """The subscriber's decoder: hands the handler the message (see `EventConsumer.__init__`)."""
    return msg


def _commit_before_stopping(subscriber: Any, committer: OffsetCommitter) -> None:
    """Make `subscriber.stop()` commit the pending offsets first: after it, its consumer is closed."""
    stop = subscriber.stop

    async def stop_after_committing() -> None:
        await committer.stop()
        await stop()

    subscriber.stop = stop_after_committing
