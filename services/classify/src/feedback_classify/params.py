"""The classifier's thresholds and weights (`Params`), and the calibration file that ships them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.json"


@dataclass(frozen=True)
class Params:
    """Thresholds and weights; `feedback calibrate` chooses them on labelled data."""

    similarity_threshold: float = 0.15
    relative_threshold: float = 0.7
    max_similar: int = 2
    question_weight: float = 0.2
    partner_mode: Literal["never", "fallback", "always"] = "fallback"
    partner_threshold: float = 0.05
    # The respondent type makes its partner section more likely, not certain: the partner's similarity,
    # raised by this factor, has to pass the same relative test as any other section's. A municipality's
    # paragraph on mental health services resembles Kuntayhteistyö a little, but much less than 5.2.1.
    partner_boost: float = 1.0
    title_min_idf: float = 3.0
    title_coverage: float = 1.0
    # A title word this distinctive names its section on its own ("Palveluhankinnoissa" -> "Hankintojen
    # ja järjestämisen linjaukset"); 99 turns the rule off.
    title_head_idf: float = 99.0
    sentence_weight: float = 0.0
    min_similarity_terms: int = 4
    references_exclusive: bool = True
    excluded_chapters: tuple[str, ...] = ("1", "6")
    # Chapter 5 holds the strategic priorities most feedback is about; the other chapters describe the operating
    # environment (2-3), the strategy's frame and its implementation, and a paragraph's words resemble their
    # text by the way more often than by topic. A section outside chapter 5 must be this many times closer to
    # the paragraph than one of chapter 5 would need to be (1: no difference).
    background_factor: float = 1.0
    # A paragraph at least this like a precedent (binary cosine of content words) is routed as the precedent
    # was, and only there: a person decided where that text belongs. Identical text always passes (1.0).
    precedent_similarity: float = 0.8

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> Params:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = dict(data.get("params", data))
        data["excluded_chapters"] = tuple(data.get("excluded_chapters", ()))
        return cls(**data)


def load_params(path: Path | None = None) -> Params:
    """The calibrated parameters shipped with the classifier (see `feedback calibrate`), or those of `path`."""
    path = path or CALIBRATION_FILE
    return Params.from_file(path) if path.is_file() else Params()
