"""Composition root of the ingest service: `uvicorn --factory feedback_ingest.app:create_app`."""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import UTC, datetime
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka.fastapi import KafkaRouter
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.responses import SurveyResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, Field

from .settings import IngestSettings

SERVICE = "ingest"
_BEARER = HTTPBearer(auto_error=False, description="A token from INGEST_API_TOKENS.")
log = logging.getLogger("feedback.ingest")


class Accepted(BaseModel):
    """The answer to an accepted response revision."""

    response_id: str
    revision: int
    status: Literal["accepted"] = "accepted"


class Problem(BaseModel):
    """An error answer."""

    detail: str = Field(description="What went wrong, in English.")


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
            "Requests refused, by reason (unauthorized, invalid, broker_unavailable).",
            ["reason"],
            registry=registry,
        )


def received_event(response: SurveyResponse, received_at: datetime) -> ResponseReceived:
    """The event for an accepted response: everything but the respondent's contact data."""
    return ResponseReceived(
        survey_id=response.survey_id,
        response_id=response.response_id,
        revision=response.revision,
        submitted_at=response.submitted_at,
        received_at=received_at,
        source=response.source,
        respondent=PublicRespondent(organization=response.respondent.organization, title=response.respondent.title),
        respondent_type=response.respondent_type,
        answers=tuple(sorted(response.answers, key=lambda a: a.question)),
    )


def create_app(settings: IngestSettings | None = None, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the ingest API."""
    settings = settings or IngestSettings()
    if not settings.tokens:
        raise ValueError("INGEST_API_TOKENS is empty: the API would accept no one")
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)

    router = KafkaRouter(
        settings.kafka_bootstrap_servers,
        client_id=f"feedback-{SERVICE}",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=SERVICE, metrics_prefix="feedback")],
        schema_url="/asyncapi",
        include_in_schema=True,
    )
    publisher = router.publisher(
        RESPONSES_TOPIC, title="ResponseReceived", description="Accepted response revisions, without contact data."
    )

    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> None:  # noqa: B008
        presented = credentials.credentials.encode() if credentials else b""
        # Compare against every token so timing says nothing about which one nearly matched.
        matches = [hmac.compare_digest(presented, token.encode()) for token in settings.tokens]
        if credentials is None or not any(matches):
            metrics.rejected.labels("unauthorized").inc()
            raise _Unauthorized()

    app = FastAPI(
        title="feedback-ingest",
        version="0.1.0",
        description="Takes in statements on Oma Häme's draft service strategy, as the survey form posts them.",
    )
    app.include_router(router)

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
        return await request_validation_exception_handler(request, exc)

    @app.post(
        "/v1/responses",
        status_code=status.HTTP_202_ACCEPTED,
        responses={401: {"model": Problem}, 503: {"model": Problem}},
        summary="Submit a response (or an edit of one)",
        dependencies=[Depends(authorized)],
    )
    async def submit_response(response: SurveyResponse) -> Accepted:
        """Accept one response revision; answers 202 only once the broker has acknowledged it."""
        event = received_event(response, datetime.now(UTC))
        try:
            await asyncio.wait_for(
                publisher.publish(
                    event.model_dump_json(),
                    key=response.response_id.encode(),
                    headers={EVENT_TYPE_HEADER: "ResponseReceived"},
                ),
                timeout=settings.ingest_publish_timeout_seconds,
            )
        except Exception as exc:
            metrics.rejected.labels("broker_unavailable").inc()
            log.error(
                "publish of response %s revision %d failed: %s",
                response.response_id,
                response.revision,
                type(exc).__name__,
            )
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the message broker did not acknowledge the response; retry later",
                headers={"Retry-After": "5"},
            ) from exc
        metrics.received.labels(response.respondent_type.value).inc()
        log.info("accepted response %s revision %d", response.response_id, response.revision)
        return Accepted(response_id=response.response_id, revision=response.revision)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if await router.broker.ping(timeout=3.0):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "broker unreachable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


class _Unauthorized(Exception):
    pass
