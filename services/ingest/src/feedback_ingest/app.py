"""Composition root of the ingest service: `uvicorn --factory feedback_ingest.app:create_app`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.logs import configure_service_logging

from .deps import Gates
from .fast_path import FastPath
from .limits import BodyLimit
from .metrics import IngestMetrics, RequestMetrics
from .migrations import migrate
from .relay import OutboxRelay, Publisher, RelayMetrics
from .routes import EXCEPTION_HANDLERS, SUBMIT_PATH, describe_submit_body, router
from .settings import IngestSettings
from .store import IngestStore, OutboxRow
from .submission import Submission

SERVICE = "ingest"
# The producer's batch per partition: many full-size events (about 8 KB each), under a broker's usual 1 MB limit.
PRODUCER_BATCH_BYTES = 512 * 1024
# How long stopping waits for the relay to finish the round it is in.
RELAY_STOP_SECONDS = 15


def build_broker(settings: IngestSettings, registry: CollectorRegistry | None = None) -> KafkaBroker:
    """The producer side of ingest; also the source of its AsyncAPI document."""
    # aiokafka keeps one open batch per partition and makes `send` wait while it is full: at its default of
    # 16 KiB two full-size events fill it, and the relay publishes a few records per broker round trip.
    return kafka_broker(settings, SERVICE, registry, max_batch_size=PRODUCER_BATCH_BYTES)


def _declare_publisher(broker: KafkaBroker):  # noqa: ANN202 - FastStream's publisher type is internal
    return broker.publisher(
        RESPONSES_TOPIC, title="ResponseReceived", description="Accepted response revisions, without contact data."
    )


class BrokerPublisher:
    """The relay's publisher: an outbox row to `feedback.responses.v1`, keyed by its response id, not waiting for
    the acknowledgement (`enqueue` returns the awaitable that does, so a batch is in flight at once)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.publisher = _declare_publisher(broker)
        self.enqueued = 0

    async def enqueue(self, row: OutboxRow) -> Awaitable[object]:
        self.enqueued += 1
        return await self.publisher.publish(
            row.payload,
            key=row.response_id.encode(),
            headers={EVENT_TYPE_HEADER: "ResponseReceived"},
            no_confirm=True,
        )


def _relay(settings: IngestSettings, store: IngestStore, registry: CollectorRegistry) -> OutboxRelay:
    """The outbox relay, connecting a fresh broker each time it (re)connects."""
    current: dict[str, KafkaBroker] = {}

    async def connect() -> Publisher:
        broker = build_broker(settings, registry)
        publisher = BrokerPublisher(broker)
        current["broker"] = broker
        await broker.connect()
        return publisher

    async def disconnect() -> None:
        broker = current.pop("broker", None)
        if broker is not None:
            await broker.stop()

    return OutboxRelay(
        store,
        connect,
        disconnect,
        RelayMetrics(registry),
        batch_size=settings.ingest_relay_batch_size,
        poll_interval=settings.ingest_relay_poll_seconds,
        max_backoff=settings.ingest_relay_max_backoff_seconds,
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
) -> FastAPI:
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
        try:
            yield
        finally:
            relay.stop()
            try:
                await asyncio.wait_for(task, timeout=RELAY_STOP_SECONDS)
            except TimeoutError:
                task.cancel()
            await store.close()

    app = FastAPI(
        title="feedback-ingest",
        version="0.2.0",
        description="Takes in statements on Oma Häme's draft service strategy, as the survey form posts them.",
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
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

    # The last added runs first: RequestMetrics, then BodyLimit, then the fast path, then FastAPI's own stack.
    submit = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == SUBMIT_PATH and "POST" in r.methods)
    app.add_middleware(FastPath, route=submit, tokens=gates.form_tokens, submission=submission)
    app.add_middleware(BodyLimit, max_bytes=settings.ingest_max_body_bytes)
    app.add_middleware(RequestMetrics, counter=metrics.http_requests)
    return app
