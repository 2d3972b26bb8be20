"""Where routing was made cheaper, it reads and computes exactly what it did before: the similarities summed in
numpy are the postings' sums to the last bit, the patterns that skip ahead find the same breaks, and a paragraph
that names a section is routed the same whether or not the rest of it is read."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from feedback_classify.classifier import _by_sentence, shared_classifier
from feedback_classify.morphology import WORD, SurfaceForms, surface_forms
from feedback_classify.paragraphs import _tidy
from feedback_classify.strategy_model import StrategyModel

LABELS = Path(__file__).parents[2] / "fixtures" / "routing-dev.jsonl"
# The patterns as they were written first, the reference the faster ones are held to.
_SENTENCE_BREAK_BEFORE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ])|\n+")


def _texts() -> list[str]:
    paragraphs = [json.loads(line)["text"] for line in LABELS.read_text(encoding="utf-8").splitlines()]
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p)]
    return paragraphs + sentences


def _by_postings(model: StrategyModel, vector: dict[str, float]) -> dict[str, float]:
    """The similarities as a loop over the index's postings sums them: term by term, in the vector's order."""
    scores: dict[str, float] = defaultdict(float)
    for term, weight in vector.items():
        for sid, section_weight in model.index.get(term, ()):
            scores[sid] += weight * section_weight
    return dict(scores)


def test_similarities_are_the_postings_sums_to_the_last_bit() -> None:
    model = shared_classifier().model
    for text in _texts():
        vector = model.vector(model.lemmas(text))
        assert model.similarities(vector) == _by_postings(model, vector), text


def test_a_paragraph_and_its_sentences_scored_at_once_are_scored_as_one_by_one() -> None:
    model = shared_classifier().model
    paragraphs = [json.loads(line)["text"] for line in LABELS.read_text(encoding="utf-8").splitlines()]
    for text in paragraphs:
        parts = [model.vector(model.lemmas(s)) for s in re.split(r"(?<=[.!?])\s+", text)]
        parts.append({})  # a sentence with no word of the draft
        whole, closest = model.similarities_with_parts(model.vector(model.lemmas(text)), parts)
        assert whole == _by_postings(model, model.vector(model.lemmas(text)))
        expected: dict[str, float] = {}
        for part in parts:
            for sid, value in _by_postings(model, part).items():
                expected[sid] = max(expected.get(sid, 0.0), value)
        assert closest == expected
    assert model.similarities_with_parts({}, [{}]) == ({}, {})


@given(st.text(alphabet=".!? \n\t\xa0aAÄb", max_size=40))
def test_sentence_breaks_are_where_the_lookbehind_pattern_finds_them(text: str) -> None:
    content = [(m.start(), (m.group(0),)) for m in WORD.finditer(text)]
    breaks = [m.start() for m in _SENTENCE_BREAK_BEFORE.finditer(text)]
    expected: list[list[str]] = [[] for _ in range(len(breaks) + 1)]
    at = 0
    for start, found in content:
        while at < len(breaks) and start >= breaks[at]:
            at += 1
        expected[at].extend(found)
    assert _by_sentence(text, content) == expected


@given(st.text(alphabet=" \t\n\xa0ab", max_size=40))
def test_a_block_is_tidied_as_line_by_line(text: str) -> None:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    assert _tidy(text) == "\n".join(line for line in lines if line)


def test_surface_forms_made_when_asked_are_those_made_at_once() -> None:
    model = shared_classifier().model
    for text in _texts()[:40]:
        words = [(m.start(), m.end(), model.analyzer.features(m.group())) for m in WORD.finditer(text)]
        lazy = SurfaceForms(text, {f: (s, e) for s, e, features in reversed(words) for f in features})
        assert dict(lazy) == surface_forms(text, model.analyzer)


def test_what_decide_cannot_use_is_not_read_and_routing_is_the_same() -> None:
    classifier = shared_classifier()
    params = classifier.params
    cited = "Luvussa 5.2.2 todetaan, että kuntayhteistyö ja mielenterveyspalvelut kuuluvat yhteen."
    whole, short = classifier.signals(cited, 36, None), classifier.signals(cited, 36, None, deciding=params)
    assert short.references == whole.references and not short.vector
    assert classifier.decide(short, params) == classifier.decide(whole, params)
    skipped = 0
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        whole = classifier.signals(label["text"], label["question"], None)
        short = classifier.signals(label["text"], label["question"], None, deciding=params)
        assert classifier.decide(short, params) == classifier.decide(whole, params)
        skipped += len(whole.titles) - len(short.titles)
    assert skipped > 0
