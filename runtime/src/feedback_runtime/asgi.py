"""The ASGI application of a consumer service: FastStream's broker with the standard routes (/healthz,
/readyz, /metrics), the service's own routes, and its AsyncAPI page."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, AsyncAPIRoute, Request, get, make_ping_asgi
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .tokens import UNAUTHORIZED_DETAIL, UNAUTHORIZED_HEADERS, token_matches

# How long /readyz waits for the broker to answer.
READY_TIMEOUT_SECONDS = 3.0

Hook = Callable[[], Awaitable[None]]


def standard_routes(broker: KafkaBroker, registry: CollectorRegistry) -> list[tuple[str, Any]]:
    """/healthz (the process answers), /readyz (the broker answers) and /metrics."""

    @get(include_in_schema=False)
    async def healthz(scope: object):  # noqa: ANN202 - FastStream resolves annotations in module globals
        return AsgiResponse(b"ok", 200)

    @get(include_in_schema=False)
    async def metrics(scope: object):  # noqa: ANN202
        return AsgiResponse(generate_latest(registry), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return [
        ("/healthz", healthz),
        ("/readyz", make_ping_asgi(broker, timeout=READY_TIMEOUT_SECONDS, include_in_schema=False)),
        ("/metrics", metrics),
    ]


def consumer_app(
    broker: KafkaBroker,
    registry: CollectorRegistry,
    *,
    title: str,
    description: str,
    routes: Sequence[tuple[str, Any]] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> AsgiFastStream:
    """The service's ASGI app. The AsyncAPI page has no "try it out" route, which would let anyone publish."""
    return AsgiFastStream(
        broker,
        asgi_routes=[*standard_routes(broker, registry), *routes],
        asyncapi_path=AsyncAPIRoute("/asyncapi", try_it_out_path=None),
        specification=AsyncAPI(title=title, description=description),
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
    )


def on_event_loop(function: Callable[[], None]) -> Hook:
    """A plain start/stop function as the coroutine FastStream's lifecycle hooks expect."""

    async def run() -> None:
        function()

    return run


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body, ensure_ascii=False).encode(),
        status,
        headers={"content-type": "application/json", **(headers or {})},
    )


def unauthorized(request: Request, tokens: Sequence[str]) -> AsgiResponse | None:
    """The 401 answer for a request without one of `tokens`; None when it has one."""
    if token_matches(request.headers.get("authorization"), tokens):
        return None
    return json_response({"detail": UNAUTHORIZED_DETAIL}, 401, UNAUTHORIZED_HEADERS)


def query_param(request: Request, name: str) -> str | None:
    """One query parameter (its last value), or None: FastStream's `query_params` holds lists."""
    values = request.query_params.get(name) or []
    return values[-1] or None if values else None
