"""The yardstick: a raw ASGI app that reads the JSON body and answers 202, under the same uvicorn as ingest.

Whatever ingest does beyond this (validation, auth, the store, the outbox, metrics, logging) is what the
ratio ingest/bare measures. `uvicorn --factory bench.bare:create_app`.
"""

from __future__ import annotations

import json

_ACCEPTED = b'{"status":"accepted"}'


def create_app():  # noqa: ANN201 - an ASGI callable
    async def app(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        status, answer = 200, b"ok"
        if scope["method"] == "POST":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            json.loads(b"".join(chunks))  # parse it, as any real endpoint must
            status, answer = 202, _ACCEPTED
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app
