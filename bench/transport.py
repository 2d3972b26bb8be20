"""Phase 3, the transport ceiling: raw aiokafka producing and consuming the events ingest publishes.

The payload is the ResponseReceived JSON ingest would publish for the seed statement, each with its own
response id as key, on a fresh topic with the pipeline's six partitions. Producing is batched (send()
without waiting, acks=all like the services); consuming reads them all back from the start. Context for
the other figures, not a target: it says how much of the pipeline's budget the broker itself takes.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from feedback_cli.devstack import create_topics

from .common import SEED_RESPONSE, Children, CpuMeter, Plan, broker, received_event

PARTITIONS = 6
# A response id the schema accepts and nothing else in the event contains, replaced by each real id.
_MARKER = "BENCHxRESPONSExID"


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    with broker(children, workdir) as kafka:
        topic = f"bench.transport.{uuid.uuid4().hex[:8]}"
        create_topics(kafka.bootstrap, PARTITIONS, topics=[topic])
        tansu = [c for c in children.started if c.name == "tansu" and c.process.poll() is None]
        pids = {"broker": tansu[-1].pid} if tansu and not kafka.external else {}
        result = asyncio.run(_measure(kafka.bootstrap, topic, plan.transport_messages, pids))
        result["broker"] = kafka.description
    print(f"  transport: produce {result['produce_rate']:.0f}/s, consume {result['consume_rate']:.0f}/s", flush=True)
    return result


def event_template() -> tuple[bytes, bytes]:
    """The seed as ingest's ResponseReceived, serialised as ingest serialises it, split around its response id.

    Serialised once and then spliced per message, so building tens of thousands of events costs nothing.
    """
    from feedback_contracts.responses import SurveyResponse

    response = SurveyResponse.model_validate(json.loads(SEED_RESPONSE.read_text(encoding="utf-8")))
    event = received_event(response, datetime.now(UTC), response_id=_MARKER)
    before, after = event.model_dump_json().encode().split(_MARKER.encode(), 1)
    return before, after


def _window(before: bytes, after: bytes, first: int, size: int) -> list[tuple[bytes, bytes]]:
    keys = [f"bench-transport-{i:06d}".encode() for i in range(first, first + size)]
    return [(key, before + key + after) for key in keys]


async def _measure(bootstrap: str, topic: str, count: int, pids: dict[str, int]) -> dict:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    before, after = event_template()
    size = len(before) + len(after) + len("bench-transport-000000")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576)
    await producer.start()
    try:
        meter = CpuMeter(pids)
        start = time.perf_counter()
        # Queue everything, a window at a time so memory stays flat, then wait for every acknowledgement.
        for offset in range(0, count, 1000):
            window = _window(before, after, offset, min(1000, count - offset))
            pending = [await producer.send(topic, value, key=key) for key, value in window]
            await asyncio.gather(*pending)
        produce_s = time.perf_counter() - start
        produce_cpu = meter.read()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        # What the broker says the log ends at: consumer-lag gauges are end offset minus committed offset.
        from aiokafka import TopicPartition

        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        meter = CpuMeter(pids)
        start, received = time.perf_counter(), 0
        while received < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            received += sum(len(records) for records in batches.values())
            if time.perf_counter() - start > 300:
                break
        consume_s = time.perf_counter() - start
        consume_cpu = meter.read()
    finally:
        await consumer.stop()
    return {
        "messages": count,
        "received": received,
        "event_bytes": round(size),
        "partitions": PARTITIONS,
        "produce_rate": round(count / produce_s, 1),
        "produce_mb_s": round(count * size / produce_s / 1e6, 1),
        "consume_rate": round(received / consume_s, 1),
        "consume_mb_s": round(received * size / consume_s / 1e6, 1),
        "end_offsets_sum": sum(ends.values()),
        "broker_cpu_produce": produce_cpu.get("broker"),
        "broker_cpu_consume": consume_cpu.get("broker"),
    }
