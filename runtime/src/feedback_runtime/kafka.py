"""The Kafka broker every service builds the same way: acks from all in-sync replicas, the configured
security, FastStream's Prometheus middleware on the service's registry."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

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
