"""Composition root of the notify service: `uvicorn --factory feedback_notify.app:create_app`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get, make_ping_asgi
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    EVENT_TYPE_HEADER,
    ResponseClassified,
    dead_letter_for,
    dlq_topic,
)
from feedback_contracts.logs import configure_logging
from feedback_contracts.owners import OwnersDirectory, load_owners

from .adapters import SmtpSender, TransientDeliveryError
from .deliveries import DeliveryLog
from .service import MailSender, Notifier
from .settings import NotifySettings

SERVICE = "notify"
log = logging.getLogger("feedback.notify")


class NotifyMetrics:
    """Domain metrics of notify, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "feedback_notify_deliveries_total",
            "Alerts by channel and outcome (delivered, duplicate, failed, retried).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "feedback_notify_events_total",
            "Classified events handled by notify, by outcome (handled, retried, dead_lettered).",
            ["outcome"],
            registry=registry,
        )


def create_app(
    settings: NotifySettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
    owners: OwnersDirectory | None = None,
    mail: MailSender | None = None,
) -> AsgiFastStream:
    """Build the notify service: a consumer of classified events that alerts the owners."""
    # Configured from the environment means run as a service (uvicorn --factory): log JSON.
    if configure_logs if configure_logs is not None else settings is None:
        configure_logging(SERVICE)
    settings = settings or NotifySettings()
    registry = registry or CollectorRegistry()
    metrics = NotifyMetrics(registry)
    deliveries = DeliveryLog(settings.notify_delivery_db)
    notifier = Notifier(
        owners or load_owners(settings.owners_file),
        deliveries,
        mail or SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds),
        settings.smtp_from,
    )

    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"feedback-{SERVICE}",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        security=settings.faststream_security(),
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=SERVICE, metrics_prefix="feedback")],
    )
    dead_letters = broker.publisher(
        dlq_topic(CLASSIFIED_TOPIC), title="DeadLetter", description="Classified events notify could not process."
    )

    @broker.subscriber(
        CLASSIFIED_TOPIC,
        group_id=settings.notify_group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        title="ResponseClassified",
    )
    async def on_response_classified(msg: KafkaMessage) -> None:
        """Alert the owners of one classified revision; redeliver on transient failures."""
        record = msg.raw_message
        try:
            event = ResponseClassified.model_validate_json(msg.body)
        except ValueError as exc:
            letter = dead_letter_for(
                topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
                value=record.value, error=exc, service=SERVICE, attempts=1, failed_at=datetime.now(UTC),
            )  # fmt: skip
            log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, letter.error_type)
            await dead_letters.publish(
                letter.model_dump_json(), key=record.key, headers={EVENT_TYPE_HEADER: "DeadLetter"}
            )
            metrics.events.labels("dead_lettered").inc()
            await msg.ack()
            return
        try:
            report = await notifier.deliver(event)
        except TransientDeliveryError as exc:
            log.warning(
                "delivery of response %s revision %d failed, will retry: %s", event.response_id, event.revision, exc
            )
            metrics.deliveries.labels("email", "retried").inc()
            metrics.events.labels("retried").inc()
            await asyncio.sleep(settings.notify_retry_delay_seconds)
            await msg.nack()
            return
        metrics.deliveries.labels("email", "delivered").inc(len(report.delivered))
        metrics.deliveries.labels("email", "duplicate").inc(len(report.already_delivered))
        metrics.deliveries.labels("email", "failed").inc(len(report.failed))
        metrics.events.labels("handled").inc()
        await msg.ack()

    @get(include_in_schema=False)
    async def healthz(scope: object) -> AsgiResponse:
        return AsgiResponse(b"ok", 200)

    @get(include_in_schema=False)
    async def metrics_endpoint(scope: object) -> AsgiResponse:
        return AsgiResponse(generate_latest(registry), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return AsgiFastStream(
        broker,
        asgi_routes=[
            ("/healthz", healthz),
            ("/readyz", make_ping_asgi(broker, timeout=3.0, include_in_schema=False)),
            ("/metrics", metrics_endpoint),
        ],
        asyncapi_path="/asyncapi",
        specification=AsyncAPI(title="feedback-notify", description="Alerts chapter owners about routed paragraphs."),
        on_shutdown=[deliveries.close],
    )
