"""The peer ingest is measured against in the same run (issue #18): what a FastStream user writes first.

A FastAPI endpoint that validates the same `SurveyResponse` as ingest and awaits `broker.publish(...)` of it to
the same broker (FastStream's KafkaBroker, acks from all in-sync replicas) before it answers 202; no database,
no outbox, no token check, no metrics. Nothing it accepts survives a broker that is away, which ingest's
outbox is for; the yardstick is whether ingest, durable, still accepts as many responses per second.

`uvicorn --factory bench.peer:create_app` with KAFKA_BOOTSTRAP_SERVERS set; it publishes to PEER_TOPIC.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, status
from faststream.kafka import KafkaBroker

from feedback_contracts.responses import SurveyResponse

# A topic of its own, with as many partitions as the pipeline's (the ingest phase creates it): nothing that
# consumes the pipeline's topics ever reads the peer's records.
PEER_TOPIC = "bench.peer.v1"


def create_app() -> FastAPI:
    broker = KafkaBroker(os.environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.connect()
        try:
            yield
        finally:
            await broker.stop()

    app = FastAPI(title="bench-peer", lifespan=lifespan)

    @app.post("/v1/responses", status_code=status.HTTP_202_ACCEPTED)
    async def submit(response: SurveyResponse) -> dict[str, object]:
        await broker.publish(response, topic=PEER_TOPIC, key=response.response_id.encode())
        return {"response_id": response.response_id, "revision": response.revision, "status": "accepted"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
