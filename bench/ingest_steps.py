"""Where ingest's CPU per response goes: each step of an accept, measured alone on the load's body.

Phase 1 runs this in a fresh process after its servers stopped, on the phase's broker:
`python -m bench.ingest_steps --bootstrap HOST:PORT --workdir DIR` prints one JSON object. Every step is
ingest's own code (the functions the service calls, on a real SQLite file and the real broker), timed
with the process's CPU clock over many distinct responses, median of three passes. The HTTP part (h11,
uvicorn, the ASGI messages, the socket) is not here: the bare endpoint's CPU per response stands for it.
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .common import body_template

PASSES = 3


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
    from feedback_ingest import store as st
    from feedback_ingest.migrations import migrate
    from feedback_runtime.logs import JsonFormatter

    steps: dict[str, float] = {}
    bodies = _bodies(count)
    steps["json"] = _cpu_us(lambda: [json.loads(b) for b in bodies], count)
    steps["validate"] = _cpu_us(lambda: [SurveyResponse.model_validate_json(b) for b in bodies], count)
    responses = [SurveyResponse.model_validate_json(b) for b in bodies]
    steps["fingerprint"] = _cpu_us(lambda: [st.content_hash(r) for r in responses], count)
    now = datetime.now(UTC)
    steps["event"] = _cpu_us(lambda: [st._event(r, now, None).model_dump_json() for r in responses], count)

    # The group's decision and rows (_plan, which builds each event), then its SQL statements, on a real file.
    pending = [st._Pending(r, now, st.content_hash(r)) for r in responses]
    groups = [pending[i : i + group] for i in range(0, count, group)]
    steps["decide"] = _cpu_us(lambda: [st._plan(g, {}, {}) for g in groups], count)
    accept, commit = [], []
    for n in range(PASSES):
        path = workdir / f"steps-{n}-{uuid.uuid4().hex[:6]}.sqlite3"
        migrate(f"sqlite:///{path}")
        connection = st._sqlite_connection(str(path))
        spent = waited = committing = 0.0
        for g in groups:
            connection.execute("BEGIN IMMEDIATE")
            start = time.process_time()
            st._accept_sqlite(connection, g)
            spent += time.process_time() - start
            wall, cpu = time.perf_counter(), time.process_time()
            st._commit(connection)
            waited += time.perf_counter() - wall
            committing += time.process_time() - cpu
        connection.close()
        accept.append(spent / count * 1e6)
        commit.append((waited / count * 1e6, committing / count * 1e6))
    steps["statements"] = max(0.0, statistics.median(accept) - steps["decide"])
    steps["commit_wall"] = statistics.median(c[0] for c in commit)
    steps["commit_cpu"] = statistics.median(c[1] for c in commit)

    # The accept's log line, through the services' JSON formatter into memory.
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

    steps["log"] = _cpu_us(log_lines, count)
    steps.update(asyncio.run(_relay_steps(bootstrap, workdir, count, batch, str(path))))
    return {"count": count, "group": group, "batch": batch, "steps_us": {k: round(v, 1) for k, v in steps.items()}}


async def _relay_steps(bootstrap: str, workdir: Path, count: int, batch: int, filled: str) -> dict[str, float]:
    """The relay's share per row: read the outbox, publish through ingest's publisher and wait for the
    acknowledgements, mark the rows sent; and raw aiokafka on the same records, for context."""
    from aiokafka import AIOKafkaProducer
    from prometheus_client import CollectorRegistry

    from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC
    from feedback_ingest.app import _BrokerPublisher, build_broker
    from feedback_ingest.settings import IngestSettings
    from feedback_ingest.store import IngestStore

    store = IngestStore(f"sqlite:///{filled}")  # the last pass's file: `count` unsent rows
    rows: list = []
    spent = 0.0
    while len(rows) < count:
        start = time.process_time()
        found = await store.unsent(batch)
        spent += time.process_time() - start
        if not found:
            break
        rows.extend(found)
        store._relay_reads().execute(  # skip past them without marking (marking is measured below)
            "UPDATE outbox SET sent_at = '1970-01-01 00:00:00.000000' WHERE id <= ?", (found[-1].id,)
        )
    read_us = spent / max(1, len(rows)) * 1e6
    store._relay_reads().execute("UPDATE outbox SET sent_at = NULL")

    settings = IngestSettings(kafka_bootstrap_servers=bootstrap, ingest_api_tokens="x")
    broker = build_broker(settings, CollectorRegistry())
    publisher = _BrokerPublisher(broker)
    await broker.connect()
    try:
        await asyncio.gather(*[await publisher.enqueue(r) for r in rows[:batch]])  # warm: metadata, connection
        start = time.process_time()
        for i in range(0, len(rows), batch):
            await asyncio.gather(*[await publisher.enqueue(r) for r in rows[i : i + batch]])
        publish_us = (time.process_time() - start) / len(rows) * 1e6
    finally:
        await broker.stop()

    now = datetime.now(UTC)
    start = time.process_time()
    for i in range(0, len(rows), batch):
        await store.mark_sent(rows[i : i + batch], now)
    mark_us = (time.process_time() - start) / len(rows) * 1e6
    await store.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024)
    await producer.start()
    try:
        headers = [(EVENT_TYPE_HEADER, b"ResponseReceived")]
        records = [(r.payload.encode(), r.response_id.encode()) for r in rows]
        start = time.process_time()
        for i in range(0, len(records), batch):
            acks = [
                await producer.send(RESPONSES_TOPIC, value, key=key, headers=headers)
                for value, key in records[i : i + batch]
            ]
            await asyncio.gather(*acks)
        raw_us = (time.process_time() - start) / len(records) * 1e6
    finally:
        await producer.stop()
    return {"relay_read": read_us, "relay_publish": publish_us, "relay_mark": mark_us, "raw_aiokafka": raw_us}


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
