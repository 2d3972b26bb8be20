"""Choosing the classifier's thresholds and weights on labelled paragraphs, repeatably.

A grid search over `Params`: every combination is scored with the labels' hierarchy-aware rules and the
best F1, taken over a neighbourhood of the grid, wins (see `calibrate`). The signals of each paragraph are
computed once; only the decision is repeated per combination.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from .classifier import Classifier, Params
from .evaluation import Scorecard, scorecard
from .labels import Label, read_labels
from .precedents import PrecedentIndex
from .signals import Signals

__all__ = ["GRID", "Label", "calibrate", "evaluate", "read_labels"]

# How much a candidate's grid neighbours weigh in its calibration score, against its own F1 (see `calibrate`).
# Half: a lone peak (neighbours at zero) counts for half; the choice is not sensitive to it (a third or two
# thirds pick the same parameters on the dev labels).
_NEIGHBOUR_WEIGHT = 0.5

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
    "background_factor": (1.0, 1.25, 1.5, 2.0, 3.0),
    "excluded_chapters": (("1", "6"), ("1", "6", "7"), ("1", "4", "6"), ("1", "4", "6", "7")),
}


def read_signals(
    classifier: Classifier, labels: Iterable[Label], precedents: PrecedentIndex | None = None
) -> list[tuple[Label, Signals]]:
    """Each label's signals, read once. A label's own statement (its `doc`) is never its precedent: the
    precedents of a statement held out are always the others'."""
    return [
        (
            label,
            classifier.signals(
                label.text, label.question, label.respondent_type, precedents=precedents, exclude_response=label.doc
            ),
        )
        for label in labels
    ]


def evaluate(
    classifier: Classifier,
    labels: Iterable[Label],
    params: Params | None = None,
    precedents: PrecedentIndex | None = None,
) -> Scorecard:
    """How the classifier's routes of `labels` agree with them, with `precedents` consulted if given."""
    return score(classifier, read_signals(classifier, labels, precedents), params or classifier.params)


def score(classifier: Classifier, read: Sequence[tuple[Label, Signals]], params: Params) -> Scorecard:
    return scorecard(
        (label.id, [s.section_id for s in classifier.decide(signals, params)], label.must, label.may)
        for label, signals in read
    )


def calibrate(
    classifier: Classifier,
    labels: Sequence[Label],
    grid: dict[str, Sequence[object]] | None = None,
    rounds: int = 6,
    precedents: PrecedentIndex | None = None,
) -> tuple[Params, Scorecard]:
    """The parameters that score best on `labels`, by coordinate ascent over the grid.

    From each starting point (`Params()`'s defaults, and each grid corner of the two thresholds), every parameter
    in turn takes the grid value that scores best with the others fixed, until a round changes nothing.
    "Best" is a flat optimum, not a peak: a candidate's F1 is blended with its grid neighbours' along each
    ordered parameter (`_NEIGHBOUR_WEIGHT`), so a value that only one paragraph of the labels favours loses to
    one that the labels favour around it. A few dozen paragraphs of one statement cannot pin fifteen
    parameters; the flat optimum is what carries over to a statement the labels do not hold.
    Ties: the plain F1, then the higher of the lower of precision and recall, then fewer routes.
    Deterministic: the same labels always give the same parameters.
    """
    grid = grid or GRID
    read = read_signals(classifier, labels, precedents)
    results: dict[Params, Scorecard] = {}

    def run(params: Params) -> Scorecard:
        if params not in results:
            results[params] = score(classifier, read, params)
        return results[params]

    def along(params: Params, name: str) -> float:
        """The F1 of `params` blended with its neighbours' on the grid of one ordered parameter."""
        values, own = grid[name], run(params).f1
        value = getattr(params, name)
        if name not in _ordered(grid) or value not in values:
            return own
        at = list(values).index(value)
        neighbours = [run(replace(params, **{name: values[i]})).f1 for i in (at - 1, at + 1) if 0 <= i < len(values)]
        return (1 - _NEIGHBOUR_WEIGHT) * own + _NEIGHBOUR_WEIGHT * sum(neighbours) / len(neighbours)

    def key(params: Params) -> tuple[float, float, float, int]:
        result = run(params)
        flat = sum(along(params, name) for name in grid) / len(grid)
        return (round(flat, 4), round(result.f1, 4), round(min(result.precision, result.recall), 4), -result.predicted)

    # From the defaults, never from the classifier's current (shipped) parameters: the result must not
    # depend on what an earlier calibration chose.
    origin = Params()
    starts = [origin] + [
        replace(origin, similarity_threshold=t, relative_threshold=r)  # type: ignore[arg-type]
        for t in (grid["similarity_threshold"][0], grid["similarity_threshold"][-1])
        for r in (grid["relative_threshold"][0], grid["relative_threshold"][-1])
    ]
    best: tuple[tuple[float, float, float, int], Params] | None = None
    for params in starts:
        params_key = key(params)
        for _ in range(rounds):
            changed = False
            for name, values in grid.items():
                for value in values:
                    candidate = replace(params, **{name: value})  # type: ignore[arg-type]
                    candidate_key = key(candidate)
                    if candidate_key > params_key:
                        params, params_key, changed = candidate, candidate_key, True
            if not changed:
                break
        if best is None or params_key > best[0]:
            best = (params_key, params)
    assert best is not None
    return best[1], run(best[1])


def _ordered(grid: dict[str, Sequence[object]]) -> set[str]:
    """The parameters whose grid values lie on a scale (neighbours mean something), not choices or switches."""
    return {
        name
        for name, values in grid.items()
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    }
