"""Composition root of the workspace: `uvicorn --factory feedback_workspace.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from feedback_contracts.events import CLASSIFIED_TOPIC, ResponseClassified
from feedback_contracts.owners import OwnersDirectory
from feedback_runtime.consumer import EventConsumer
from feedback_runtime.heap import NO_TELEMETRY, freeze_startup_heap
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.lag import lag_monitor
from feedback_runtime.logs import configure_service_logging
from feedback_runtime.owners_watch import LiveOwners
from feedback_runtime.signin import SignInLinks

from . import corrections_api, corrections_web, office, pages, signin
from .auth import Forbidden, SignInRequired
from .correcting import CorrectionsStore
from .corrections_outbox import corrections_publisher
from .escalation import escalation_worker
from .handlers import ClassifiedHandler
from .metrics import WorkspaceMetrics
from .oidc import oidc_sign_in
from .reports.routes import router as reports_router
from .settings import WorkspaceSettings
from .store import WorkspaceStore
from .web import make_templates, page

SERVICE = "workspace"
STATIC = Path(__file__).parent / "static"
# How often the items-by-state gauge is refreshed from the store.
GAUGE_REFRESH_SECONDS = 15.0
# How long stopping waits for an escalation round under way (its publishing) to finish.
STOP_TIMEOUT_SECONDS = 15
API_PREFIX = "/api/"
log = logging.getLogger("feedback.workspace")


def create_app(
    settings: WorkspaceSettings | None = None,
    *,
    owners: OwnersDirectory | None = None,
    clock: Callable[[], datetime] | None = None,
    registry: CollectorRegistry | None = None,
    configure_logs: bool | None = None,
) -> FastAPI:
    """Build the workspace: a consumer of classified events into its own store, and the owners' pages."""
    configure_service_logging(SERVICE, configure_logs, settings)
    settings = settings or WorkspaceSettings()
    secret = settings.workspace_secret.get_secret_value()
    if not secret:
        raise ValueError("WORKSPACE_SECRET is required: it signs sign-in links, sessions and form tokens")
    registry = registry or CollectorRegistry()
    now = clock or (lambda: datetime.now(UTC))
    metrics = WorkspaceMetrics(registry)
    live_owners = LiveOwners(settings, lambda directory: directory, owners)
    store = WorkspaceStore(settings.database_url)
    oidc = oidc_sign_in(settings)  # None unless OIDC_ISSUER is set: then the sign-in page offers it too

    broker = kafka_broker(settings, SERVICE, registry)
    EventConsumer(
        broker,
        settings,
        topic=CLASSIFIED_TOPIC,
        event_type=ResponseClassified,
        group_id=settings.workspace_group_id,
        service=SERVICE,
        handle=ClassifiedHandler(store, metrics, now),
        registry=registry,
        on_parked=metrics.events.labels("dead_lettered").inc,
    )
    lag = lag_monitor(settings, settings.workspace_group_id, CLASSIFIED_TOPIC, registry)
    escalation = escalation_worker(broker, store, settings, lambda: live_owners.current, metrics, now)
    corrections = CorrectionsStore(store.engine)
    publisher = corrections_publisher(broker, corrections, now, settings.workspace_corrections_interval_seconds)

    async def refresh_gauges() -> None:
        while True:
            with contextlib.suppress(Exception):
                metrics.set_counts(await store.counts_by_state())
            await asyncio.sleep(GAUGE_REFRESH_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.workspace_migrate_on_start:
            await store.create()
        await live_owners.watcher.start()
        await broker.start()
        lag.start()
        gauges = asyncio.create_task(refresh_gauges(), name="workspace-gauges")
        reminding = asyncio.create_task(escalation.run(), name="workspace-escalation")
        publishing = asyncio.create_task(publisher.run(), name="workspace-corrections")
        freeze_startup_heap()
        try:
            yield
        finally:
            escalation.stop()
            publisher.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(reminding, publishing), timeout=STOP_TIMEOUT_SECONDS)
            gauges.cancel()
            lag.stop()
            await broker.stop()
            await live_owners.watcher.stop()
            await store.close()

    app = FastAPI(
        title="feedback-workspace", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
        telemetry=NO_TELEMETRY,
    )  # fmt: skip
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.escalation = escalation
    app.state.corrections = corrections
    app.state.corrections_publisher = publisher
    app.state.owners = live_owners
    app.state.links = SignInLinks(secret)
    app.state.templates = make_templates()
    app.state.oidc = oidc
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="tyotila",
        max_age=int(settings.workspace_session_hours * 3600),
        same_site="lax",
        https_only=settings.workspace_secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(office.router)
    app.include_router(reports_router)  # the office's summary: downloads, the coverage chart, the reports API
    app.include_router(corrections_web.router)
    app.include_router(corrections_api.router)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> HTMLResponse:
        return page(request, "signin.html.j2", status_code=401, title="Kirjaudu sisään", token=None, owner_name=None,
                    problem=None, next_path=request.url.path, oidc=app.state.oidc is not None, signed_in=False)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(API_PREFIX):  # the API answers in JSON, in English
            if exc.status_code == 401:
                metrics.refused.labels("unauthorized").inc()
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return page(request, "not_found.html.j2", status_code=404, title="Sivua ei löydy")
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        metrics.refused.labels("forbidden").inc()
        return page(request, "forbidden.html.j2", status_code=403, title="Ei käyttöoikeutta")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ready = await store.ping()
        return PlainTextResponse("ready" if ready else "database unavailable", status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
