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
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel

from feedback_contracts.events import EVENT_TYPE_HEADER, DeadLetter, dead_letter_for, dlq_topic

from .kafka import FETCH_MAX_WAIT_MS
from .settings import KafkaSettings

log = logging.getLogger("feedback.consumer")
E = TypeVar("E", bound=BaseModel)

# How long a record whose handling failed for a passing reason waits before it is delivered again.
RETRY_PAUSE_SECONDS = 1.0


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
        broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            title=event_type.__name__,
        )(self.consume)

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
        await msg.ack()

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
        await msg.ack()

    async def _retry(self, msg: KafkaMessage) -> None:
        await asyncio.sleep(self.retry_pause)
        await msg.nack()
