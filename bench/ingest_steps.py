"""Where ingest's CPU per response goes: each step of an accept, measured alone on the load's body.

Phase 1 runs this in a fresh process after its servers stopped, on the phase's broker:
`python -m bench.ingest_steps --bootstrap HOST:PORT --workdir DIR [--count N]` prints one JSON object.

Every step is timed through public API that has tests of its own, never through a service's private names
(tests/bench/test_bench_seams.py checks): the contracts' validation (`SurveyResponse.model_validate_json`),
ingest's store (`IngestStore`: accept, and the relay's side of it: unsent, mark_sent, enqueue_replay), its
relay (`OutboxRelay`) and its producer (`build_producer`), on a real SQLite file and the real broker. Each is
timed with the process's CPU clock (every thread) over many distinct responses, median of three passes. The
HTTP part (httptools, uvicorn, the ASGI messages, the socket) is not here: the bare endpoint's CPU per response
stands for it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import body_template, received_event

PASSES = 3
# How long the relay may take to publish one pass's rows before the measurement is given up.
RELAY_TIMEOUT_S = 120.0


def _cpu_us(work: Callable[[], object], count: int) -> float:
    """CPU microseconds per item of `work()` (which handles `count` items), median of PASSES runs."""
    samples = []
    for _ in range(PASSES):
        start = time.process_time()
        work()
        samples.append((time.process_time() - start) / count * 1e6)
    return statistics.median(samples)


def _bodies(count: int) -> list[bytes]:
    before, after = body_template()
    return [before + f"steps-{uuid.uuid4().hex}".encode() + after for _ in range(count)]


def measure(bootstrap: str, workdir: Path, count: int = 2000, group: int = 64, batch: int = 200) -> dict:
    from feedback_contracts.responses import SurveyResponse
    from feedback_ingest.rules import content_hash, event_json

    steps: dict[str, float] = {}
    bodies = _bodies(count)
    steps["json"] = _cpu_us(lambda: [json.loads(b) for b in bodies], count)
    steps["validate"] = _cpu_us(lambda: [SurveyResponse.model_validate_json(b) for b in bodies], count)
    responses = [SurveyResponse.model_validate_json(b) for b in bodies]
    # Context for the accept below, which does both: the fingerprint that tells a retry from a conflict, and the
    # event built and serialised (feedback_ingest.rules.received_event and event_json).
    steps["fingerprint"] = _cpu_us(lambda: [content_hash(r) for r in responses], count)
    now = datetime.now(UTC)
    steps["event"] = _cpu_us(lambda: [event_json(received_event(r, now)) for r in responses], count)
    steps["log"] = _cpu_us(_log_lines(responses), count)
    store_steps = asyncio.run(_store_steps(bootstrap, workdir, responses, group, batch))
    steps.update({name: statistics.median(values) for name, values in store_steps.items()})
    return {"count": count, "group": group, "batch": batch, "steps_us": {k: round(v, 1) for k, v in steps.items()}}


def _log_lines(responses: Sequence[Any]) -> Callable[[], None]:
    """The accept's log line, through the services' JSON formatter into memory."""
    from feedback_runtime.logs import JsonFormatter

    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter("ingest"))
    logger = logging.getLogger("bench.steps")
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)

    def log_lines() -> None:
        for r in responses:
            logger.info(
                "accepted response %s revision %d",
                r.response_id,
                r.revision,
                extra={"response_id": r.response_id, "revision": r.revision},
            )

    return log_lines


# --- the store and the relay ---------------------------------------------------------------------------------


class RawPublisher:
    """The same records through raw aiokafka (no framework, no metrics): the floor of publishing."""

    def __init__(self, producer: Any) -> None:
        from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC

        self._producer = producer
        self._topic = RESPONSES_TOPIC
        self._headers = [(EVENT_TYPE_HEADER, b"ResponseReceived")]

    async def enqueue(self, row: Any) -> Awaitable[object]:
        return await self._producer.send(self._topic, row.payload, key=row.response_id.encode(), headers=self._headers)


class FastStreamPublisher:
    """The same records through FastStream's publisher with its Prometheus middleware, as ingest's relay published
    them before it used aiokafka directly: context for what that change saved."""

    def __init__(self, broker: Any) -> None:
        from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC

        self._publisher = broker.publisher(RESPONSES_TOPIC)
        self._headers = {EVENT_TYPE_HEADER: "ResponseReceived"}

    async def enqueue(self, row: Any) -> Awaitable[object]:
        # The event as text, as the relay then read it from the outbox.
        return await self._publisher.publish(
            row.payload.decode(), key=row.response_id.encode(), headers=self._headers, no_confirm=True
        )


async def _publish(publisher: Any, rows: Sequence[Any], batch: int) -> float:
    """CPU seconds to publish `rows` a batch at a time as the relay does: enqueue each, then await every ack."""
    start = time.process_time()
    for i in range(0, len(rows), batch):
        acks = [await publisher.enqueue(row) for row in rows[i : i + batch]]
        await asyncio.gather(*acks)
    return time.process_time() - start


@dataclass
class _Samples:
    """Per pass, µs per response (or per row)."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float, count: int) -> None:
        self.values.setdefault(name, []).append(seconds / max(1, count) * 1e6)


