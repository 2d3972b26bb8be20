"""Ingest against the real broker: 202 only after the write is acknowledged, and no contact data on the topic."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from feedback_cli.devstack import free_port, start_tansu, stop_process
from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC, ResponseReceived
from feedback_ingest.app import create_app
from feedback_ingest.settings import IngestSettings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration
TOKEN = "form-token"


def test_an_accepted_response_is_on_the_topic_keyed_by_its_id_without_contact_data(
    kafka_bootstrap: str, topics, seed002_response: dict, unique: str
) -> None:
    seed002_response["response_id"] = f"ingest-{unique}"
    registry = CollectorRegistry()
    settings = IngestSettings(kafka_bootstrap_servers=kafka_bootstrap, ingest_api_tokens=TOKEN)
    with TestClient(create_app(settings, registry=registry)) as client:
        assert client.get("/readyz").status_code == 200
        answer = client.post("/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 202
    assert answer.json() == {"response_id": f"ingest-{unique}", "revision": 1, "status": "accepted"}

    # 202 came after the broker's acknowledgement: the record is readable right away.
    (record,) = [r for r in topics.read(RESPONSES_TOPIC) if r.key == f"ingest-{unique}".encode()]
    event = ResponseReceived.model_validate_json(record.value)
    assert record.headers[EVENT_TYPE_HEADER] == b"ResponseReceived"
    assert event.respondent.organization == "Kanta-Hämeen järjestöneuvottelukunta"
    assert [a.question for a in event.answers] == list(range(36, 45))
    assert event.source == "form" and event.received_at.tzinfo is not None
    respondent = seed002_response["respondent"]
    for personal in (respondent["email"], respondent["phone"], respondent["first_name"], respondent["last_name"]):
        assert personal.encode() not in record.value
    assert "email" not in json.loads(record.value)["respondent"]
    assert (
        registry.get_sample_value("feedback_ingest_responses_total", {"respondent_type": "organization_or_parish"}) == 1
    )


def test_when_the_broker_is_gone_the_form_gets_503_not_202(seed002_response: dict, tmp_path) -> None:
    port = free_port()
    broker = start_tansu(port, log_file=tmp_path / "tansu.log")
    settings = IngestSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}", ingest_api_tokens=TOKEN, ingest_publish_timeout_seconds=3
    )
    registry = CollectorRegistry()
    try:
        with TestClient(create_app(settings, registry=registry)) as client:
            stop_process(broker)
            answer = client.post("/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 503
            assert "did not acknowledge" in answer.json()["detail"]
            assert client.get("/readyz").status_code == 503
    finally:
        stop_process(broker)
    assert registry.get_sample_value("feedback_ingest_rejected_total", {"reason": "broker_unavailable"}) == 1
