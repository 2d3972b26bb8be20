"""Classify applies corrections against the real broker: the response's routes are published again with the
paragraph where the person put it; a replay publishes nothing; what cannot apply is parked with the reason;
a later revision keeps the correction, after a restart too; and the next statement learns from it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from feedback_classify.app import create_app
from feedback_classify.settings import ClassifySettings
from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    CORRECTIONS_DLQ_TOPIC,
    CORRECTIONS_TOPIC,
    RESPONSES_TOPIC,
    DeadLetter,
    PublicRespondent,
    Reason,
    ResponseClassified,
    ResponseReceived,
    RouteCorrected,
    paragraph_id,
)
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer

pytestmark = pytest.mark.integration

SAFETY = "Luvussa 5.2.2 kuvattu varautuminen on hyvä, ja valmiussuunnitelmia harjoitellaan yhdessä kuntien kanssa."
WORKFORCE = (
    "Hoitajien ja lääkärien saatavuus heikkenee koko ajan, joten kansainvälinen rekrytointi ja "
    "kielikoulutus on aloitettava heti yhdessä oppilaitosten kanssa."
)
TARGET = "5.4.3"  # Sitoutunut ja kyvykäs henkilöstö


def _received(
    response_id: str, revision: int = 1, workforce: str = WORKFORCE, safety: str = SAFETY
) -> ResponseReceived:
    now = datetime.now(UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id=response_id,
        revision=revision,
        replaces_revision=revision - 1 if revision > 1 else None,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="Hämeenlinnan kaupunki", title="kaupunginjohtaja"),
        respondent_type=RespondentType.MUNICIPALITY,
        answers=(Answer(question=27, text=safety), Answer(question=28, text=workforce)),
    )


def _correction(
    correction_id: str, response_id: str, remove: tuple[str, ...], text: str = WORKFORCE, add: str = TARGET
) -> RouteCorrected:
    return RouteCorrected(
        correction_id=correction_id,
        response_id=response_id,
        revision=1,
        paragraph_id=paragraph_id(28, text),
        question=28,
        text=text,
        respondent_type=RespondentType.MUNICIPALITY,
        add=(add,),
        remove=remove,
        by_role="strategiatoimisto",
        reason="Kyse on henkilöstön saatavuudesta.",
        corrected_at=datetime.now(UTC),
    )


def _send(producer: KafkaProducer, topic: str, key: str, event: ResponseReceived | RouteCorrected) -> None:
    producer.send(topic, key=key.encode(), value=event.model_dump_json().encode()).get(timeout=10)


def _sections_of(event: ResponseClassified, text: str) -> dict[str | None, tuple[Reason, ...]]:
    """The sections a paragraph is routed to, with the reasons of each."""
    (index,) = [p.index for p in event.paragraphs if p.text == text]
    return {r.section_id: rp.reasons for r in event.routes for rp in r.paragraphs if rp.paragraph == index}


@pytest.fixture
def settings(kafka_bootstrap: str, owners_file: Path, tmp_path: Path, unique: str) -> ClassifySettings:
    return ClassifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file,
        database_url=f"sqlite:///{tmp_path}/classify.sqlite3",
        classify_group_id=f"classify-{unique}", classify_corrections_group_id=f"classify-corrections-{unique}",
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip


@contextmanager
def _classify(settings: ClassifySettings) -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    with TestClient(create_app(settings, registry=registry)):
        yield registry


def _count(registry: CollectorRegistry, outcome: str) -> float:
    return registry.get_sample_value("feedback_classify_corrections_total", {"outcome": outcome}) or 0.0


def test_a_correction_moves_the_paragraph_publishes_the_routes_again_and_its_replay_publishes_nothing(
    settings: ClassifySettings, topics, producer, eventually, unique: str
) -> None:
    response_id = f"moved-{unique}"
    key = response_id.encode()
    with _classify(settings) as registry:
        _send(producer, RESPONSES_TOPIC, response_id, _received(response_id))
        (first,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key)
        routed = ResponseClassified.model_validate_json(first.value)
        before = set(_sections_of(routed, WORKFORCE))
        assert TARGET not in before

        correction = _correction(f"c-{unique}", response_id, remove=tuple(s for s in before if s))
        _send(producer, CORRECTIONS_TOPIC, response_id, correction)
        second = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key, count=2)[1]
        rerouted = ResponseClassified.model_validate_json(second.value)

        assert (rerouted.revision, rerouted.routing, rerouted.correction_id) == (1, 2, correction.correction_id)
        assert _sections_of(rerouted, WORKFORCE) == {TARGET: (Reason(kind="correction", correction=correction.note()),)}
        assert _sections_of(rerouted, SAFETY) == _sections_of(routed, SAFETY)
        assert [(c.correction_id, c.status) for c in rerouted.corrections] == [(correction.correction_id, "applied")]
        (workforce_route,) = [r for r in rerouted.routes if r.section_id == TARGET]
        assert workforce_route.owners == ("henkilosto",)

        # The replay, then a correction that cannot apply, on the same key and so the same partition: once the
        # second is parked the replay has been handled. (A new group reads the topic from its start, and this
        # store routed other tests' statements too, so their corrections count as applied here as well.)
        _send(producer, CORRECTIONS_TOPIC, response_id, correction)
        sentinel = _correction(f"sentinel-{unique}", response_id, remove=(), add="9.9")
        _send(producer, CORRECTIONS_TOPIC, response_id, sentinel)
        topics.wait_for(
            CORRECTIONS_DLQ_TOPIC,
            lambda r: r.key == key and sentinel.correction_id in DeadLetter.model_validate_json(r.value).payload,
        )
        assert len([r for r in topics.read(CLASSIFIED_TOPIC) if r.key == key]) == 2
        assert _count(registry, "duplicate") >= 1

        # Learnt live: the next statement with the same paragraph is routed where the person put it.
        other_id = f"learner-{unique}"
        _send(producer, RESPONSES_TOPIC, other_id, _received(other_id))
        (other,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == other_id.encode())
        learnt = _sections_of(ResponseClassified.model_validate_json(other.value), WORKFORCE)
        assert TARGET in learnt and any(r.kind == "precedent" for r in learnt[TARGET])


def test_a_correction_of_an_unknown_response_paragraph_or_section_is_parked_with_the_reason_and_nothing_is_published(
    settings: ClassifySettings, topics, producer, eventually, unique: str
) -> None:
    response_id = f"refused-{unique}"
    key = response_id.encode()
    with _classify(settings) as registry:
        _send(producer, RESPONSES_TOPIC, response_id, _received(response_id))
        topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key)
        refused = {
            "unknown response": _correction(f"c1-{unique}", f"nobody-{unique}", remove=()),
            "is not in the latest revision": _correction(
                f"c2-{unique}", response_id, (), text="Ei tällaista kappaletta."
            ),
            "unknown section(s) 9.9": _correction(f"c3-{unique}", response_id, remove=(), add="9.9"),
        }
        for correction in refused.values():
            _send(producer, CORRECTIONS_TOPIC, correction.response_id, correction)

        parked = topics.wait_for(
            CORRECTIONS_DLQ_TOPIC, lambda r: r.key in {key, f"nobody-{unique}".encode()}, count=len(refused)
        )
        letters = {
            DeadLetter.model_validate_json(r.value).error_message: DeadLetter.model_validate_json(r.value)
            for r in parked
        }
        for expected in refused:
            (letter,) = [letter for message, letter in letters.items() if expected in message]
            assert letter.error_type == "CorrectionRefused" and letter.service == "classify"
            assert letter.original_topic == CORRECTIONS_TOPIC
        # (A new group reads the topic from its start: other tests' corrections, unknown here, are parked too.)
        eventually(lambda: _count(registry, "dead_lettered") >= len(refused), what="the dead-letter count")
        assert len([r for r in topics.read(CLASSIFIED_TOPIC) if r.key == key]) == 1
        assert not [r for r in topics.read(CLASSIFIED_TOPIC) if r.key == f"nobody-{unique}".encode()]


def test_a_correction_stays_on_a_later_revision_after_a_restart_and_the_next_statement_learns_from_it(
    database_url: str, settings: ClassifySettings, topics, producer, unique: str
) -> None:
    settings = settings.model_copy(update={"database_url": database_url})
    response_id = f"sticky-{unique}"
    key = response_id.encode()
    # A text of this test's own: a new group reads the topics from their start, so the other tests' corrections
    # of WORKFORCE are learnt here too and would be precedents as close as this one. The mark is a word of letters:
    # hex digits split it into pieces too short to be content words, which left the texts' words the same (a tie
    # at 1.0 that the precedent learnt last won, now and then another test's).
    mark = "".join(chr(ord("a") + int(digit, 16)) for digit in unique)
    workforce = WORKFORCE.replace("heti", f"heti (asia {mark})")
    with _classify(settings):
        _send(producer, RESPONSES_TOPIC, response_id, _received(response_id, workforce=workforce))
        (first,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key)
        before = _sections_of(ResponseClassified.model_validate_json(first.value), workforce)
        correction = _correction(f"c-{unique}", response_id, remove=tuple(s for s in before if s), text=workforce)
        _send(producer, CORRECTIONS_TOPIC, response_id, correction)
        topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key, count=2)

    # A new process on the same database: the edit of the other paragraph keeps the correction.
    with _classify(settings):
        edited = SAFETY + " Harjoituksiin tarvitaan myös järjestöjä."
        _send(
            producer,
            RESPONSES_TOPIC,
            response_id,
            _received(response_id, revision=2, workforce=workforce, safety=edited),
        )
        third = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key, count=3)[2]
        revision2 = ResponseClassified.model_validate_json(third.value)
        assert (revision2.revision, revision2.routing, revision2.correction_id) == (2, 1, None)
        assert Reason(kind="correction", correction=correction.note()) in _sections_of(revision2, workforce)[TARGET]
        assert set(_sections_of(revision2, workforce)) == {TARGET}
        assert [(c.correction_id, c.status) for c in revision2.corrections] == [(correction.correction_id, "applied")]

        # Another statement with the same paragraph follows the correction: a precedent learnt at start.
        other_id = f"learner-{unique}"
        _send(producer, RESPONSES_TOPIC, other_id, _received(other_id, workforce=workforce))
        (other,) = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == other_id.encode())
        reasons = _sections_of(ResponseClassified.model_validate_json(other.value), workforce)
        assert TARGET in reasons
        (precedent,) = [r for r in reasons[TARGET] if r.kind == "precedent"]
        assert precedent.precedent is not None
        assert (precedent.precedent.source, precedent.precedent.response_id) == ("correction", response_id)
        assert precedent.precedent.paragraph_id == correction.paragraph_id

        # The paragraph edited: the correction is listed as dropped on the next revision.
        reworded = workforce + " Tämä on kiireellistä."
        _send(producer, RESPONSES_TOPIC, response_id, _received(response_id, revision=3, workforce=reworded))
        fourth = topics.wait_for(CLASSIFIED_TOPIC, lambda r: r.key == key, count=4)[3]
        revision3 = ResponseClassified.model_validate_json(fourth.value)
        assert [(c.correction_id, c.status) for c in revision3.corrections] == [(correction.correction_id, "dropped")]
        assert all(r.kind != "correction" for reasons in _sections_of(revision3, reworded).values() for r in reasons)
