"""The Kafka broker every service builds the same way: acks from all in-sync replicas, the configured
security, FastStream's Prometheus middleware on the service's registry. And, for a hot path that publishes
ready-made records (ingest's outbox relay), the same producer without FastStream, with the same metrics."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.security import parse_security
from prometheus_client import CollectorRegistry, Counter, Histogram

from .metrics import NAMESPACE
from .settings import KafkaSettings

# How long a fetch may wait at the broker for new records. Apache Kafka answers as soon as one arrives;
# Tansu (dev up's broker) holds the fetch for the whole time, so its default of 500 ms would be added to
# every statement at every stage.
FETCH_MAX_WAIT_MS = 100
# How long the producer waits for an acknowledgement before the publish fails.
REQUEST_TIMEOUT_MS = 10_000


def kafka_broker(
    settings: KafkaSettings,
    service: str,
    registry: CollectorRegistry | None,
    max_batch_size: int | None = None,
) -> KafkaBroker:
    """A FastStream broker for `service`, with metrics on `registry` (none when it is None).

    `max_batch_size` is the producer's batch per partition in bytes (aiokafka's default, 16 KiB, when None).
    """
    middlewares = (
        [KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix=NAMESPACE)] if registry else []
    )
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"{NAMESPACE}-{service}",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        security=settings.faststream_security(),
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        middlewares=middlewares,
        **({"max_batch_size": max_batch_size} if max_batch_size else {}),
    )


# --- publishing records without FastStream, for a hot path ---------------------------------------------------

_BROKER_LABEL = "kafka"


class PublishMetrics:
    """The publishing metrics of FastStream's Prometheus middleware, under its names, labels and descriptions:
    `feedback_published_messages_total{app_name,broker,destination,status}`, its duration histogram and its
    exceptions counter. Dashboards, alerts and the runbook read them whichever producer published.

    Create one per registry and keep it: a producer made anew at each reconnection reuses it."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.total = Counter(
            f"{NAMESPACE}_published_messages_total",
            "Count of published messages by destination and status",
            ["app_name", "broker", "destination", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{NAMESPACE}_published_messages_duration_seconds",
            "Histogram of published messages duration in seconds by broker and destination",
            ["app_name", "broker", "destination"],
            registry=registry,
        )
        self.exceptions = Counter(
            f"{NAMESPACE}_published_messages_exceptions_total",
            "Count of published messages exceptions by broker, destination and exception_type",
            ["app_name", "broker", "destination", "exception_type"],
            registry=registry,
        )
        # Children looked up once per topic (labels() takes a lock and checks its input).
        self._children: dict[str, tuple[Counter, Histogram, Counter]] = {}

    def _of(self, topic: str) -> tuple[Counter, Histogram, Counter]:
        children = self._children.get(topic)
        if children is None:
            labels = (self.service, _BROKER_LABEL, topic)
            children = (self.total.labels(*labels, "success"), self.duration.labels(*labels),
                        self.total.labels(*labels, "error"))  # fmt: skip
            self._children[topic] = children
        return children

    def published(self, topic: str, seconds: float) -> None:
        succeeded, duration, _ = self._of(topic)
        succeeded.inc()
        duration.observe(seconds)

    def failed(self, topic: str, seconds: float, error: BaseException) -> None:
        _, duration, failed = self._of(topic)
        failed.inc()
        duration.observe(seconds)
        self.exceptions.labels(self.service, _BROKER_LABEL, topic, type(error).__name__).inc()


class RecordProducer:
    """aiokafka's producer, configured as `kafka_broker` configures FastStream's (acks from all in-sync replicas,
    idempotence as set, the security, the request timeout), for records that are ready to go: bytes, a key and
    headers.

    Why not FastStream's publisher: for each record it builds a message, a publish command and the middleware
    chain around it, which cost ingest's relay about as much as aiokafka's own work per record (measured in
    docs/benchmarks.md). This keeps what the services rely on (the configuration, the metrics) and nothing else.
    A record's duration is from `send` to the broker's acknowledgement. Create it in the event loop it serves.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        service: str,
        metrics: PublishMetrics | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        self.metrics = metrics
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"{NAMESPACE}-{service}",
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            **({"max_batch_size": max_batch_size} if max_batch_size else {}),
            **parse_security(settings.faststream_security()),
        )

    async def start(self) -> None:
        """Connect; a start that fails closes what it opened (the caller drops this producer)."""
        try:
            await self.producer.start()
        except BaseException:
            await self.producer.stop()
            raise

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> asyncio.Future[object]:
        """Queue a record for its partition's next batch (waiting only while that batch is full); returns the
        future of the broker's acknowledgement."""
        started = time.perf_counter()
        try:
            ack = await self.producer.send(topic, value, key=key, headers=list(headers))
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.failed(topic, time.perf_counter() - started, exc)
            raise
        if self.metrics is not None:
            ack.add_done_callback(functools.partial(self._acknowledged, topic, started))
        return ack

    def _acknowledged(self, topic: str, started: float, ack: asyncio.Future[object]) -> None:
        assert self.metrics is not None
        seconds = time.perf_counter() - started
        error = asyncio.CancelledError() if ack.cancelled() else ack.exception()
        if error is None:
            self.metrics.published(topic, seconds)
        else:
            self.metrics.failed(topic, seconds, error)
