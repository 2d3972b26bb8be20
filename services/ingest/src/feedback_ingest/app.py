"""Composition root of the ingest service: `uvicorn --factory feedback_ingest.app:create_app`."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, Field

from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC
from feedback_contracts.responses import ResponseId, SurveyResponse
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.logs import configure_logging

from .limits import ASGIApp, BodyLimit, Receive, Scope, Send, replay_body, send_json
from .migrations import migrate
from .relay import OutboxRelay, Publisher, RelayMetrics
from .settings import IngestSettings
from .store import ConflictError, IngestStore, OutboxRow, Outcome

SERVICE = "ingest"
# The producer's batch per partition: many full-size events (about 8 KB each), under a broker's usual 1 MB limit.
PRODUCER_BATCH_BYTES = 512 * 1024
log = logging.getLogger("feedback.ingest")
_BEARER = HTTPBearer(
    auto_error=False, description="A token from INGEST_API_TOKENS (admin endpoints: ADMIN_API_TOKENS)."
)


class Accepted(BaseModel):
    """The answer to an accepted (202) or repeated (200) response revision."""

    response_id: str
    revision: int
    status: Literal["accepted"] = "accepted"
    replaces_revision: int | None = Field(default=None, description="The revision this edit replaces, if any.")


class Problem(BaseModel):
    """An error answer."""

    detail: str = Field(description="What went wrong, in English.")


class RevisionView(BaseModel):
    """One stored revision and how far it got."""

    revision: int
    state: Literal["accepted", "published"] = Field(description="published: the broker acknowledged it.")
    replaces_revision: int | None
    source: Literal["form", "import"]
    submitted_at: datetime
    received_at: datetime
    published_at: datetime | None


class ResponseView(BaseModel):
    """A response's latest revision and its state."""

    response_id: str
    survey_id: str
    latest: RevisionView
    revisions: int = Field(description="How many revisions are stored.")


class ReplayRequest(BaseModel):
    """Responses whose latest revision is to be published again."""

    model_config = {"extra": "forbid"}
    response_ids: list[ResponseId] = Field(max_length=100_000)


class ReplayAnswer(BaseModel):
    queued: int = Field(description="How many revisions were queued for publishing.")


class ContactView(BaseModel):
    """The respondent's contact data, as stored in ingest only."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


class IngestMetrics:
    """Domain metrics of ingest, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "feedback_ingest_responses_total",
            "Response revisions accepted, by respondent type.",
            ["respondent_type"],
            registry=registry,
        )
        self.rejected = Counter(
            "feedback_ingest_rejected_total",
            "Requests refused, by reason (unauthorized, invalid, conflict, too_large, unsupported_media_type).",
            ["reason"],
            registry=registry,
        )
        self.http_requests = Counter(
            "feedback_ingest_http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duplicates = Counter(
            "feedback_ingest_duplicates_total", "Repeated submissions of an already stored revision.", registry=registry
        )


def build_broker(settings: IngestSettings, registry: CollectorRegistry | None = None) -> KafkaBroker:
    """The producer side of ingest; also the source of its AsyncAPI document."""
    # aiokafka keeps one open batch per partition and makes `send` wait while it is full: at its default of
    # 16 KiB two full-size events fill it, and the relay publishes a few records per broker round trip.
    return kafka_broker(settings, SERVICE, registry, max_batch_size=PRODUCER_BATCH_BYTES)


def _declare_publisher(broker: KafkaBroker):  # noqa: ANN202 - FastStream's publisher type is internal
    return broker.publisher(
        RESPONSES_TOPIC, title="ResponseReceived", description="Accepted response revisions, without contact data."
    )


class _BrokerPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self.publisher = _declare_publisher(broker)

    async def enqueue(self, row: OutboxRow) -> Awaitable[object]:
        return await self.publisher.publish(
            row.payload,
            key=row.response_id.encode(),
            headers={EVENT_TYPE_HEADER: "ResponseReceived"},
            no_confirm=True,
        )


