"""The learning curve: how routing improves as labelled statements accumulate.

Each statement (a labels `doc`) is held out in turn; the classifier gets other statements as precedents and as
calibration data, and routes the held-out one. Nothing of the held-out statement reaches its own routing: it
is not calibrated on, and its paragraphs are not its precedents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .calibration import calibrate, read_signals
from .classifier import Classifier, Params
from .evaluation import Scorecard
from .labels import Label, precedent_index
from .precedents import PrecedentIndex


@dataclass(frozen=True)
class HeldOut:
    """One statement routed with all the others learnt: without them, calibrated on them, and also with them
    as precedents."""

    doc: str
    paragraphs: int
    untrained: Scorecard
    calibrated: Scorecard
    with_precedents: Scorecard
    # Paragraphs of the held-out statement that followed a precedent.
    followed: int


@dataclass(frozen=True)
class CurvePoint:
    """Routing of every held-out statement with `statements` others learnt, pooled (micro) over them."""

    statements: int
    result: Scorecard


@dataclass(frozen=True)
class LearningCurve:
    points: list[CurvePoint]
    held_out: list[HeldOut]


def learning_curve(classifier: Classifier, labels: Sequence[Label]) -> LearningCurve:
    """Hold out each statement in turn and learn from 0, 1, ... of the others (the ones after it in name order,
    wrapping round). With none learnt the classifier runs on `Params()`'s defaults: calibration needs labels."""
    docs = sorted({label.doc for label in labels})
    by_doc = {doc: [label for label in labels if label.doc == doc] for doc in docs}
    pooled = {n: Scorecard() for n in range(len(docs))}
    held_out = []
    for at, doc in enumerate(docs):
        others = docs[at + 1 :] + docs[:at]
        untrained = _routed(classifier, by_doc[doc], Params(), None, pooled[0])
        calibrated = with_precedents = untrained
        followed = 0
        for n in range(1, len(docs)):
            learnt = [label for other in others[:n] for label in by_doc[other]]
            precedents = precedent_index(learnt, PrecedentIndex(classifier.model.analyzer))
            params, _ = calibrate(classifier, learnt, precedents=precedents)
            with_precedents = _routed(classifier, by_doc[doc], params, precedents, pooled[n])
            if n == len(docs) - 1:
                calibrated = _routed(classifier, by_doc[doc], params, None, Scorecard())
                followed = _followed(classifier, by_doc[doc], params, precedents)
        held_out.append(HeldOut(doc, len(by_doc[doc]), untrained, calibrated, with_precedents, followed))
    return LearningCurve([CurvePoint(n, result) for n, result in pooled.items()], held_out)


def _routed(
    classifier: Classifier, labels: list[Label], params: Params, precedents: PrecedentIndex | None, pool: Scorecard
) -> Scorecard:
    """The held-out labels' scorecard; each route also counts in `pool`."""
    result = Scorecard()
    for label, signals in read_signals(classifier, labels, precedents):
        predicted = [s.section_id for s in classifier.decide(signals, params)]
        result.add(label.id, predicted, label.must, label.may)
        pool.add(label.id, predicted, label.must, label.may)
    return result


def _followed(classifier: Classifier, labels: list[Label], params: Params, precedents: PrecedentIndex) -> int:
    return sum(
        1
        for _, signals in read_signals(classifier, labels, precedents)
        if any(r.kind == "precedent" for s in classifier.decide(signals, params) for r in s.reasons)
    )


def report_curve(curve: LearningCurve) -> str:
    """The curve and the per-statement figures, as `feedback eval --learning-curve` prints them."""
    lines = [
        "learning curve: each statement held out in turn, the others as precedents and calibration data",
        "",
        f"{'statements learnt':<18} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for point in curve.points:
        r = point.result
        note = "  (no labels: default parameters)" if point.statements == 0 else ""
        lines.append(f"{point.statements:<18} {r.precision:9.3f} {r.recall:7.3f} {r.f1:6.3f}{note}")
    lines += [
        "",
        "per statement, held out with all the others learnt (F1; precision/recall with precedents):",
        "",
        f"{'statement':<28} {'paragraphs':>10} {'untrained':>9} {'calibrated':>10} {'+precedents':>11} "
        f"{'precision':>9} {'recall':>7} {'followed':>8}",
    ]
    for h in curve.held_out:
        w = h.with_precedents
        lines.append(
            f"{h.doc:<28} {h.paragraphs:>10} {h.untrained.f1:9.3f} {h.calibrated.f1:10.3f} {w.f1:11.3f} "
            f"{w.precision:9.3f} {w.recall:7.3f} {h.followed:>8}"
        )
    lines += [
        "",
        "untrained: default parameters, no precedents; calibrated: parameters calibrated on the others; "
        "+precedents: also the others' paragraphs as precedents; followed: paragraphs routed by a precedent.",
    ]
    return "\n".join(lines)
