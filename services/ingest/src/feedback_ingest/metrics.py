"""Ingest's metrics, on the service's own registry, and the middleware counting its HTTP answers."""

from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter

from .limits import ASGIApp, Message, Receive, Scope, Send


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


class RequestMetrics:
    """ASGI middleware counting answers by route template (never the raw path: ids are unbounded)."""

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        # The counter's children, looked up once each (labels() takes a lock and checks its input); bounded,
        # as the method is the client's to choose.
        self.child = functools.lru_cache(maxsize=1024)(counter.labels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            # The router (or the fast path) puts the matched route in the scope.
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.child(scope["method"], template, str(status["code"])).inc()
