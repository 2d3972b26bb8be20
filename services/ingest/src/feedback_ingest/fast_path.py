"""The hot request, POST /v1/responses, answered in front of the whole framework when it is all in order.

Why it stays (measured 2026-12-05 on the shared 2-core machine: uvicorn, SQLite, bench.loadgen closed loop,
64 connections, 8 s windows, median of three): with it ingest accepted 950 responses/s at 1,062 µs of server
CPU per response, through the FastAPI route alone 830/s at 1,237 µs. Per request in-process (store stubbed)
the route costs 225 µs, this path 117 µs: FastAPI's routing, dependency solving, Request and response objects
cost about as much as validating the response.

Why it is the outermost layer (issue #18), in front of FastAPI's own middleware (ServerErrorMiddleware and the
rest) and of ingest's RequestMetrics and BodyLimit: those layers cost an accepted response 16 µs of CPU of the
62 it took from the first layer to the answer, validation included (in-process, store stubbed, 64 requests at a
time); this path does what they did for it in one pass over the headers and counts its own answer.

It saves the framework's share and nothing else: the limits are BodyLimit's (limits.py), the token is checked by
feedback_runtime.tokens, the body judged by `read_response` and the response stored by `Submission`, as on the
route. Anything not in order (no valid token, a body over the limit or not JSON, the client gone, no valid
response) goes on to the framework's stack with what was read of it, which answers and counts it as ever.
"""

from __future__ import annotations

import functools
import logging

from fastapi.routing import APIRoute
from prometheus_client import Counter

from feedback_contracts.responses import SurveyResponse
from feedback_runtime.tokens import token_matches

from .api_models import RETRY_LATER
from .limits import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    declared_within,
    is_utf8,
    media_type_of,
    read_within,
    replay_messages,
    send_json,
)
from .submission import Rejection, Submission, read_response

log = logging.getLogger("feedback.ingest")


class FastPath:
    """ASGI middleware in front of FastAPI's whole stack (ingest's outermost layer, `app.IngestAPI`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        route: APIRoute,
        tokens: tuple[str, ...],
        submission: Submission,
        counter: Counter,
        max_bytes: int,
    ) -> None:
        self.app = app
        self.route = route
        self.tokens = tokens
        self.submission = submission
        self.max_bytes = max_bytes
        # RequestMetrics' count of this route's answers, a child per status looked up once (labels() takes a lock
        # and checks its input); created on first use, as RequestMetrics creates them.
        self.answered = functools.cache(functools.partial(_child, counter, route.path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.route.path:
            await self.app(scope, receive, send)
            return
        declared, content_type, authorization = _headers(scope)
        if (
            not token_matches(authorization, self.tokens)
            or not declared_within(declared, self.max_bytes)
            or media_type_of(content_type) != "application/json"
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await read_within(receive, self.max_bytes)
        response = None if body is None or not is_utf8(body) else self._judge(body)
        if response is None:
            await self.app(scope, replay_messages(messages, receive), send)
            return
        status = 500  # as RequestMetrics counted an answer never started
        try:
            try:
                status, answer = await self.submission.submit(response)
            except Exception:
                log.exception("unexpected error on POST %s", self.route.path)
                status, answer = 503, RETRY_LATER
            await send_json(send, status, answer)
        finally:
            self.answered(status).inc()

    def _judge(self, body: bytes) -> SurveyResponse | None:
        """The valid response a body holds, or None: the route judges it again and answers (400, 422, or 503
        for an error no input should cause, as ServerErrorMiddleware answers it)."""
        try:
            judged = read_response(body)
        except Exception:
            return None
        return None if isinstance(judged, Rejection) else judged


def _child(counter: Counter, path: str, status: int):  # noqa: ANN202 - prometheus_client's child type
    return counter.labels("POST", path, str(status))


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None, str | None]:
    """Content-Length and Content-Type as BodyLimit reads them (limits.body_headers: the last of repeated headers
    counts), and the first Authorization header as the route's `request.headers` finds it, in one pass."""
    declared = content_type = authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
            continue
        name = name.lower()
        if name == b"content-length":
            declared = value
        elif name == b"content-type":
            content_type = value
    return declared, content_type, authorization