def create_app(
    settings: IngestSettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the ingest API, its store and its outbox relay."""
    # Configured from the environment means run as a service (uvicorn --factory): log JSON.
    if configure_logs if configure_logs is not None else settings is None:
        configure_logging(SERVICE)
    settings = settings or IngestSettings()
    if not settings.tokens:
        raise ValueError("INGEST_API_TOKENS is empty: the API would accept no one")
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)
    store = IngestStore(settings.database_url)
    current: dict[str, KafkaBroker] = {}

    async def connect() -> Publisher:
        broker = build_broker(settings, registry)
        publisher = _BrokerPublisher(broker)
        current["broker"] = broker
        await broker.connect()
        return publisher

    async def disconnect() -> None:
        broker = current.pop("broker", None)
        if broker is not None:
            await broker.stop()

    relay = OutboxRelay(
        store,
        connect,
        disconnect,
        RelayMetrics(registry),
        batch_size=settings.ingest_relay_batch_size,
        poll_interval=settings.ingest_relay_poll_seconds,
        max_backoff=settings.ingest_relay_max_backoff_seconds,
    )

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
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()
            await store.close()

    form_tokens = tuple(token.encode() for token in settings.tokens + settings.admin_tokens)
    admin_tokens = tuple(token.encode() for token in settings.admin_tokens)

    def _check(presented: str | None, tokens: tuple[bytes, ...]) -> bool:
        given = presented.encode() if presented is not None else b""
        # Compare against every token, so the time taken says nothing about which one nearly matched.
        matches = [hmac.compare_digest(given, token) for token in tokens]
        return presented is not None and any(matches)

    # Async, so FastAPI runs them on the event loop rather than handing each request to a worker thread.
    async def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> None:  # noqa: B008
        if not _check(credentials.credentials if credentials else None, form_tokens):
            metrics.rejected.labels("unauthorized").inc()
            raise _Unauthorized()

    async def admin(credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> None:  # noqa: B008
        if not admin_tokens or not _check(credentials.credentials if credentials else None, admin_tokens):
            metrics.rejected.labels("unauthorized").inc()
            raise _Unauthorized()

    app = IngestAPI(
        title="feedback-ingest",
        version="0.2.0",
        description="Takes in statements on Oma Häme's draft service strategy, as the survey form posts them.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.relay = relay

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"detail": "missing or invalid bearer token"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        metrics.rejected.labels("invalid").inc()
        # Field and reason only: echoing the input would send contact data (and unencodable text) back.
        errors = [
            {"loc": list(error.get("loc", ())), "msg": _text(error.get("msg", "")), "type": error.get("type", "")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "the request could not be completed; retry later"}, status_code=503)

    @app.post(
        "/v1/responses",
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            200: {"model": Accepted, "description": "The same revision with the same content was already accepted."},
            401: {"model": Problem},
            409: {"model": Problem, "description": "Same revision with other content, or an older revision."},
            413: {"model": Problem},
            415: {"model": Problem},
        },
        summary="Submit a response (or an edit of one)",
        dependencies=[Depends(authorized)],
        response_model=Accepted,
    )
    async def submit_response(response: SurveyResponse) -> Response:
        """Accept one response revision: 202 once it is stored durably with its outbox row.

        The outbox relay publishes it to `feedback.responses.v1` as soon as the broker acknowledges; while
        the broker is away, responses keep being accepted and wait in the outbox.
        """
        status_code, body = await submit(response)
        return JSONResponse(body, status_code=status_code)

    # The counters' children of the hot path, looked up once each (labels() takes a lock and checks its input).
    received = functools.cache(metrics.received.labels)
    answered = functools.cache(lambda code: metrics.http_requests.labels("POST", "/v1/responses", str(code)))

    async def submit(response: SurveyResponse) -> tuple[int, dict]:
        """Store a valid response revision; the status code and body of the answer (202, 200 or 409)."""
        try:
            result = await store.accept(response, datetime.now(UTC))
        except ConflictError as exc:
            metrics.rejected.labels("conflict").inc()
            return status.HTTP_409_CONFLICT, {"detail": str(exc)}
        # Accepted's fields, in its order.
        body = {
            "response_id": result.response_id,
            "revision": result.revision,
            "status": "accepted",
            "replaces_revision": result.replaces_revision,
        }
        if result.outcome is Outcome.DUPLICATE:
            metrics.duplicates.inc()
            return status.HTTP_200_OK, body
        relay.notify()
        received(response.respondent_type.value).inc()
        log.info(
            "accepted response %s revision %d",
            response.response_id,
            response.revision,
            extra={"response_id": response.response_id, "revision": response.revision},
        )
        return status.HTTP_202_ACCEPTED, body

    async def submit_directly(scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/responses without the framework, for a request that is all in order: a JSON body of at most
        the limit, a valid token, a valid response. Anything else goes to the FastAPI route (with the body read
        so far), which answers it as it always has: 401, 413, 415, 422 with the same bodies and counts."""
        authorization = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"content-length" and length is None:
                length = value
        if (
            length is None
            or not length.isdigit()
            or int(length) > settings.ingest_max_body_bytes
            or content_type is None
            or content_type.split(b";")[0].strip().lower() != b"application/json"
            or not _bearer_ok(authorization)
        ):
            await app.framework(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > settings.ingest_max_body_bytes:
                break  # longer than it said: BodyLimit answers 413
        raw = b"".join(chunks)
        try:
            if more or size > settings.ingest_max_body_bytes:
                raise ValueError("the body is over the limit")
            # Parsed and validated in one pass. Whatever this refuses (it is stricter than json.loads on lone
            # surrogates, for one) the route judges as before; whatever it accepts, json.loads and
            # validation would have accepted as the same response.
            response = SurveyResponse.model_validate_json(raw)
        except Exception:
            await app.framework(scope, replay_body(raw, more, receive), send)
            return
        try:
            status_code, body = await submit(response)
        except Exception:
            log.exception("unexpected error on POST /v1/responses")
            status_code, body = (
                status.HTTP_503_SERVICE_UNAVAILABLE,
                {"detail": "the request could not be completed; retry later"},
            )
        answered(status_code).inc()
        await send_json(send, status_code, body)

    def _bearer_ok(header: bytes | None) -> bool:
        # As HTTPBearer reads the header: "<scheme> <credentials>", scheme "bearer" in any case.
        scheme, _, credentials = (header or b"").decode("latin-1").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return False
        return _check(credentials, form_tokens)

    @app.get(
        "/v1/responses/{response_id}",
        responses={401: {"model": Problem}, 404: {"model": Problem}},
        dependencies=[Depends(authorized)],
        summary="A response's latest revision and its state",
    )
    async def get_response(response_id: str) -> ResponseView:
        stored = await store.revisions_of(response_id)
        if not stored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
        return ResponseView(
            response_id=response_id, survey_id=stored[-1].survey_id, latest=_view(stored[-1]), revisions=len(stored)
        )

    @app.get(
        "/v1/responses/{response_id}/revisions",
        responses={401: {"model": Problem}, 404: {"model": Problem}},
        dependencies=[Depends(authorized)],
        summary="Every stored revision of a response",
    )
    async def get_revisions(response_id: str) -> list[RevisionView]:
        stored = await store.revisions_of(response_id)
        if not stored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
        return [_view(r) for r in stored]

    @app.get(
        "/v1/responses/{response_id}/contact",
        responses={401: {"model": Problem}, 404: {"model": Problem}},
        dependencies=[Depends(admin)],
        summary="The respondent's contact data (admin)",
    )
    async def get_contact(response_id: str) -> ContactView:
        contact = await store.contact(response_id)
        if contact is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact data stored for response {response_id!r}")
        return ContactView(**contact.__dict__)

    @app.delete(
        "/v1/responses/{response_id}/contact",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={401: {"model": Problem}, 404: {"model": Problem}},
        dependencies=[Depends(admin)],
        summary="Erase the respondent's contact data (admin); the statement stays",
    )
    async def erase_contact(response_id: str) -> Response:
        if not await store.exists(response_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
        erased = await store.erase_contact(response_id)
        log.info("contact data of response %s erased (%s)", response_id, "deleted" if erased else "none stored")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.get(
        "/v1/admin/accepted",
        responses={401: {"model": Problem}},
        dependencies=[Depends(admin)],
        summary="Every response's latest accepted revision (admin; for feedback reconcile)",
    )
    async def accepted() -> dict[str, int]:
        return await store.latest_revisions()

    @app.post(
        "/v1/admin/replay",
        responses={401: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem}},
        dependencies=[Depends(admin)],
        summary="Publish the latest revision of the given responses again (admin; for feedback reconcile)",
    )
    async def replay_latest(request: ReplayRequest) -> ReplayAnswer:
        queued = await store.enqueue_latest(request.response_ids)
        relay.notify()
        log.info("replay of %d response(s) queued", queued)
        return ReplayAnswer(queued=queued)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        # Ready means able to accept: the store answers. The broker may be away; the outbox holds the backlog.
        database = await store.ping()
        body = {
            "database": "ok" if database else "unreachable",
            "broker": "connected" if relay.connected else "unreachable",
        }
        return JSONResponse(body, status_code=200 if database else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    spec_broker = build_broker(settings)
    _declare_publisher(spec_broker)
    specification = AsyncAPI(spec_broker, title="feedback-ingest", description="Publishes accepted response revisions.")

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> Response:
        return Response(specification.to_specification().to_json(), media_type="application/json")

    app.add_middleware(BodyLimit, max_bytes=settings.ingest_max_body_bytes)
    app.add_middleware(RequestMetrics, counter=metrics.http_requests)
    app.direct["/v1/responses"] = submit_directly
    return app


class IngestAPI(FastAPI):
    """FastAPI, except that the hot request (POST /v1/responses) first goes to a plain ASGI handler.

    FastAPI's middleware stack, routing and dependency solving cost more CPU per request than storing the
    response does. The route stays declared (OpenAPI, docs, and the answers to anything not in order).
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.direct: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and (handler := self.direct.get(scope["path"])):
            await handler(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request through FastAPI as usual."""
        await super().__call__(scope, receive, send)


class RequestMetrics:
    """ASGI middleware counting answers by route template (never the raw path: ids are unbounded)."""

    def __init__(self, app, counter: Counter) -> None:  # noqa: ANN001
        self.app = app
        self.counter = counter

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def tracking(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.counter.labels(scope["method"], template, str(status["code"])).inc()


def _view(state) -> RevisionView:  # noqa: ANN001
    return RevisionView(
        revision=state.revision,
        state=state.state,
        replaces_revision=state.replaces_revision,
        source=state.source,
        submitted_at=state.submitted_at,
        received_at=state.received_at,
        published_at=state.published_at,
    )


def _text(value: object) -> str:
    return str(value).encode("utf-8", "replace").decode("utf-8")


class _Unauthorized(Exception):
    pass
