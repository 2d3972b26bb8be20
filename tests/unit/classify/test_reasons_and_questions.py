"""What routing shows and leans on: reasons in the paragraph's own words, the question's text wherever one is
known (the questionnaire, configuration, or the answer itself), and background chapters held to more evidence."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_classify.classifier import Params, shared_classifier
from feedback_classify.labels import read_labels
from feedback_classify.morphology import tokens, whole_word
from feedback_classify.routing import Router
from feedback_classify.signals import Signals
from feedback_contracts.events import PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.questionnaire import load_questionnaire, read_question_texts
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_contracts.wording import explain

ROOT = Path(__file__).parents[3]
LABELS = ROOT / "tests" / "fixtures" / "routing-dev.jsonl"
OWNERS = ROOT / "config" / "owners.example.yaml"

# Question 71 is the first of an employment area's block: the questionnaire knows no text for it.
ASKED = "Miten hyvinvointialue voi tukea työllisyysalueen asiakkaiden työllistymistä ja osaamisen kehittämistä?"
ANSWER = "Yhteiset asiakkaat tarvitsevat sote-palveluja ja työllisyyspalveluja samanaikaisesti ja koordinoidusti."


def whole_words(text: str) -> set[str]:
    return {whole_word(text, start, end) for _, start, end in tokens(text)}


def test_every_word_shown_after_aihe_is_a_whole_word_of_the_paragraph() -> None:
    classifier = shared_classifier()
    shown = 0
    for label in read_labels(LABELS):
        words = whole_words(label.text)
        for section in classifier.classify(label.text, label.question, label.respondent_type):
            for reason in section.reasons:
                if reason.kind in ("terms", "similarity"):
                    assert set(reason.terms) <= words, (label.id, reason.terms)
                    assert explain(reason, RespondentType.MUNICIPALITY).startswith("aihe")
                    shown += len(reason.terms)
    assert shown > 100


def test_the_fragments_analysers_make_are_never_shown() -> None:
    # Voikko's base forms and compound parts ("vammais", "äly", "llinen") are for matching, not for reading: a
    # term is a run of the text between spaces and punctuation ("30-vuotiaiden"; "HYTE" of "HYTE-, työllisyys-").
    classifier = shared_classifier()
    question_texts = {q.number: q.text or "" for q in load_questionnaire().questions}
    for label in read_labels(LABELS):
        for section in classifier.classify(label.text, label.question, label.respondent_type):
            for reason in section.reasons:
                source = question_texts[label.question or 1] if reason.kind == "question" else label.text
                written = {run.strip("-") for run in re.findall(r"[\w-]+", source)}
                assert set(reason.terms) <= written, (label.id, reason.kind, reason.terms)


def test_a_question_reason_shows_the_questions_own_words() -> None:
    classifier = shared_classifier()
    question_texts = {q.number: q.text for q in load_questionnaire().questions if q.text}
    seen = 0
    for label in read_labels(LABELS):
        for section in classifier.classify(label.text, label.question, label.respondent_type):
            for reason in section.reasons:
                if reason.kind == "question":
                    assert set(reason.terms) <= whole_words(question_texts[label.question]), reason.terms
                    seen += 1
    assert seen > 10


def test_a_compound_shows_once_as_the_word_written() -> None:
    (section, *_) = shared_classifier().classify("Kuntayhteistyötä ja kuntayhteistyön rakenteita on vahvistettava.")
    similarity = [r for r in section.reasons if r.kind == "similarity"]
    for reason in similarity:
        assert len(reason.terms) == len(set(reason.terms))
        assert "kunta" not in reason.terms and "yhteistyö" not in reason.terms


def _event(question_text: str | None) -> ResponseReceived:
    now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id="r-71",
        revision=1,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="TyöHäme", title=None),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=(Answer(question=71, text=ANSWER, question_text=question_text),),
    )


def _kinds(router: Router, event: ResponseReceived) -> list[str]:
    return [reason.kind for r in router.route(event).routes for p in r.paragraphs for reason in p.reasons]


def test_routing_leans_on_the_answers_own_question_text_where_the_questionnaire_has_none() -> None:
    assert load_questionnaire().question(71).text is None
    router = Router(load_taxonomy(), load_owners(OWNERS), shared_classifier())
    assert "question" not in _kinds(router, _event(None))
    assert "question" in _kinds(router, _event(ASKED))
    question = [
        reason for r in router.route(_event(ASKED)).routes for p in r.paragraphs for reason in p.reasons
        if reason.kind == "question"
    ]  # fmt: skip
    assert all(set(reason.terms) <= whole_words(ASKED) for reason in question)


def test_the_questionnaire_keeps_its_own_text_over_an_answers() -> None:
    classifier = shared_classifier()
    text = "Hyvinvointialueen ja kunnan yhteistyö ennaltaehkäisyssä on tärkeää asukkaille."
    own = classifier.classify(text, 30, RespondentType.MUNICIPALITY)
    other = classifier.classify(
        text, 30, RespondentType.MUNICIPALITY, question_text="Mitä mieltä olette digitalisaatiosta?"
    )
    assert [(s.section_id, s.reasons) for s in own] == [(s.section_id, s.reasons) for s in other]


def test_question_texts_from_configuration_complete_the_questionnaire(tmp_path: Path) -> None:
    path = tmp_path / "questions.json"
    path.write_text(json.dumps({"71": f"  {ASKED}  ", "27": "Toinen teksti?"}), encoding="utf-8")
    completed = load_questionnaire().completed(read_question_texts(path))
    assert completed.question(71).text == ASKED
    assert completed.question(27).text == load_questionnaire().question(27).text  # known texts stay
    assert load_questionnaire().question(71).text is None  # the shipped questionnaire is unchanged
    from feedback_classify.classifier import Classifier

    classifier = Classifier(load_taxonomy(), shared_classifier().model.analyzer, questionnaire=completed)
    assert 71 in classifier.question_priors and 71 not in shared_classifier().question_priors


@pytest.mark.parametrize(
    ("content", "error"),
    [('{"85": "Mitä?"}', "not a question number"), ('{"71": ""}', "non-empty"), ('["Mitä?"]', "JSON object")],
)
def test_a_question_texts_file_with_a_wrong_entry_is_refused_naming_it(
    tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / "questions.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        read_question_texts(path)


def test_a_background_section_needs_background_factor_times_the_closeness_of_a_priority() -> None:
    # Chapter 2.4 (the service network, operating environment) against 5.1.2, with 2.4 a little closer.
    classifier = shared_classifier()
    signals = Signals(respondent_type=None, vector={f"w{i}": 0.5 for i in range(4)})
    signals.similarity = {"2.4": 0.30, "5.1.2": 0.20}
    base = Params(similarity_threshold=0.1, relative_threshold=1.0, max_similar=1, question_weight=0.0)
    assert [s.section_id for s in classifier.decide(signals, base)] == ["2.4"]
    held = Params(**{**base.__dict__, "background_factor": 2.0})
    (chosen,) = classifier.decide(signals, held)
    assert chosen.section_id == "5.1.2" and chosen.score == 0.2  # the score shown is its own closeness


def test_the_shipped_calibration_decided_how_much_more_evidence_the_background_needs() -> None:
    shipped = json.loads((ROOT / "services/classify/src/feedback_classify/data/calibration.json").read_text())
    assert "background_factor" in shipped["params"] and "background_factor" in shipped["grid"]
