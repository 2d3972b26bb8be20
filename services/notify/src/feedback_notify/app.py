"""Composition root of the notify service: `uvicorn --factory feedback_notify.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from faststream.asgi import AsgiFastStream
from prometheus_client import CollectorRegistry

from feedback_contracts.events import CLASSIFIED_TOPIC, REMINDERS_TOPIC, ItemsOverdue, ResponseClassified
from feedback_contracts.owners import OwnersDirectory
from feedback_runtime.asgi import consumer_app, on_event_loop
from feedback_runtime.consumer import EventConsumer
from feedback_runtime.heap import freeze_startup_heap
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.lag import lag_monitor
from feedback_runtime.logs import configure_service_logging
from feedback_runtime.owners_watch import LiveOwners

from .adapters import SmtpSender, WebhookSender
from .api import admin_routes
from .handlers import ClassifiedHandler, RemindersHandler
from .reminders import ReminderIntake, ReminderRenderer
from .render import Renderer
from .service import Dispatcher, HookSender, Intake, MailSender, NotifyMetrics
from .settings import NotifySettings
from .store import NotifyStore

SERVICE = "notify"
# How long stopping waits for the dispatcher to finish the sends it has started.
STOP_TIMEOUT_SECONDS = 15


def create_app(
    settings: NotifySettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
    owners: OwnersDirectory | None = None,
    mail: MailSender | None = None,
    hooks: HookSender | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsgiFastStream:
    """Build the notify service: a consumer of classified events, a delivery worker and a digest scheduler."""
    configure_service_logging(SERVICE, configure_logs, settings)
    settings = settings or NotifySettings()
    registry = registry or CollectorRegistry()
    now = clock or (lambda: datetime.now(UTC))
    metrics = NotifyMetrics(registry)
    # An edited owners file (new address, mode or digest time) applies without a restart, as in classify.
    owners_now = LiveOwners(settings, lambda directory: directory, owners)

    def directory() -> OwnersDirectory:
        return owners_now.current

    store = NotifyStore(settings.database_url)
    webhook_sender = WebhookSender(
        settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        settings.webhook_timeout_seconds,
    )
    mail_sender = mail or SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_timeout_seconds,
        settings.smtp_security,
        settings.smtp_username,
        settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        max_connections=settings.notify_delivery_concurrency,
    )
    dispatcher = Dispatcher(
        store,
        directory,
        Renderer.from_settings(settings),
        mail_sender,
        hooks or webhook_sender,
        metrics,
        sender=settings.smtp_from,
        clock=now,
        base_backoff=settings.notify_retry_base_seconds,
        max_backoff=settings.notify_retry_max_seconds,
        give_up_after=timedelta(hours=settings.notify_give_up_hours),
        concurrency=settings.notify_delivery_concurrency,
        # A claim outlives any send (both channels time out, and a job is only started while at least half
        # of its claim is left), so no job is sent twice by two workers; a worker that dies mid-send leaves
        # its jobs to others once the claim lapses.
        lease=timedelta(seconds=2 * max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)),
        reminders=ReminderRenderer.from_settings(settings),
    )

    broker = kafka_broker(settings, SERVICE, registry)
    EventConsumer(
        broker,
        settings,
        service=SERVICE,
        topic=CLASSIFIED_TOPIC,
        group_id=settings.notify_group_id,
        event_type=ResponseClassified,
        handle=ClassifiedHandler(Intake(store, directory, metrics), dispatcher, metrics, now),
        registry=registry,
        on_parked=metrics.events.labels("dead_lettered").inc,
    )
    # The workspace's reminders and escalations, in a group of their own: delivered like alerts.
    EventConsumer(
        broker,
        settings,
        service=SERVICE,
        topic=REMINDERS_TOPIC,
        group_id=settings.notify_reminders_group_id,
        event_type=ItemsOverdue,
        handle=RemindersHandler(ReminderIntake(store, directory), dispatcher, metrics, now),
        registry=registry,
        on_parked=lambda: metrics.reminders.labels("unknown", "dead_lettered").inc(),
    )
    lag = lag_monitor(settings, settings.notify_group_id, CLASSIFIED_TOPIC, registry)
    worker: list[asyncio.Task[None]] = []

    async def start_worker() -> None:
        if settings.notify_migrate_on_start:
            await store.create()
        worker.append(asyncio.create_task(dispatcher.run(), name="dispatcher"))
        freeze_startup_heap()

    async def stop_worker() -> None:
        dispatcher.stop()
        for task in worker:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=STOP_TIMEOUT_SECONDS)
        close_mail = getattr(mail_sender, "close", None)
        if close_mail is not None:
            await close_mail()
        await webhook_sender.close()
        await store.close()

    return consumer_app(
        broker,
        registry,
        title="feedback-notify",
        description="Alerts chapter owners about routed paragraphs.",
        routes=admin_routes(dispatcher, store, directory, settings.admin_tokens),
        on_startup=[start_worker, owners_now.watcher.start, on_event_loop(lag.start)],
        on_shutdown=[owners_now.watcher.stop, stop_worker, on_event_loop(lag.stop)],
    )
