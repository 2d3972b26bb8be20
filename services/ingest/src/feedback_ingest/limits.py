"""Request limits enforced before anything is parsed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic_core import to_json

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes` (declared or streamed), 415 for non-JSON posts."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, json_paths: tuple[str, ...] = ("/v1/responses", "/v1/admin/replay")
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_paths = json_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared, content_type = body_headers(scope)
        if not declared_within(declared, self.max_bytes):
            await _problem(send, 413, f"request body over the limit of {self.max_bytes} bytes")
            return
        if scope["path"] in self.json_paths:
            media_type = media_type_of(content_type)
            if media_type != "application/json":
                await _problem(send, 415, f"content type must be application/json, not {media_type or 'missing'!r}")
                return
        # Read the whole body here (it is at most max_bytes) so an oversized stream is refused before
        # the application parses a byte of it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _problem(send, 413, f"request body over the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if scope["path"] in self.json_paths:
            try:
                b"".join(chunks).decode("utf-8")
            except UnicodeDecodeError as exc:
                # Shaped like FastAPI's own 422, so the answer matches the documented schema.
                error = {"loc": ["body", exc.start], "msg": "request body is not valid UTF-8", "type": "json_invalid"}
                await _problem(send, 422, [error])
                return
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def body_headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The request's Content-Length and Content-Type as sent (None when absent; the last of repeated headers
    counts)."""
    declared = content_type = None
    for name, value in scope.get("headers", []):
        name = name.lower()
        if name == b"content-length":
            declared = value
        elif name == b"content-type":
            content_type = value
    return declared, content_type


def declared_within(declared: bytes | None, max_bytes: int) -> bool:
    """Whether a Content-Length (if any) is a number of at most `max_bytes`."""
    # bytes.isdigit: ASCII digits only (str.isdigit would pass "²", which int() refuses).
    return declared is None or (declared.isdigit() and int(declared) <= max_bytes)


def media_type_of(content_type: bytes | None) -> str:
    """The media type of a Content-Type header, lower case, without its parameters ("" when absent)."""
    return (content_type or b"").decode("latin-1").split(";")[0].strip().lower()


def is_utf8(body: bytes) -> bool:
    """Whether a body is UTF-8 as BodyLimit judges it (pydantic's JSON parser lets encoded surrogates through)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _problem(send: Send, status: int, detail: object) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, content: object) -> None:
    """A JSON answer, byte for byte as Starlette's JSONResponse renders it (compact, UTF-8), by pydantic-core's
    serializer: a tenth of `json.dumps`'s time for the answer to every accepted response."""
    body = to_json(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` (all of it, read already) first, then whatever `receive` still has."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def read_within(receive: Receive, max_bytes: int) -> tuple[bytes | None, list[Message]]:
    """The whole request body if it is at most `max_bytes`, and the messages it came in; None for the body when
    it is larger (read up to the message past the limit) or the client went away (read up to its disconnect)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] == "http.disconnect":
            return None, messages
        size += len(message.get("body", b""))
        if size > max_bytes:
            return None, messages
        if not message.get("more_body", False):
            if len(messages) == 1:
                return message.get("body", b""), messages
            return b"".join(m.get("body", b"") for m in messages), messages


def replay_messages(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out `messages` (received already) first, then whatever `receive` still has."""
    pending = iter(messages)

    async def replay() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return replay