async def _store_steps(
    bootstrap: str, workdir: Path, responses: Sequence[Any], group: int, batch: int
) -> dict[str, list[float]]:
    """Per pass, on a fresh SQLite file: the accepts (in groups, as concurrent requests make them), the relay's
    reads and marks, publishing through ingest's broker and through raw aiokafka, and the whole relay loop."""
    from aiokafka import AIOKafkaProducer
    from prometheus_client import CollectorRegistry

    from feedback_ingest.app import RelayPublisher, build_broker, build_producer
    from feedback_ingest.settings import IngestSettings
    from feedback_runtime.kafka import PublishMetrics

    settings = IngestSettings(kafka_bootstrap_servers=bootstrap, ingest_api_tokens="bench")
    ingest_producer = build_producer(settings, PublishMetrics(CollectorRegistry(), "ingest"))
    ingest_publisher = RelayPublisher(ingest_producer)
    broker = build_broker(settings, CollectorRegistry())
    faststream_publisher = FastStreamPublisher(broker)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024)
    await ingest_producer.start()
    await broker.connect()
    await producer.start()
    publishers = {"relay_publish": ingest_publisher, "raw_aiokafka": RawPublisher(producer),
                  "faststream_publish": faststream_publisher}  # fmt: skip
    samples = _Samples()
    try:
        for n in range(PASSES):
            path = workdir / f"steps-{n}-{uuid.uuid4().hex[:6]}.sqlite3"
            await _store_pass(path, responses, group, batch, publishers, samples)
    finally:
        await producer.stop()
        await broker.stop()
        await ingest_producer.stop()
    return samples.values


async def _store_pass(
    path: Path,
    responses: Sequence[Any],
    group: int,
    batch: int,
    publishers: dict[str, Any],
    samples: _Samples,
) -> None:
    from feedback_ingest.migrations import migrate
    from feedback_ingest.store import IngestStore

    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate, url)
    store = IngestStore(url)
    count = len(responses)
    try:
        # Accept: fingerprint, decide, build the rows (the event among them), the SQL and COMMIT (writer thread).
        now = datetime.now(UTC)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, count, group):
            await asyncio.gather(*[store.accept(r, now) for r in responses[i : i + group]])
        samples.add("accept", time.process_time() - cpu, count)
        samples.add("accept_wall", time.perf_counter() - wall, count)

        # The relay's two calls on the store per batch: read the oldest unsent rows, mark them sent.
        if not await store.take_relay_lease(lambda: None):
            raise RuntimeError(f"another process holds the relay lease of {path}")
        read = mark = 0.0
        marked = 0
        while True:
            start = time.process_time()
            rows = await store.unsent(batch)
            if not rows:
                break
            middle = time.process_time()
            await store.mark_sent(rows, datetime.now(UTC))
            read, mark = read + middle - start, mark + time.process_time() - middle
            marked += len(rows)
        if marked != count:
            raise RuntimeError(f"{count} responses accepted, but the outbox held {marked} rows")
        samples.add("relay_read", read, marked)
        samples.add("relay_mark", mark, marked)

        # Publishing the same rows again (a replay queues them anew): through ingest's publisher, raw aiokafka and
        # FastStream's publisher.
        if await store.enqueue_replay() != count:
            raise RuntimeError("the replay did not queue every stored revision")
        rows = await store.unsent(count)
        for name, publisher in publishers.items():
            await _publish(publisher, rows[:batch], batch)  # warm: metadata, connections, buffers
            samples.add(name, await _publish(publisher, rows, batch), len(rows))
        await store.release_relay_lease()

        # The whole relay loop on those rows, as the service runs it: lease, backlog gauges, read, publish, mark.
        samples.add("relay_loop", await _relay_loop(store, publishers["relay_publish"], count, batch), count)
    finally:
        await store.close()


async def _relay_loop(store: Any, publisher: Any, count: int, batch: int) -> float:
    """CPU seconds for ingest's OutboxRelay to publish and mark the `count` unsent rows of `store`."""
    from prometheus_client import CollectorRegistry

    from feedback_ingest.relay import OutboxRelay, RelayMetrics

    registry = CollectorRegistry()

    async def connect() -> Any:
        return publisher  # connected already: the loop, not the connection, is measured

    async def disconnect() -> None:
        return None

    relay = OutboxRelay(store, connect, disconnect, RelayMetrics(registry), batch_size=batch, poll_interval=1.0)
    first = publisher.enqueued
    start = time.process_time()
    task = asyncio.create_task(relay.run())
    deadline = time.monotonic() + RELAY_TIMEOUT_S
    # Done once every row went out and the relay's next round found the outbox empty (the gauge it keeps).
    while publisher.enqueued - first < count or registry.get_sample_value("feedback_ingest_outbox_backlog_messages"):
        if task.done():
            task.result()  # its exception, if it failed
            raise RuntimeError("the relay stopped before publishing every row")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the relay published {publisher.enqueued - first} of {count} rows in {RELAY_TIMEOUT_S:.0f}s"
            )
        await asyncio.sleep(0.005)
    spent = time.process_time() - start
    relay.stop()
    await asyncio.wait_for(task, 30)
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(measure(args.bootstrap, args.workdir, args.count)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
