"""Choosing the classifier's thresholds and weights on labelled paragraphs, repeatably.

A grid search over `Params`: every combination is scored with the labels' hierarchy-aware rules and
the best F1 wins (ties: the higher of the lower of precision and recall, then fewer routes). The
signals of each paragraph are computed once; only the decision is repeated per combination.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from feedback_contracts.respondents import RespondentType

from .classifier import Classifier, Params
from .evaluation import Scorecard, scorecard
from .signals import Signals

GRID: dict[str, Sequence[object]] = {
    "similarity_threshold": (0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.17, 0.2, 0.25),
    "relative_threshold": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "max_similar": (1, 2, 3),
    "question_weight": (0.0, 0.15, 0.3),
    "partner_mode": ("never", "fallback", "always"),
    "partner_threshold": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
    "partner_boost": (0.5, 1.0, 1.5, 2.0, 3.0, 99.0),
    "references_exclusive": (True, False),
    "title_min_idf": (2.5, 3.0, 3.5, 99.0),
    "title_coverage": (0.5, 0.67, 1.0),
    "title_head_idf": (2.5, 2.7, 3.0, 3.5, 4.0, 99.0),
    "sentence_weight": (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "min_similarity_terms": (2, 4, 6, 8),
    "excluded_chapters": (("1", "6"), ("1", "6", "7"), ("1", "4", "6"), ("1", "4", "6", "7")),
}


@dataclass(frozen=True)
class Label:
    id: str
    doc: str
    text: str
    question: int | None
    respondent_type: RespondentType | None
    must: tuple[str, ...]
    may: tuple[str, ...]


def read_labels(path: Path) -> list[Label]:
    """Labels in the routing labels' JSON-lines format."""
    labels = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        rtype = row.get("respondent_type")
        labels.append(
            Label(
                id=str(row.get("id") or f"{row.get('doc', '')}:{row.get('paragraphs', number)}"),
                doc=str(row.get("doc", "")),
                text=row["text"],
                question=row.get("question"),
                respondent_type=RespondentType.parse(rtype) if rtype else None,
                must=tuple(row.get("must", ())),
                may=tuple(row.get("may", ())),
            )
        )
    return labels


def evaluate(classifier: Classifier, labels: Iterable[Label], params: Params | None = None) -> Scorecard:
    params = params or classifier.params
    return scorecard(
        (
            label.id,
            [
                s.section_id
                for s in classifier.decide(
                    classifier.signals(label.text, label.question, label.respondent_type), params
                )
            ],
            label.must,
            label.may,
        )
        for label in labels
    )


def calibrate(
    classifier: Classifier,
    labels: Sequence[Label],
    grid: dict[str, Sequence[object]] | None = None,
    rounds: int = 6,
) -> tuple[Params, Scorecard]:
    """The parameters that score best on `labels`, by coordinate ascent over the grid.

    From each starting point (`Params()`'s defaults, and each grid corner of the two thresholds), every parameter
    in turn takes the grid value that scores best with the others fixed, until a round changes nothing.
    Deterministic: the same labels always give the same parameters.
    """
    grid = grid or GRID
    read: list[tuple[Label, Signals]] = [
        (label, classifier.signals(label.text, label.question, label.respondent_type)) for label in labels
    ]

    def run(params: Params) -> tuple[tuple[float, float, int], Scorecard]:
        result = scorecard(
            (label.id, [s.section_id for s in classifier.decide(signals, params)], label.must, label.may)
            for label, signals in read
        )
        return (round(result.f1, 4), round(min(result.precision, result.recall), 4), -result.predicted), result

    # From the defaults, never from the classifier's current (shipped) parameters: the result must not
    # depend on what an earlier calibration chose.
    origin = Params()
    starts = [origin] + [
        replace(origin, similarity_threshold=t, relative_threshold=r)  # type: ignore[arg-type]
        for t in (grid["similarity_threshold"][0], grid["similarity_threshold"][-1])
        for r in (grid["relative_threshold"][0], grid["relative_threshold"][-1])
    ]
    best: tuple[tuple[float, float, int], Params, Scorecard] | None = None
    for params in starts:
        key, result = run(params)
        for _ in range(rounds):
            changed = False
            for name, values in grid.items():
                for value in values:
                    candidate = replace(params, **{name: value})  # type: ignore[arg-type]
                    candidate_key, candidate_result = run(candidate)
                    if candidate_key > key:
                        params, key, result, changed = candidate, candidate_key, candidate_result, True
            if not changed:
                break
        if best is None or key > best[0]:
            best = (key, params, result)
    assert best is not None
    return best[1], best[2]
