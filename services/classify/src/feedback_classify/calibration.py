"""Choosing the classifier's thresholds and weights on labelled paragraphs, repeatably.

A grid search over `Params`: every combination is scored with the labels' hierarchy-aware rules and
the best F1 wins (ties: the higher of the lower of precision and recall, then fewer routes). The
signals of each paragraph are computed once; only the decision is repeated per combination.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from feedback_contracts.respondents import RespondentType

from .classifier import Classifier, Params, Signals
from .evaluation import Score, score

GRID: dict[str, Sequence[object]] = {
    "similarity_threshold": (0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.17, 0.2, 0.25),
    "relative_threshold": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "max_similar": (1, 2, 3),
    "question_weight": (0.0, 0.15, 0.3),
    "partner_mode": ("never", "fallback", "always"),
    "partner_threshold": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
    "references_exclusive": (True, False),
    "title_min_idf": (2.5, 3.0, 3.5, 99.0),
    "title_coverage": (0.5, 0.67, 1.0),
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


def evaluate(classifier: Classifier, labels: Iterable[Label], params: Params | None = None) -> Score:
    params = params or classifier.params
    return score(
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


def _combinations(base: Params, grid: dict[str, Sequence[object]]) -> Iterable[Params]:
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        chosen = dict(zip(keys, values, strict=True))
        if chosen.get("partner_mode") != "fallback" and chosen.get("partner_threshold") != grid["partner_threshold"][0]:
            continue  # the threshold only matters in fallback mode
        yield replace(base, **chosen)  # type: ignore[arg-type]


def calibrate(
    classifier: Classifier, labels: Sequence[Label], grid: dict[str, Sequence[object]] | None = None
) -> tuple[Params, Score]:
    """The parameters that score best on `labels`."""
    signals: list[tuple[Label, Signals]] = [
        (label, classifier.signals(label.text, label.question, label.respondent_type)) for label in labels
    ]
    best: tuple[tuple[float, float, int], Params, Score] | None = None
    for params in _combinations(classifier.params, grid or GRID):
        result = score(
            (label.id, [s.section_id for s in classifier.decide(found, params)], label.must, label.may)
            for label, found in signals
        )
        key = (round(result.f1, 4), round(min(result.precision, result.recall), 4), -result.predicted)
        if best is None or key > best[0]:
            best = (key, params, result)
    assert best is not None
    return best[1], best[2]
