"""Composition root of the ingest service: `uvicorn --factory feedback_ingest.app:create_app`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC
from feedback_runtime.heap import NO_TELEMETRY, freeze_startup_heap
from feedback_runtime.kafka import PublishMetrics, RecordProducer, kafka_broker
from feedback_runtime.logs import configure_service_logging

from .deps import Gates
from .fast_path import FastPath
from .limits import ASGIApp, BodyLimit
from .metrics import IngestMetrics, RequestMetrics
from .migrations import migrate
from .relay import RELAY_LINGER_S, OutboxRelay, Publisher, RelayMetrics
from .routes import EXCEPTION_HANDLERS, SUBMIT_PATH, describe_submit_body, router
from .settings import IngestSettings
from .store import IngestStore, OutboxRow
from .submission import Submission

SERVICE = "ingest"
# The producer's batch per partition: many full-size events (about 8 KB each), under a broker's usual 1 MB limit.
PRODUCER_BATCH_BYTES = 512 * 1024
# How long stopping waits for the relay to finish the round it is in.
RELAY_STOP_SECONDS = 15


class IngestAPI(FastAPI):
    """FastAPI with ingest's fast path (fast_path.py) in front of its whole middleware stack."""

    # FastPath's keyword arguments; None: every request goes through the framework's stack.
    fast_path: dict[str, Any] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.fast_path is None else FastPath(stack, **self.fast_path)


def build_broker(settings: IngestSettings, registry: CollectorRegistry | None = None) -> KafkaBroker:
    """What ingest publishes, as FastStream describes it: the source of its AsyncAPI document. (The relay
    publishes through `RelayPublisher`, aiokafka's producer configured the same way.)"""
    return kafka_broker(settings, SERVICE, registry, max_batch_size=PRODUCER_BATCH_BYTES)


def _declare_publisher(broker: KafkaBroker):  # noqa: ANN202 - FastStream's publisher type is internal
    return broker.publisher(
        RESPONSES_TOPIC, title="ResponseReceived", description="Accepted response revisions, without contact data."
    )


# Every record the relay publishes: its event's schema name (consumers refuse what they do not understand), and
# the media type FastStream's publisher gave it.
RECORD_HEADERS = ((EVENT_TYPE_HEADER, b"ResponseReceived"), ("content-type", b"application/json"))


def build_producer(settings: IngestSettings, metrics: PublishMetrics | None = None) -> RecordProducer:
    """The relay's producer: aiokafka with the broker's settings, and FastStream's publishing metrics."""
    # aiokafka keeps one open batch per partition and makes `send` wait while it is full: at its default of
    # 16 KiB two full-size events fill it, and the relay publishes a few records per broker round trip.
    return RecordProducer(settings, SERVICE, metrics, max_batch_size=PRODUCER_BATCH_BYTES)


class RelayPublisher:
    """The relay's publisher: an outbox row's event to `feedback.responses.v1`, keyed by its response id, not
    waiting for the acknowledgement (`enqueue` returns the future that does, so a batch is in flight at once)."""

    def __init__(self, producer: RecordProducer) -> None:
        self.producer = producer
        self.enqueued = 0

    async def enqueue(self, row: OutboxRow) -> Awaitable[object]:
        self.enqueued += 1
        return await self.producer.send(
            RESPONSES_TOPIC, row.payload, key=row.response_id.encode(), headers=RECORD_HEADERS
        )


def _relay(settings: IngestSettings, store: IngestStore, registry: CollectorRegistry) -> OutboxRelay:
    """The outbox relay, starting a fresh producer each time it (re)connects."""
    metrics = PublishMetrics(registry, SERVICE)
    current: dict[str, RecordProducer] = {}

    async def connect() -> Publisher:
        producer = build_producer(settings, metrics)
        current["producer"] = producer
        await producer.start()
        return RelayPublisher(producer)

    async def disconnect() -> None:
        producer = current.pop("producer", None)
        if producer is not None:
            await producer.stop()

    return OutboxRelay(
        store,
        connect,
        disconnect,
        RelayMetrics(registry),
        batch_size=settings.ingest_relay_batch_size,
        poll_interval=settings.ingest_relay_poll_seconds,
        max_backoff=settings.ingest_relay_max_backoff_seconds,
        linger=RELAY_LINGER_S,
    )


def _asyncapi(settings: IngestSettings) -> AsyncAPI:
    broker = build_broker(settings)
    _declare_publisher(broker)
    return AsyncAPI(broker, title="feedback-ingest", description="Publishes accepted response revisions.")


def create_app(
    settings: IngestSettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
) -> IngestAPI:
    """Build the ingest API, its store and its outbox relay."""
    configure_service_logging(SERVICE, configure_logs, settings)
    settings = settings or IngestSettings()
    if not settings.tokens:
        raise ValueError("INGEST_API_TOKENS is empty: the API would accept no one")
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)
    store = IngestStore(settings.database_url)
    relay = _relay(settings, store, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.ingest_migrate_on_start:
            await asyncio.to_thread(migrate, store.url)
        task = asyncio.create_task(relay.run(), name="outbox-relay")
        freeze_startup_heap()
        try:
            yield
        finally:
            relay.stop()
            try:
                await asyncio.wait_for(task, timeout=RELAY_STOP_SECONDS)
            except TimeoutError:
                task.cancel()
            await store.close()

    app = IngestAPI(
        title="feedback-ingest",
        version="0.2.0",
        description="Takes in statements on Oma Häme's draft service strategy, as the survey form posts them.",
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        telemetry=NO_TELEMETRY,
        # The router's routes themselves, not include_router: FastAPI 0.165 keeps an included router as one lazy
        # entry, and `app.routes` is where the API's operations are looked up (the fast path's below, the tests').
        routes=router.routes,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.store = store
    app.state.relay = relay
    app.state.gates = gates = Gates(settings)
    app.state.submission = submission = Submission(store, relay, metrics)
    app.state.asyncapi = _asyncapi(settings)
    describe_submit_body(app)

    # The fast path first, then FastAPI's own stack, in it RequestMetrics (the last added runs first), then BodyLimit.
    submit = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == SUBMIT_PATH and "POST" in r.methods)
    app.fast_path = dict(
        route=submit,
        tokens=gates.form_tokens,
        submission=submission,
        counter=metrics.http_requests,
        max_bytes=settings.ingest_max_body_bytes,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.ingest_max_body_bytes)
    app.add_middleware(RequestMetrics, counter=metrics.http_requests)
    return app
