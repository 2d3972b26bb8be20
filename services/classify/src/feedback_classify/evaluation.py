"""Scoring routes against hand-made labels, hierarchy-aware (the rules of the routing labels' README).

- recall: the share of `must` labels hit; a label is hit by itself or any section below it.
- precision: the share of predicted sections that agree with the gold: equal to a `must` or `may`
  label, below one, or, when at least two levels deep, above one (coarse but not wrong).
- F1 from the two, micro-averaged over all paragraphs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


def _below(section: str, ancestor: str) -> bool:
    return section.startswith(ancestor + ".")


def hits(label: str, predicted: Iterable[str]) -> bool:
    return any(p == label or _below(p, label) for p in predicted)


def agrees(prediction: str, gold: Iterable[str]) -> bool:
    deep = prediction.count(".") >= 1
    return any(prediction == g or _below(prediction, g) or (deep and _below(g, prediction)) for g in gold)


@dataclass
class SectionCounts:
    predicted: int = 0
    agreed: int = 0
    must: int = 0
    hit: int = 0

    @property
    def precision(self) -> float | None:
        return self.agreed / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.hit / self.must if self.must else None


@dataclass
class Scorecard:
    """How routes agree with the labels, in total and per section, with the misses and wrong routes."""

    predicted: int = 0
    agreed: int = 0
    must: int = 0
    hit: int = 0
    sections: dict[str, SectionCounts] = field(default_factory=lambda: defaultdict(SectionCounts))
    misses: list[tuple[str, str]] = field(default_factory=list)  # (item id, missed must label)
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (item id, prediction that agrees with nothing)

    @property
    def precision(self) -> float:
        return self.agreed / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.hit / self.must if self.must else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, item: str, predicted: Iterable[str], must: Iterable[str], may: Iterable[str]) -> None:
        predicted, must, may = list(dict.fromkeys(predicted)), list(must), list(may)
        gold = must + may
        for p in predicted:
            ok = agrees(p, gold)
            self.predicted += 1
            self.agreed += ok
            self.sections[p].predicted += 1
            self.sections[p].agreed += ok
            if not ok:
                self.wrong.append((item, p))
        for m in must:
            ok = hits(m, predicted)
            self.must += 1
            self.hit += ok
            self.sections[m].must += 1
            self.sections[m].hit += ok
            if not ok:
                self.misses.append((item, m))


def scorecard(items: Iterable[tuple[str, Iterable[str], Iterable[str], Iterable[str]]]) -> Scorecard:
    """The scorecard of (id, predicted, must, may) items."""
    result = Scorecard()
    for item, predicted, must, may in items:
        result.add(item, predicted, must, may)
    return result
