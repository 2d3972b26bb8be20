"""Wiring every Kafka service of the pipeline shares: the broker, the standard HTTP routes, consumer lag,
dead-letter envelopes. For the services only: FastStream and prometheus-client are imported here lazily,
so the contracts themselves keep no runtime dependency on them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .events import DeadLetter, dead_letter_for
from .kafka import KafkaSettings
from .lag import LagMonitor

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from prometheus_client import CollectorRegistry


def kafka_broker(
    settings: KafkaSettings,
    service: str,
    registry: CollectorRegistry | None,
    max_batch_size: int | None = None,
) -> KafkaBroker:
    """A FastStream broker with acks from all in-sync replicas, the configured security, and Prometheus metrics.

    `max_batch_size` is the producer's batch per partition in bytes (aiokafka's default, 16 KiB, when None).
    """
    from faststream.kafka import KafkaBroker
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

    middlewares = (
        [KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="feedback")] if registry else []
    )
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"feedback-{service}",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        security=settings.faststream_security(),
        request_timeout_ms=10_000,
        middlewares=middlewares,
        **({"max_batch_size": max_batch_size} if max_batch_size else {}),
    )


def lag_monitor(settings: KafkaSettings, group: str, topic: str, registry: CollectorRegistry) -> LagMonitor:
    """`feedback_consumer_lag_messages` for one consumer group on one topic."""
    from prometheus_client import Gauge

    gauge = Gauge(
        "feedback_consumer_lag_messages",
        "Messages not yet consumed, per consumer group, topic and partition (end offset minus committed).",
        ["group", "topic", "partition"],
        registry=registry,
    )
    return LagMonitor(
        settings.kafka_bootstrap_servers,
        {group: [topic]},
        gauge,
        interval=settings.kafka_lag_interval_seconds,
        **settings.kafka_python_options(),
    )


def standard_routes(broker: KafkaBroker, registry: CollectorRegistry) -> list[tuple[str, Any]]:
    """/healthz (the process answers), /readyz (the broker answers) and /metrics."""
    from faststream.asgi import AsgiResponse, get, make_ping_asgi
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @get(include_in_schema=False)
    async def healthz(scope: object):  # noqa: ANN202 - FastStream resolves annotations in module globals
        return AsgiResponse(b"ok", 200)

    @get(include_in_schema=False)
    async def metrics(scope: object):  # noqa: ANN202
        return AsgiResponse(generate_latest(registry), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return [
        ("/healthz", healthz),
        ("/readyz", make_ping_asgi(broker, timeout=3.0, include_in_schema=False)),
        ("/metrics", metrics),
    ]


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


def on_event_loop(function: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """A plain start/stop function as the coroutine FastStream's lifecycle hooks expect."""

    async def run() -> None:
        function()

    return run
