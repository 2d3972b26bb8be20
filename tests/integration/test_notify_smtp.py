"""Notify against the real broker and a real SMTP server: one email per owner per revision, never twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_contracts.events import CLASSIFIED_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.app import create_app
from feedback_notify.settings import NotifySettings

pytestmark = pytest.mark.integration


def test_each_owner_is_mailed_once_even_when_the_event_comes_twice(
    kafka_bootstrap: str, owners_file, producer, smtp_sink, tmp_path, unique: str, eventually
) -> None:
    now = datetime.now(UTC)
    received = ResponseReceived(
        survey_id="palvelustrategia-2026", response_id=f"notify-{unique}", revision=1, submitted_at=now,
        received_at=now, source="form", respondent=PublicRespondent(organization="TyöHäme", title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=(Answer(question=71, text="Nuorten palvelut.\n\nLuvussa 5.2.2 varautuminen."),),
    )  # fmt: skip
    classified = Router(load_taxonomy(), load_owners(owners_file), shared_classifier()).classify(received)
    payload = classified.model_dump_json().encode()

    registry = CollectorRegistry()
    settings = NotifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, notify_group_id=f"notify-{unique}",
        notify_delivery_db=tmp_path / "deliveries.sqlite3", smtp_port=smtp_sink.port,
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    mine = lambda: [m for m in smtp_sink.messages() if f"notify-{unique}" in m.get_content()]  # noqa: E731
    with TestClient(create_app(settings, registry=registry)):
        producer.send(CLASSIFIED_TOPIC, key=classified.response_id.encode(), value=payload).get(timeout=10)
        eventually(lambda: len(mine()) == 2, what="two alerts")
        producer.send(CLASSIFIED_TOPIC, key=classified.response_id.encode(), value=payload).get(timeout=10)
        eventually(
            lambda: (
                (
                    registry.get_sample_value(
                        "feedback_notify_deliveries_total", {"channel": "email", "outcome": "duplicate"}
                    )
                    or 0
                )
                >= 2
            ),
            what="the redelivered event to be recognised",
        )
    messages = mine()
    assert sorted(m["To"] for m in messages) == ["turvallisuus@example.org", "tyollisyysalueet@example.org"]
    assert len({m["Message-ID"] for m in messages}) == 2
    (security,) = [m for m in messages if m["To"] == "turvallisuus@example.org"]
    assert security["Subject"] == "Lausunto: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys"
    assert "Luvussa 5.2.2 varautuminen." in security.get_content()
    assert "Nuorten palvelut." not in security.get_content()
