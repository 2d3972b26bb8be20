"""Composition root of the notify service: `uvicorn --factory feedback_notify.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, AsyncAPIRoute, Request, get, post
from faststream.kafka import KafkaMessage
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    EVENT_TYPE_HEADER,
    ResponseClassified,
    dlq_topic,
)
from feedback_contracts.logs import configure_logging
from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_contracts.owners_watch import OwnersWatcher
from feedback_contracts.runtime import dead_letter_of, kafka_broker, lag_monitor, on_event_loop, standard_routes

from .adapters import SmtpSender, WebhookSender
from .render import Renderer
from .service import Dispatcher, HookSender, Intake, MailSender, NotifyMetrics
from .settings import NotifySettings
from .store import NotifyStore

SERVICE = "notify"
# How long a fetch may wait at the broker for new events. Apache Kafka answers as soon as one arrives;
# Tansu (dev up's broker) holds the fetch for the whole time, which the default 500 ms added to every alert.
FETCH_MAX_WAIT_MS = 100
log = logging.getLogger("feedback.notify")


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
    # Configured from the environment means run as a service (uvicorn --factory): log JSON.
    if configure_logs if configure_logs is not None else settings is None:
        configure_logging(SERVICE)
    settings = settings or NotifySettings()
    registry = registry or CollectorRegistry()
    metrics = NotifyMetrics(registry)
    # An edited owners file (new address, mode or digest time) applies without a restart, as in classify.
    current = {"directory": owners or load_owners(settings.owners_file)}
    watcher = OwnersWatcher(
        settings.owners_file,
        lambda directory: current.update(directory=directory),
        settings.owners_reload_seconds,
    )

    def directory() -> OwnersDirectory:
        return current["directory"]

    store = NotifyStore(settings.database_url)
    intake = Intake(store, directory, metrics)
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
        Renderer(settings.notify_max_alert_chars, settings.statement_base_url),
        mail_sender,
        hooks or webhook_sender,
        metrics,
        sender=settings.smtp_from,
        clock=clock or (lambda: datetime.now(UTC)),
        base_backoff=settings.notify_retry_base_seconds,
        max_backoff=settings.notify_retry_max_seconds,
        give_up_after=timedelta(hours=settings.notify_give_up_hours),
        concurrency=settings.notify_delivery_concurrency,
        # A claim outlives any send (both channels time out, and a job is only started while at least half
        # of its claim is left), so no job is sent twice by two workers; a worker that dies mid-send leaves
        # its jobs to others once the claim lapses.
        lease=timedelta(seconds=2 * max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)),
    )
    now = clock or (lambda: datetime.now(UTC))

    lag = lag_monitor(settings, settings.notify_group_id, CLASSIFIED_TOPIC, registry)
    broker = kafka_broker(settings, SERVICE, registry)
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
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        title="ResponseClassified",
    )
    async def on_response_classified(msg: KafkaMessage) -> None:
        """Record what each owner should hear about one revision; the dispatcher sends it."""
        record = msg.raw_message
        try:
            event = ResponseClassified.model_validate_json(msg.body)
        except ValueError as exc:
            letter = dead_letter_of(record, exc, SERVICE)
            log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, letter.error_type)
            await dead_letters.publish(
                letter.model_dump_json(), key=record.key, headers={EVENT_TYPE_HEADER: "DeadLetter"}
            )
            metrics.events.labels("dead_lettered").inc()
            metrics.dead_lettered_messages.labels(SERVICE, record.topic).inc()
            await msg.ack()
            return
        try:
            report = await intake.accept(event, now())
        except Exception:
            # The store is unreachable: do not lose the event; it comes back after a pause.
            log.exception("could not record response %s revision %d", event.response_id, event.revision)
            await asyncio.sleep(2.0)
            await msg.nack()
            return
        # An owner's part of a revision seen before (a redelivery or a replay) is not recorded again.
        metrics.events.labels(
            "duplicate" if report.duplicates and not (report.jobs or report.digest_items) else "handled"
        ).inc()
        await msg.ack()
        dispatcher.notify()
        log.info(
            "recorded response %s revision %d: %d deliveries, %d digest items",
            event.response_id, event.revision, report.jobs, report.digest_items,
            extra={"response_id": event.response_id, "revision": event.revision},
        )  # fmt: skip

    tasks: list[asyncio.Task[None]] = []

    async def start_worker() -> None:
        if settings.notify_migrate_on_start:
            await store.create()
        tasks.append(asyncio.create_task(dispatcher.run(), name="dispatcher"))

    async def stop_worker() -> None:
        dispatcher.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=15)
        close_mail = getattr(mail_sender, "close", None)
        if close_mail is not None:
            await close_mail()
        await webhook_sender.close()
        await store.close()

    def admin(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        presented = header[7:].encode() if header.lower().startswith("bearer ") else b""
        matches = [hmac.compare_digest(presented, token.encode()) for token in settings.admin_tokens]
        return bool(settings.admin_tokens) and any(matches)

    def refused(request: Request) -> AsgiResponse | None:
        """401 without an admin token, 404 for an ?owner= the directory does not know; None when neither."""
        if not admin(request):
            return _json({"detail": "missing or invalid bearer token"}, 401)
        owner_id = _query(request, "owner")
        if owner_id and directory().get(owner_id) is None:
            return _json({"detail": f"no owner {owner_id!r}"}, 404)
        return None

    @post(description="Send every pending digest now (admin): ?owner=ID for one owner.")
    async def flush(request: Request) -> AsgiResponse:
        if answer := refused(request):
            return answer
        return _json({"digests": await dispatcher.flush_digests(_query(request, "owner"))}, 200)

    @post(description="Send dead deliveries again (admin): ?owner=ID for one owner, ?since=ISO-TIME for newer ones.")
    async def retry_dead(request: Request) -> AsgiResponse:
        if answer := refused(request):
            return answer
        since = None
        if raw := _query(request, "since"):
            try:
                since = datetime.fromisoformat(raw)
            except ValueError:
                return _json({"detail": f"since: {raw!r} is not an ISO 8601 time"}, 422)
            if since.tzinfo is None:
                return _json({"detail": "since: give a time zone (e.g. 2026-05-04T08:00+03:00)"}, 422)
        return _json({"requeued": await dispatcher.retry_dead(_query(request, "owner"), since)}, 200)

    @get(description="Per response, the latest revision notify has recorded (admin; for feedback reconcile).")
    async def recorded(request: Request) -> AsgiResponse:
        if not admin(request):
            return _json({"detail": "missing or invalid bearer token"}, 401)
        return _json(await store.recorded_revisions(), 200)

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            *standard_routes(broker, registry),
            ("/v1/admin/flush-digests", flush),
            ("/v1/admin/retry-dead", retry_dead),
            ("/v1/admin/recorded", recorded),
        ],
        # The AsyncAPI page without its "try it out" route, which would let anyone publish to the topics.
        asyncapi_path=AsyncAPIRoute("/asyncapi", try_it_out_path=None),
        specification=AsyncAPI(title="feedback-notify", description="Alerts chapter owners about routed paragraphs."),
        on_startup=[start_worker, watcher.start, on_event_loop(lag.start)],
        on_shutdown=[watcher.stop, stop_worker, on_event_loop(lag.stop)],
    )
    app.state_store = store  # type: ignore[attr-defined]
    app.dispatcher = dispatcher  # type: ignore[attr-defined]
    app.owners_watcher = watcher  # type: ignore[attr-defined]
    return app


def _query(request: Request, name: str) -> str | None:
    """One query parameter (its last value), or None: FastStream's `query_params` holds lists."""
    values = request.query_params.get(name) or []
    return values[-1] or None if values else None


def _json(body: dict, status: int) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body, ensure_ascii=False).encode(), status, headers={"content-type": "application/json"}
    )
