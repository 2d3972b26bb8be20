"""The relay publishes through aiokafka directly (feedback_runtime.kafka.RecordProducer), not FastStream's
publisher: what operations read about ingest's publishing stays what FastStream's middleware exported (the
dashboard's and the runbook's `feedback_published_messages_total{app_name="ingest"}` and its duration)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from feedback_contracts.events import RESPONSES_TOPIC

pytestmark = pytest.mark.integration

LABELS = {"app_name": "ingest", "broker": "kafka", "destination": RESPONSES_TOPIC}


def test_every_record_the_relay_publishes_is_counted_as_faststream_counted_it(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    registry = CollectorRegistry()
    client = make_client(ingest_settings, registry)
    for n in range(3):
        seed002_response["response_id"] = f"metrics-{unique}-{n}"
        assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202

    def published() -> float:
        return registry.get_sample_value("feedback_published_messages_total", {**LABELS, "status": "success"}) or 0

    eventually(lambda: published() == 3, what="three records counted as published")
    assert registry.get_sample_value("feedback_published_messages_duration_seconds_count", LABELS) == 3
    assert registry.get_sample_value("feedback_published_messages_total", {**LABELS, "status": "error"}) == 0
    keys = {r.key for r in topics.read(RESPONSES_TOPIC)}
    assert {f"metrics-{unique}-{n}".encode() for n in range(3)} <= keys
