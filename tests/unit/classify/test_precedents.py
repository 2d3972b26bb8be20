"""Precedents: a paragraph that closely resembles one a person routed is routed like it, found through an index."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_classify.classifier import shared_classifier
from feedback_classify.labels import as_precedent, precedent_index, read_labels
from feedback_classify.precedents import Precedent, PrecedentIndex
from feedback_classify.routing import Router
from feedback_contracts.events import PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy

ROOT = Path(__file__).parents[3]
LABELS = ROOT / "tests" / "fixtures" / "routing-dev.jsonl"
OWNERS = ROOT / "config" / "owners.example.yaml"

MOVED = (
    "Kansainvälinen rekrytointi ja kotoutuminen kytkeytyvät toisiinsa: strategia mainitsee kansainvälisen "
    "rekrytoinnin ratkaisuna henkilöstöpulaan, mutta ei käsittele riittävästi perehdytyksen vastuuta."
)


def correction(
    text: str, sections: tuple[str, ...], response_id: str = "r-earlier", paragraph: str = "q35-a"
) -> Precedent:
    return Precedent(text, 35, RespondentType.MUNICIPALITY, sections, "correction", response_id, paragraph)


def event(
    text: str, response_id: str = "r-new", question_text: str | None = None, question: int = 35
) -> ResponseReceived:
    now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id=response_id,
        revision=1,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="Riihimäen kaupunki", title=None),
        respondent_type=RespondentType.MUNICIPALITY,
        answers=(Answer(question=question, text=text, question_text=question_text),),
    )


def routes(router: Router, received: ResponseReceived) -> dict[str | None, list[str]]:
    result = router.route(received)
    return {r.section_id: [reason.kind for p in r.paragraphs for reason in p.reasons] for r in result.routes}


@pytest.fixture
def router() -> Router:
    return Router(load_taxonomy(), load_owners(OWNERS), shared_classifier())


def test_a_paragraph_identical_to_a_corrected_one_is_routed_where_the_person_moved_it(router: Router) -> None:
    before = routes(router, event(MOVED))
    assert "5.4.3" not in before
    router.precedents.add(correction(MOVED, ("5.4.3",)))
    after = router.route(event(MOVED))
    (route,) = after.routes
    assert route.section_id == "5.4.3" and route.owners
    (reason,) = route.paragraphs[0].reasons
    assert reason.kind == "precedent" and reason.precedent is not None
    assert reason.precedent.source == "correction"
    assert (reason.precedent.response_id, reason.precedent.paragraph_id) == ("r-earlier", "q35-a")
    assert reason.precedent.similarity == 1.0


def test_a_near_identical_paragraph_follows_the_precedent_and_an_unrelated_one_does_not(router: Router) -> None:
    router.precedents.add(correction(MOVED, ("5.4.3",)))
    edited = MOVED.replace("riittävästi", "lainkaan") + " Tähän tarvitaan selvä vastuunjako."
    assert routes(router, event(edited)) == {"5.4.3": ["precedent"]}
    unrelated = "Mielenterveyspalveluiden saatavuus nuorille on turvattava koko maakunnassa."
    assert "precedent" not in [kind for kinds in routes(router, event(unrelated)).values() for kind in kinds]


def test_a_statement_is_not_its_own_precedent(router: Router) -> None:
    # Its own corrections are applied as corrections (and dropped when the paragraph changes), never as precedents.
    router.precedents.add(correction(MOVED, ("5.4.3",), response_id="r-same"))
    assert "5.4.3" not in routes(router, event(MOVED, response_id="r-same"))
    assert routes(router, event(MOVED, response_id="r-other")) == {"5.4.3": ["precedent"]}


def test_the_latest_correction_of_a_paragraph_replaces_the_earlier_one(router: Router) -> None:
    router.precedents.add(correction(MOVED, ("5.4.3",)))
    router.precedents.add(correction(MOVED, ("5.4.3", "5.3.1.6")))
    assert len(router.precedents) == 1
    assert set(routes(router, event(MOVED))) == {"5.4.3", "5.3.1.6"}


def test_routers_given_one_index_share_what_it_learns() -> None:
    # The service builds a new router whenever the owners file changes; corrections learnt live must survive.
    index = PrecedentIndex(shared_classifier().model.analyzer)
    first = Router(load_taxonomy(), load_owners(OWNERS), shared_classifier(), index)
    rebuilt = Router(load_taxonomy(), load_owners(OWNERS), shared_classifier(), index)
    first.precedents.add(correction(MOVED, ("5.4.3",)))
    assert routes(rebuilt, event(MOVED)) == {"5.4.3": ["precedent"]}


def test_a_labelled_paragraph_is_a_precedent_naming_its_document_and_label() -> None:
    labels = read_labels(LABELS)
    index = precedent_index(labels, PrecedentIndex(shared_classifier().model.analyzer))
    label = next(label for label in labels if label.doc.startswith("002") and len(label.must) == 1)
    (section,) = shared_classifier().classify(label.text, label.question, precedents=index, exclude_response="x")
    assert section.section_id == label.must[0]
    source = section.reasons[0].precedent
    assert source is not None and (source.source, source.response_id, source.paragraph_id) == (
        "labels",
        label.doc,
        label.id,
    )


def _brute_force(index: PrecedentIndex, text: str, threshold: float) -> float:
    words = index.words(text)
    best = 0.0
    for precedent in index:
        other = index.words(precedent.text)
        if words and other:
            similarity = len(words & other) / math.sqrt(len(words) * len(other))
            best = max(best, similarity if similarity >= threshold - 1e-9 else 0.0)
    return best


@pytest.mark.parametrize("threshold", [0.7, 0.8, 0.9])
def test_the_index_finds_exactly_what_comparing_with_every_precedent_finds(threshold: float) -> None:
    # Paragraphs of the dev labels, each also edited a little (words dropped, words of another added).
    rng = random.Random(threshold)
    labels = read_labels(LABELS)
    index = precedent_index(labels, PrecedentIndex(shared_classifier().model.analyzer))
    probes = []
    for label in labels:
        words = label.text.split()
        kept = [w for w in words if rng.random() > 0.15]
        probes.append(" ".join(kept + rng.choice(labels).text.split()[: rng.randint(0, 6)]))
    found = 0
    for text in probes:
        match = index.closest(text, min_similarity=threshold)
        expected = _brute_force(index, text, threshold)
        assert (match.similarity if match else 0.0) == pytest.approx(expected), text
        found += match is not None
    assert 0 < found < len(probes)  # the edits put some probes on each side of the threshold


def test_the_index_stays_exact_among_thousands_of_precedents_of_every_size_some_replaced() -> None:
    # Precedents of one to six sentences of the draft and the statements share many words, as a long-lived
    # service's would; every fifth paragraph and a hundred others are corrected twice (the second replaces the
    # first), which must leave no trace in the index.
    rng = random.Random(16)
    sentences = [
        sentence
        for text in [label.text for label in read_labels(LABELS)] + [s.body for s in load_taxonomy().sections]
        for sentence in text.split(". ")
        if len(sentence.split()) >= 4
    ]
    learnt = []
    for number in range(2000):
        for _ in range(2 if number % 5 == 0 else 1):
            text = " ".join(rng.sample(sentences, rng.randint(1, 6)))
            learnt.append(correction(text, ("5.1.1",), response_id=f"r{number % 97}", paragraph=f"p{number}"))
    for number in rng.sample(range(1000), 100):  # corrected again long after
        text = " ".join(rng.sample(sentences, rng.randint(1, 6)))
        learnt.append(correction(text, ("5.4.3",), response_id=f"r{number % 97}", paragraph=f"p{number}"))
    # The first half loaded at start (all at once), the rest learnt one by one, as a service does.
    index = PrecedentIndex()
    index.extend(learnt[: len(learnt) // 2])
    for precedent in learnt[len(learnt) // 2 :]:
        index.add(precedent)
    assert len(index) == 2000
    probes = [" ".join(rng.sample(sentences, rng.randint(1, 4))) for _ in range(60)]
    probes += [" ".join(p.text.split()[: -rng.randint(1, 3)]) for p in rng.sample(list(index), 60)]
    every = [index.words(precedent.text) for precedent in index]
    found = 0
    for text in probes:
        words = index.words(text)
        expected = max((len(words & other) / math.sqrt(len(words) * len(other)) for other in every if other), default=0)
        match = index.closest(text, min_similarity=0.8)
        assert (match.similarity if match else 0.0) == pytest.approx(expected if expected >= 0.8 - 1e-9 else 0.0)
        found += match is not None
    assert 0 < found < len(probes)


def test_a_paragraph_without_content_words_has_no_precedent() -> None:
    index = PrecedentIndex(shared_classifier().model.analyzer)
    index.add(correction(MOVED, ("5.4.3",)))
    assert index.closest("ja se on niin") is None
    assert PrecedentIndex().closest(MOVED) is None


def test_labels_loaded_at_start_count_as_precedents_of_the_service() -> None:
    labels = read_labels(LABELS)
    index = precedent_index(labels, PrecedentIndex())
    assert len(index) == len(labels)
    assert {p.source for p in index} == {"labels"} and next(iter(index)) == as_precedent(labels[0])


def test_the_service_loads_labels_files_at_start_and_its_api_routes_with_them(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from feedback_classify.app import create_app
    from feedback_classify.settings import ClassifySettings

    label = next(label for label in read_labels(LABELS) if label.id == "002_a00e7c02600b051c.txt:[39]")
    settings = ClassifySettings(
        owners_file=OWNERS,
        admin_api_tokens="office-token",
        precedents_files=f"{LABELS}, {LABELS}",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/classify.sqlite3",
    )
    client = TestClient(create_app(settings, configure_logs=False), headers={"Authorization": "Bearer office-token"})
    answer = client.post("/v1/classify", json={"text": label.text, "question": 38, "response_id": "uusi"}).json()
    assert [s["id"] for s in answer["sections"]] == list(label.must)
    assert answer["sections"][0]["reasons"][0]["precedent"]["paragraph_id"] == label.id
    own = client.post("/v1/classify", json={"text": label.text, "question": 38, "response_id": label.doc}).json()
    assert all(r["kind"] != "precedent" for s in own["sections"] for r in s["reasons"])
    refused = client.post("/v1/classify", json={"text": "x", "question_text": 5})
    assert refused.status_code == 422
