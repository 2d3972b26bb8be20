"""What one paragraph says about the sections, before any threshold: the classifier's named signal types.

`Classifier.signals` finds them once per paragraph; `Classifier.decide` applies the (calibrated) thresholds
to them, which is what lets `feedback calibrate` sweep thresholds without reading the text again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from feedback_contracts.events import Reason
from feedback_contracts.respondents import RespondentType

from .precedents import PrecedentMatch

# A word of the text as (base form, start, end): its first feature and its character span.
BaseForm = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A section the text points at, and the reason shown to its owner."""

    section_id: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class TitleSignal:
    """The text names (part of) a section's title."""

    section_id: str
    # How distinctive the title's rarest word is (its idf in the draft): a common word names nothing.
    head_idf: float
    # The share of the title's words named close together, 0-1.
    coverage: float
    # Every mention stands in a list with another kind of partner ("kuntien ja työllisyysalueiden kanssa"):
    # such a list names who takes part, not what the paragraph is about.
    listed_with_other_partner: bool
    reason: Reason


@dataclass(frozen=True, slots=True)
class QuestionPrior:
    """How close each section is to one question's text: an answer tends to be about what was asked."""

    question: int
    # Section -> similarity of the question's text to the section's text (only sections it resembles).
    similarity: dict[str, float]
    # The question's TF-IDF vector, for the words it shares with a section.
    vector: dict[str, float]
    # Feature -> the question's own word it stands in, for reasons a person can read.
    surfaces: dict[str, str] = field(default_factory=dict)
    # Section -> the reason the question gives for it, made the first time an answer is routed there.
    reasons: dict[str, Reason] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Signals:
    """What one paragraph says, before thresholds."""

    respondent_type: RespondentType | None
    references: list[Evidence] = field(default_factory=list)
    titles: list[TitleSignal] = field(default_factory=list)
    acronyms: list[Evidence] = field(default_factory=list)
    curated_terms: list[Evidence] = field(default_factory=list)
    vector: dict[str, float] = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)
    sentence_similarity: dict[str, float] = field(default_factory=dict)
    question_prior: QuestionPrior | None = None
    # Feature -> the paragraph's own word it stands in (reasons show words as written, never base forms).
    surfaces: Mapping[str, str] = field(default_factory=dict)
    # The precedent most like the paragraph, at the classifier's `precedent_similarity` or above.
    precedent: PrecedentMatch | None = None
