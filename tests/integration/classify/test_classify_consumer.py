"""Classify against the real broker: one classified event per revision; what it cannot process is parked, and it goes on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_classify.app import create_app
from feedback_classify.settings import ClassifySettings
from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    RESPONSES_DLQ_TOPIC,
    RESPONSES_TOPIC,
    DeadLetter,
    PublicRespondent,
    ResponseClassified,
    ResponseReceived,
)
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer

pytestmark = pytest.mark.integration


def _received(response_id: str) -> ResponseReceived:
    now = datetime.now(UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id=response_id,
        revision=1,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="Hämeenlinnan kaupunki", title="kaupunginjohtaja"),
        respondent_type=RespondentType.MUNICIPALITY,
        answers=(Answer(question=27, text="Luvussa 5.2.2 varautuminen.\n\nKuntayhteistyö on tärkeää."),),
    )


def test_a_poison_message_is_dead_lettered_and_the_next_response_is_still_classified(
    kafka_bootstrap: str, owners_file, topics, producer, unique: str, tmp_path
) -> None:
    poison_key, good_key = f"poison-{unique}".encode(), f"good-{unique}".encode()
    producer.send(RESPONSES_TOPIC, key=poison_key, value=b"\xff{not json", partition=0).get(timeout=10)
    producer.send(
        RESPONSES_TOPIC, key=good_key, value=_received(good_key.decode()).model_dump_json().encode(), partition=0
    ).get(timeout=10)

    registry = CollectorRegistry()
    settings = ClassifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, classify_group_id=f"classify-{unique}",
        database_url=f"sqlite:///{tmp_path}/classify.sqlite3",
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    with TestClient(create_app(settings, registry=registry)) as client:
        (classified,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == good_key)
        (parked,) = topics.wait_for(RESPONSES_DLQ_TOPIC, lambda r: r.key == poison_key)
        assert client.get("/readyz").status_code == 204
        metrics = client.get("/metrics").text

    event = ResponseClassified.model_validate_json(classified.value)
    assert [(r.section_id, r.owners) for r in event.routes] == [
        ("5.2.2", ("turvallisuus",)),
        ("5.3.1.2", ("kuntayhteistyo",)),
    ]
    letter = DeadLetter.model_validate_json(parked.value)
    assert letter.original_topic == RESPONSES_TOPIC and letter.partition == 0
    assert letter.payload_encoding == "base64" and letter.service == "classify"
    assert letter.error_type == "ValidationError"
    assert 'feedback_classify_responses_total{outcome="dead_lettered"}' in metrics
    assert registry.get_sample_value("feedback_classify_paragraphs_routed_total", {"section": "5.2.2"}) >= 1
