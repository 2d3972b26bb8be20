"""A correction's re-routing through the real broker to a real SMTP server: the owner a paragraph was moved to
gets one email saying so, with the paragraph, who moved it and why; nobody else gets anything; the same
re-routing published again sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import SmtpSink
from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    AppliedCorrection,
    CorrectionNote,
    PublicRespondent,
    Reason,
    ResponseClassified,
    ResponseReceived,
    RoutedParagraph,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.app import create_app
from feedback_notify.settings import NotifySettings

pytestmark = pytest.mark.integration

MOVED = "Luku 5.1.5 maksut ovat selkeät."
REASON = "Tämä kappale kuuluu varautumiselle, ei asiakasmaksuille."


def _first_routing(response_id: str, owners_file: Path) -> ResponseClassified:
    now = datetime.now(UTC)
    received = ResponseReceived(
        survey_id="palvelustrategia-2026", response_id=response_id, revision=1, submitted_at=now, received_at=now,
        source="form", respondent=PublicRespondent(organization="TyöHäme", title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=(Answer(question=71, text=f"Luvussa 5.2.2 varautuminen.\n\n{MOVED}"),),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(owners_file), shared_classifier()).route(received)


def _moved_to_security(event: ResponseClassified, correction_id: str) -> ResponseClassified:
    """The re-routing classify publishes when the owner of 5.1.5 sends the paragraph on to 5.2.2."""
    (paragraph,) = [p for p in event.paragraphs if p.text == MOVED]
    now = datetime.now(UTC)
    note = CorrectionNote(correction_id=correction_id, by_role="asiakasmaksut", reason=REASON, corrected_at=now)
    moved = RoutedParagraph(paragraph=paragraph.index, score=1.0, reasons=(Reason(kind="correction", correction=note),))
    routes = []
    for route in event.routes:
        if route.section_id == "5.2.2":
            routes.append(route.model_copy(update={"paragraphs": (*route.paragraphs, moved)}))
        elif route.section_id != "5.1.5":
            routes.append(route)
    applied = AppliedCorrection(
        correction_id=correction_id, paragraph_id=paragraph.paragraph_id, revision=event.revision, add=("5.2.2",),
        remove=("5.1.5",), by_role="asiakasmaksut", reason=REASON, corrected_at=now, status="applied",
    )  # fmt: skip
    return event.model_copy(
        update={"routes": tuple(routes), "routing": 2, "correction_id": correction_id, "corrections": (applied,),
                "classified_at": now}
    )  # fmt: skip


def test_the_owner_a_paragraph_was_moved_to_gets_one_email_and_nobody_else_anything(
    kafka_bootstrap, owners_file, producer, smtp_sink: SmtpSink, database_url, unique, eventually
) -> None:
    response_id = f"moved-{unique}"
    first = _first_routing(response_id, owners_file)
    rerouted = _moved_to_security(first, f"korjaus-{unique}")
    assert {r.section_id for r in first.routes} == {"5.1.5", "5.2.2"}
    settings = NotifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, notify_group_id=f"notify-{unique}",
        database_url=database_url, smtp_port=smtp_sink.port, kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    registry = CollectorRegistry()

    def mine() -> list:
        return [m for m in smtp_sink.messages() if response_id in m.get_body(("plain",)).get_content()]

    def publish(event: ResponseClassified) -> None:
        producer.send(CLASSIFIED_TOPIC, key=response_id.encode(), value=event.model_dump_json().encode()).get(
            timeout=10
        )

    with TestClient(create_app(settings, registry=registry)):
        publish(first)
        eventually(lambda: len(mine()) == 2, what="the first routing's two alerts")
        publish(rerouted)
        eventually(lambda: len(mine()) == 3, what="the moved paragraph's alert")
        publish(rerouted)
        eventually(
            lambda: (registry.get_sample_value("feedback_notify_events_total", {"outcome": "duplicate"}) or 0) >= 1,
            timeout=120,
            what="the re-routing published again to be recognised",
        )
        messages = mine()

    first_alerts, (moved,) = messages[:2], messages[2:]  # the sink keeps them in the order they arrived
    assert sorted(m["To"] for m in first_alerts) == ["asiakasmaksut@example.org", "turvallisuus@example.org"]
    assert moved["To"] == "turvallisuus@example.org"
    assert moved["Subject"] == (
        "Sinulle siirretty lausunnon kohta: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys"
    )
    body = moved.get_body(("plain",)).get_content()
    assert "Sinulle on siirretty lausunnon kohta" in body
    assert "Siirron teki: Asiakasmaksujen vastuuhenkilö" in body and f"Perustelu: ”{REASON}”" in body
    assert MOVED in body and "Kysymys 71" in body
    assert "Luvussa 5.2.2 varautuminen." not in body  # the owner had that paragraph already
    html = moved.get_body(("html",)).get_content()
    assert MOVED in html and REASON in html
