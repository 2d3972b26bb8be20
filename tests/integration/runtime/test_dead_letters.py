"""Both consumers against the real broker, under the one dead-letter policy of feedback_runtime.consumer: a
record that is not JSON, and JSON that is not the topic's event, are parked on `<topic>.dlq` with the reason and
counted once each in `feedback_dead_letters_total{service,topic}`; the consumer goes on, and a valid statement
published after them reaches its owners."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_classify.app import create_app as create_classify
from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_classify.settings import ClassifySettings
from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    RESPONSES_TOPIC,
    DeadLetter,
    PublicRespondent,
    ResponseClassified,
    ResponseReceived,
    dlq_topic,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.app import create_app as create_notify
from feedback_notify.settings import NotifySettings

pytestmark = pytest.mark.integration

NOT_JSON = b"\xff{not json"
NOT_THE_EVENT = b'{"response_id": "x", "revision": "first"}'


def _received(response_id: str) -> ResponseReceived:
    now = datetime.now(UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026", response_id=response_id, revision=1, submitted_at=now, received_at=now,
        source="form", respondent=PublicRespondent(organization="Hämeenlinnan kaupunki", title="kaupunginjohtaja"),
        respondent_type=RespondentType.MUNICIPALITY,
        answers=(Answer(question=27, text="Luvussa 5.2.2 varautuminen on puutteellista."),),
    )  # fmt: skip


def _send_poison_then(producer, topic: str, unique: str, good_key: bytes, good_value: bytes) -> list[bytes]:
    """Two unprocessable records, then a good one, all on one partition so the good one comes after them."""
    poison = [f"not-json-{unique}".encode(), f"not-the-event-{unique}".encode()]
    for key, value in zip(poison, (NOT_JSON, NOT_THE_EVENT), strict=True):
        producer.send(topic, key=key, value=value, partition=0).get(timeout=10)
    producer.send(topic, key=good_key, value=good_value, partition=0).get(timeout=10)
    return poison


def _unreadable_already_on(topics, topic: str, event_type) -> int:  # noqa: ANN001
    """Unprocessable records other tests left on the shared topic: a new consumer group parks those too."""
    count = 0
    for record in topics.read(topic):
        try:
            event_type.model_validate_json(record.value)
        except ValueError:
            count += 1
    return count


def _assert_parked(topics, topic: str, poison: list[bytes], service: str) -> None:
    parked = topics.wait_for(dlq_topic(topic), lambda r: r.key in poison, count=2)
    letters = {r.key: DeadLetter.model_validate_json(r.value) for r in parked}
    assert len(parked) == 2, "each unprocessable record is parked exactly once"
    for letter in letters.values():
        assert letter.original_topic == topic and letter.partition == 0 and letter.service == service
        assert letter.error_type == "ValidationError" and letter.error_message
    assert letters[poison[0]].payload_encoding == "base64"  # not UTF-8: kept byte for byte
    assert letters[poison[1]].payload == NOT_THE_EVENT.decode()
    assert "revision" in letters[poison[1]].error_message  # the reason names the field


def test_classify_parks_what_it_cannot_read_counts_it_and_routes_the_next_statement(
    kafka_bootstrap: str,
    owners_file: Path,
    topics,
    producer,
    unique: str,
    eventually,
    tmp_path: Path,
) -> None:
    good_key = f"good-{unique}".encode()
    poison = _send_poison_then(
        producer, RESPONSES_TOPIC, unique, good_key, _received(good_key.decode()).model_dump_json().encode()
    )
    parked_before = _unreadable_already_on(topics, RESPONSES_TOPIC, ResponseReceived) - len(poison)
    settings = ClassifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, classify_group_id=f"classify-{unique}",
        database_url=f"sqlite:///{tmp_path}/classify.sqlite3",
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    registry = CollectorRegistry()
    with TestClient(create_classify(settings, registry=registry)):
        (classified,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == good_key)
        _assert_parked(topics, RESPONSES_TOPIC, poison, "classify")
        labels = {"service": "classify", "topic": RESPONSES_TOPIC}
        parked = lambda: registry.get_sample_value("feedback_dead_letters_total", labels)  # noqa: E731
        eventually(lambda: parked() == parked_before + 2, what="every unreadable record counted once")

    assert registry.get_sample_value("feedback_dead_letters_total", labels) == parked_before + 2
    event = ResponseClassified.model_validate_json(classified.value)
    assert ("5.2.2", ("turvallisuus",)) in [(r.section_id, r.owners) for r in event.routes]


def test_notify_parks_what_it_cannot_read_counts_it_and_alerts_the_owners_of_the_next_statement(
    kafka_bootstrap: str, owners_file: Path, topics, producer, unique: str, smtp_sink, tmp_path: Path, eventually
) -> None:
    good_key = f"good-{unique}".encode()
    classified = Router(load_taxonomy(), load_owners(owners_file), shared_classifier()).route(
        _received(good_key.decode())
    )
    poison = _send_poison_then(producer, CLASSIFIED_TOPIC, unique, good_key, classified.model_dump_json().encode())
    parked_before = _unreadable_already_on(topics, CLASSIFIED_TOPIC, ResponseClassified) - len(poison)
    settings = NotifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, notify_group_id=f"notify-{unique}",
        database_url=f"sqlite:///{tmp_path}/notify.sqlite3", smtp_port=smtp_sink.port,
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    registry = CollectorRegistry()
    mine = lambda: [m for m in smtp_sink.messages() if good_key.decode() in m.get_body(("plain",)).get_content()]  # noqa: E731
    with TestClient(create_notify(settings, registry=registry)):
        eventually(lambda: len(mine()) >= 1, timeout=60, what="the valid statement's alert")
        _assert_parked(topics, CLASSIFIED_TOPIC, poison, "notify")
        labels = {"service": "notify", "topic": CLASSIFIED_TOPIC}
        parked = lambda: registry.get_sample_value("feedback_dead_letters_total", labels)  # noqa: E731
        eventually(lambda: parked() == parked_before + 2, what="every unreadable record counted once")

    assert registry.get_sample_value("feedback_dead_letters_total", labels) == parked_before + 2
    assert registry.get_sample_value("feedback_notify_events_total", {"outcome": "dead_lettered"}) == parked_before + 2
    directory = load_owners(owners_file)
    recipients = " ".join(m["To"] for m in mine())
    assert len(mine()) == len(classified.owners()), "each owner the statement concerns gets one alert"
    for owner_id in classified.owners():
        assert all(address in recipients for address in directory.get(owner_id).email)
