"""The paragraph classifier: explicit references, section titles, owner-curated terms, and what the
paragraph is about (TF-IDF similarity to each section's own text in the draft, on Finnish base forms),
with the respondent type's partner section and the question as priors. Every route carries its reasons.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from feedback_contracts.events import Reason
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy

from .morphology import STOP_LEMMAS, Analyzer, tokens
from .references import find_references

PARTNER_SECTIONS: dict[RespondentType, str] = {
    RespondentType.COMPANY: "5.3.1.1",
    RespondentType.MUNICIPALITY: "5.3.1.2",
    RespondentType.ORGANIZATION_OR_PARISH: "5.3.1.3",
    RespondentType.EDUCATION: "5.3.1.4",
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: "5.3.1.5",
    RespondentType.EMPLOYMENT_AREA: "5.3.1.6",
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ])|\n+")
# Between two coordinated words: "kuntien ja työllisyysalueiden", "kuntia, järjestöjä".
_COORDINATION = re.compile(r"\s*(?:,|\bja\b|\bsekä\b|\btai\b|\bettä\b)\s*")
# An acronym standing on its own or before a hyphen: "HYTE", "HYTE-rahoitus".
_ACRONYM = re.compile(r"(?<![\w-])[A-ZÅÄÖ]{3,6}(?![\w])")
_FIGURE = re.compile(r"\b[Kk]uvio(?:n|ssa|sta|lla|ta)?\s+(\d{1,2})\b")


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> Params:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = dict(data.get("params", data))
        data["excluded_chapters"] = tuple(data.get("excluded_chapters", ()))
        return cls(**data)


CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.json"


@functools.cache
def shared_classifier() -> Classifier:
    """One classifier with the default analyser and the shipped calibration, built once per process."""
    from feedback_contracts.taxonomy import load_taxonomy

    from .morphology import default_analyzer

    return Classifier(load_taxonomy(), default_analyzer(), load_params())


def load_params(path: Path | None = None) -> Params:
    """The calibrated parameters shipped with the classifier (see `feedback calibrate`), or those of `path`."""
    path = path or CALIBRATION_FILE
    return Params.from_file(path) if path.is_file() else Params()


@dataclass
class SectionScore:
    """A section a paragraph is routed to, with its score and reasons."""

    section_id: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


@dataclass
class Signals:
    """What one paragraph says, before thresholds."""

    respondent_type: RespondentType | None
    references: list[tuple[str, Reason]] = field(default_factory=list)
    # (section, idf of the title's rarest word, share of the title named, named only in a list of partners, reason)
    titles: list[tuple[str, float, float, bool, Reason]] = field(default_factory=list)
    acronyms: list[tuple[str, Reason]] = field(default_factory=list)
    terms: list[tuple[str, Reason]] = field(default_factory=list)
    vector: dict[str, float] = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)
    question_prior: dict[str, float] = field(default_factory=dict)
    sentence_similarity: dict[str, float] = field(default_factory=dict)


class StrategyModel:
    """What each section is about, built from the draft strategy's own text."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        analyzer: Analyzer,
        excluded_chapters: tuple[str, ...] = (),
        min_body_chars: int = 200,
        partner_sections: tuple[str, ...] = (),
    ) -> None:
        self.taxonomy = taxonomy
        self.analyzer = analyzer
        routable = [s for s in taxonomy.sections if not (s.depth == 1 and taxonomy.children(s.id))]
        self.candidates = [s.id for s in routable if s.id.split(".")[0] not in excluded_chapters]
        # A section with (almost) no text of its own cannot be recognised by what it says; its title and
        # explicit references still route to it.
        self.similar_candidates = [sid for sid in self.candidates if len(taxonomy.get(sid).body) >= min_body_chars]  # type: ignore[union-attr]
        documents = {sid: self.lemmas(_document(taxonomy, sid)) for sid in self.similar_candidates}
        df: Counter[str] = Counter()
        for lemmas in documents.values():
            df.update(set(lemmas))
        n = len(documents)
        self.idf = {term: math.log((n + 1) / (count + 1)) + 1.0 for term, count in df.items()}
        self.default_idf = math.log(n + 1) + 1.0
        self.index: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for sid, lemmas in documents.items():
            for term, weight in self.vector(lemmas).items():
                self.index[term].append((sid, weight))
        self.section_terms: dict[str, dict[str, float]] = defaultdict(dict)
        for term, postings in self.index.items():
            for sid, weight in postings:
                self.section_terms[sid][term] = weight
        self.titles = {sid: self._title_terms(taxonomy.get(sid).title) for sid in self.candidates}  # type: ignore[union-attr]
        # Each title's rarest word: a title is only looked for where its rarest word stands.
        self.title_heads = {
            sid: max(title, key=lambda t: self.idf.get(t, 0.0)) for sid, title in self.titles.items() if title
        }
        self.title_head_idf = {
            sid: max(self.idf.get(t, 0.0) for t in title) for sid, title in self.titles.items() if title
        }
        self._heads_by_word = {
            head: [sid for sid, h in self.title_heads.items() if h == head] for head in self.title_heads.values()
        }
        self._long_heads = [head for head in self._heads_by_word if len(head) > 5]
        self._heads_in = functools.lru_cache(maxsize=100_000)(self._heads_in_uncached)
        self.figures = _figure_sections(taxonomy)
        self.actors = self._partner_actors(taxonomy, partner_sections)
        self.acronyms = self._title_acronyms()

    def lemmas(self, text: str) -> list[str]:
        out: list[str] = []
        for word, _, _ in tokens(text):
            out.extend(f for f in self.analyzer.features(word) if f not in STOP_LEMMAS and len(f) > 2)
        return out

    def vector(self, lemmas: list[str]) -> dict[str, float]:
        counts = Counter(lemmas)
        weights = {t: (1.0 + math.log(c)) * self.idf.get(t, self.default_idf) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def similarities(self, vector: dict[str, float]) -> dict[str, float]:
        scores: dict[str, float] = defaultdict(float)
        for term, weight in vector.items():
            for sid, section_weight in self.index.get(term, ()):
                scores[sid] += weight * section_weight
        return scores

    def _heads_in_uncached(self, lemma: str) -> tuple[str, ...]:
        """The title heads a base form names: itself, or a long head inside a compound."""
        found = [head for head in self._long_heads if head in lemma and head != lemma]
        if lemma in self._heads_by_word:
            found.append(lemma)
        return tuple(found)

    def titles_named(self, base_forms: list[tuple[str, int, int]]) -> set[str]:
        """Sections whose title's rarest word occurs among these base forms."""
        sections: set[str] = set()
        for lemma in {lemma for lemma, _, _ in base_forms}:
            for head in self._heads_in(lemma):
                sections.update(self._heads_by_word[head])
        return sections

    def _title_acronyms(self) -> dict[str, list[str]]:
        """Acronym -> sections, from the first letters of a title's leading words: "HYTE" is
        "HYvinvoinnin ja TErveyden edistäminen". One or two letters of each of at least two words, and only
        acronyms the draft itself writes: "PAM" or "SOK" could be spelt from titles too, but name others.
        """
        written = {m.group(0) for s in self.taxonomy.sections for m in _ACRONYM.finditer(f"{s.title}\n{s.body}")}
        found: dict[str, list[str]] = defaultdict(list)
        for sid in self.candidates:
            words = [w for w, _, _ in tokens(self.taxonomy.get(sid).title) if self.analyzer.features(w)]  # type: ignore[union-attr]
            acronyms: set[str] = set()
            partial = {""}
            for count, word in enumerate(words[:4], start=1):
                partial = {p + word[:n].upper() for p in partial for n in (1, 2)}
                if count >= 2:
                    acronyms.update(a for a in partial if len(a) >= 3)
            for acronym in acronyms & written:
                found[acronym].append(sid)
        return dict(found)

    def _partner_actors(self, taxonomy: Taxonomy, partner_sections: tuple[str, ...]) -> dict[str, str]:
        """Base form -> partner section, for the words that name one kind of partner in the partner sections'
        titles: "kunta" (Kuntayhteistyö), "työllisyysalue" (Työllisyysalueet kumppanina), "järjestö", ...
        A word in several of those titles ("yhteistyö") names no one in particular.
        """
        parents = {sid.rsplit(".", 1)[0] for sid in partner_sections if "." in sid}
        siblings = [s.id for parent in parents for s in taxonomy.children(parent)]
        words: dict[str, set[str]] = defaultdict(set)
        for sid in siblings:
            for word, _, _ in tokens(taxonomy.get(sid).title):  # type: ignore[union-attr]
                for feature in self.analyzer.features(word)[:1]:
                    words[feature].add(sid)
        # "yhteistyö" ends several of these titles' words: what stands before it names the partner.
        shared_ends = {w for w in words if sum(1 for other in words if other != w and other.endswith(w)) >= 2}
        owners: dict[str, set[str]] = defaultdict(set)
        for word, sids in words.items():
            if word in shared_ends:
                continue
            end = next((e for e in shared_ends if word.endswith(e) and len(word) - len(e) > 3), None)
            owners[word[: -len(end)] if end else word].update(sids)
        return {word: next(iter(sids)) for word, sids in owners.items() if len(sids) == 1 and len(word) > 3}

    def listed_with_other_partner(self, section_id: str, base_forms: list[tuple[str, int, int]], text: str) -> bool:
        """Whether every mention of this partner section's title word stands in a list with another kind of
        partner ("kuntien ja työllisyysalueiden kanssa"): such a list names who takes part, not the topic.
        """
        head = self.title_heads.get(section_id)
        if head is None or self.actors.get(head) != section_id:
            return False
        mentions = 0
        for index, (lemma, start, end) in enumerate(base_forms):
            if not (lemma == head or (len(head) > 5 and head in lemma)):
                continue
            mentions += 1
            listed = False
            for other in (index - 1, index + 1):
                if not 0 <= other < len(base_forms):
                    continue
                other_lemma, other_start, other_end = base_forms[other]
                between = text[other_end:start] if other < index else text[end:other_start]
                actor = next(
                    (self.actors[f] for f in self.analyzer.features(text[other_start:other_end]) if f in self.actors),
                    None,
                )
                if actor and actor != section_id and _COORDINATION.fullmatch(between):
                    listed = True
            if not listed:
                return False
        return mentions > 0

    def _title_terms(self, title: str) -> tuple[str, ...]:
        terms = []
        for word, _, _ in tokens(title):
            features = self.analyzer.features(word)
            if features and len(features[0]) > 2:
                terms.append(features[0])
        return tuple(dict.fromkeys(terms))


def _document(taxonomy: Taxonomy, section_id: str) -> str:
    section = taxonomy.get(section_id)
    assert section is not None
    # A title counts twice: it is the section's own summary of itself.
    return f"{section.title}\n{section.title}\n{section.body}"


def _figure_sections(taxonomy: Taxonomy) -> dict[str, str]:
    """Figure number -> the section whose text shows it ("kuvio 7" routes there)."""
    found: dict[str, str] = {}
    for section in taxonomy.sections:
        for match in _FIGURE.finditer(section.body):
            found.setdefault(match.group(1), section.id)
    return found


class Classifier:
    """Routes one paragraph to the sections it concerns, each with a score and its reasons."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        analyzer: Analyzer,
        params: Params | None = None,
        terms: dict[str, list[str]] | None = None,
    ) -> None:
        self.params = params or Params()
        self.taxonomy = taxonomy
        self.model = StrategyModel(taxonomy, analyzer, partner_sections=tuple(PARTNER_SECTIONS.values()))
        self.terms = {
            sid: tuple(dict.fromkeys(f for term in words for f in analyzer.features(term)[:1]))
            for sid, words in (terms or {}).items()
            if sid in taxonomy
        }
        questionnaire = load_questionnaire()
        self.question_priors = {q.number: self._question_prior(q.text) for q in questionnaire.questions if q.text}
        order = {section.id: index for index, section in enumerate(taxonomy.sections)}
        self._section_order = lambda sid: order.get(sid, len(order))

    def _question_prior(self, text: str) -> dict[str, float]:
        """How close each section is to the question's own text. A question that names a chapter ("Miltä
        luvun 5 painopisteiden sisällöt näyttävät?") asks about that chapter only: its other words
        ("painopisteet") must not pull answers towards chapter 4's list of priorities.
        """
        prior = self.model.similarities(self.model.vector(self.model.lemmas(text)))
        named = [ref.section_id for ref in find_references(text) if ref.section_id in self.taxonomy]
        if named:
            prior = {sid: v for sid, v in prior.items() if any(sid == n or sid.startswith(n + ".") for n in named)}
        return dict(prior)

    def classify(
        self, text: str, question: int | None = None, respondent_type: RespondentType | None = None
    ) -> list[SectionScore]:
        """Sections for one paragraph, strongest first."""
        params = self.params
        return self.decide(self.signals(text, question, respondent_type, params.sentence_weight > 0), params)

    def signals(
        self,
        text: str,
        question: int | None,
        respondent_type: RespondentType | None,
        sentences: bool = True,
    ) -> Signals:
        """Everything the text says, before any threshold is applied (so calibration can sweep thresholds).

        `sentences=False` skips the per-sentence similarity, which only counts when `sentence_weight` > 0.
        """
        found = Signals(respondent_type=respondent_type)
        for ref in find_references(text):
            if self._routable_reference(ref.section_id):
                found.references.append((ref.section_id, Reason(kind="reference", match=ref.match, span=ref.span)))
        for match in _FIGURE.finditer(text):
            sid = self.model.figures.get(match.group(1))
            if sid:
                reason = Reason(kind="reference", match=match.group(0), span=(match.start(), match.end()))
                found.references.append((sid, reason))
        words = [(s, e, self.model.analyzer.features(w)) for w, s, e in tokens(text)]
        base_forms = [(f[0], s, e) for s, e, f in words if f]
        all_features = [x for _, _, f in words for x in f]
        for sid in sorted(self.model.titles_named(base_forms), key=self._section_order):
            named = self._title_span(self.model.titles[sid], base_forms, self.model.title_heads[sid])
            if named is not None:
                span, share = named
                head_idf = self.model.title_head_idf[sid]
                reason = Reason(kind="title", match=text[span[0] : span[1]], span=span)
                listed = self.model.listed_with_other_partner(sid, base_forms, text)
                found.titles.append((sid, head_idf, share, listed, reason))
        for match in _ACRONYM.finditer(text):
            for sid in self.model.acronyms.get(match.group(0), ()):
                reason = Reason(kind="title", match=match.group(0), span=(match.start(), match.end()))
                found.acronyms.append((sid, reason))
        lemma_set = set(all_features)
        for sid, curated in self.terms.items():
            matched = [t for t in curated if t in lemma_set]
            if matched:
                found.terms.append((sid, Reason(kind="terms", terms=tuple(matched))))
        found.vector = self.model.vector([f for f in all_features if f not in STOP_LEMMAS and len(f) > 2])
        found.similarity = dict(self.model.similarities(found.vector))
        # A paragraph about two things resembles each section less than its sentences do.
        for sentence in _SENTENCE_END.split(text) if sentences else ():
            sentence_vector = self.model.vector(
                [
                    f
                    for w, _, _ in tokens(sentence)
                    for f in self.model.analyzer.features(w)
                    if f not in STOP_LEMMAS and len(f) > 2
                ]
            )
            if len(sentence_vector) >= 4:
                for sid, value in self.model.similarities(sentence_vector).items():
                    if value > found.sentence_similarity.get(sid, 0.0):
                        found.sentence_similarity[sid] = value
        if question is not None and question in self.question_priors:
            found.question_prior = self.question_priors[question]
        return found

    def decide(self, found: Signals, params: Params) -> list[SectionScore]:
        """Apply thresholds and weights to the signals of one paragraph."""
        routed: dict[str, SectionScore] = {}

        def add(sid: str, score: float, reason: Reason) -> None:
            entry = routed.setdefault(sid, SectionScore(sid, 0.0))
            entry.score = max(entry.score, score)
            entry.reasons.append(reason)

        for sid, reason in found.references:
            add(sid, 1.0, reason)
        if routed and params.references_exclusive:
            return sorted(routed.values(), key=lambda s: -s.score)
        excluded = params.excluded_chapters
        for sid, head_idf, share, listed, reason in found.titles:
            if head_idf >= params.title_min_idf and share >= params.title_coverage - 1e-9:
                add(sid, 0.9, reason)
            elif head_idf >= params.title_head_idf and sid.split(".")[0] not in excluded and not listed:
                # "kuntien ja työllisyysalueiden kanssa" lists who takes part: the title word of 5.3.1.6
                # there does not make the paragraph about employment areas.
                add(sid, 0.8, reason)
        for sid, reason in found.acronyms:
            # An acronym of the whole title names it as fully as the title itself.
            if sid.split(".")[0] not in excluded:
                add(sid, 0.9, reason)
        for sid, reason in found.terms:
            add(sid, 0.85, reason)

        ws = params.sentence_weight
        similarity = {
            sid: max(v, ws * found.sentence_similarity.get(sid, 0.0))
            for sid, v in found.similarity.items()
            if sid.split(".")[0] not in excluded
        }
        w = params.question_weight if found.question_prior else 0.0
        if w:
            similarity = {
                sid: (1 - w) * similarity.get(sid, 0.0) + w * found.question_prior.get(sid, 0.0)
                for sid in set(similarity) | set(found.question_prior)
                if sid.split(".")[0] not in excluded
            }
        if len(found.vector) < params.min_similarity_terms:
            similarity = {}  # too few words to tell what the paragraph is about
        ranked = sorted(similarity.items(), key=lambda item: (-item[1], item[0]))
        top = ranked[0][1] if ranked else 0.0
        for rank, (sid, sim) in enumerate(ranked):
            if rank >= params.max_similar or sim < params.similarity_threshold or sim < params.relative_threshold * top:
                break
            add(
                sid,
                round(sim, 3),
                Reason(kind="similarity", score=round(sim, 3), terms=self._shared_terms(found.vector, sid)),
            )

        partner = PARTNER_SECTIONS.get(found.respondent_type) if found.respondent_type else None
        if partner and partner in self.taxonomy and partner not in routed:
            partner_similarity = similarity.get(partner, 0.0)
            close = (
                partner_similarity >= params.partner_threshold
                and partner_similarity * (1 + params.partner_boost) >= params.relative_threshold * top
            )
            if params.partner_mode == "always" or (params.partner_mode == "fallback" and (not routed or close)):
                add(partner, 0.5, Reason(kind="respondent_type", score=0.5))
        return sorted(routed.values(), key=lambda s: -s.score)

    def _routable_reference(self, section_id: str) -> bool:
        # "Luvun 5 neljä painopistettä" names the whole strategy part, not a section anyone owns.
        if self.taxonomy.get(section_id) is None:
            return False
        return "." in section_id or not self.taxonomy.children(section_id)

    def _title_span(
        self, title: tuple[str, ...], base_forms: list[tuple[str, int, int]], head: str
    ) -> tuple[tuple[int, int], float] | None:
        """Where the paragraph names the section's title, and how much of it: its words close together,
        in any inflection, always including the title's rarest word (which may also stand inside a
        compound: "vastuutyöntekijämallin" names "Vastuutyöntekijä asiakkaan tukena").
        """
        window = len(title) + 2
        best: tuple[tuple[int, int], float] | None = None
        for start, (lemma, _, _) in enumerate(base_forms):
            if not (lemma == head or (len(head) > 5 and head in lemma)):
                continue
            found: dict[str, tuple[int, int]] = {}
            for other, s, e in base_forms[max(0, start - window + 1) : start + window]:
                for term in title:
                    if term not in found and (other == term or (term == head and len(term) > 5 and term in other)):
                        found[term] = (s, e)
            share = len(found) / len(title)
            if best is None or share > best[1]:
                best = ((min(s for s, _ in found.values()), max(e for _, e in found.values())), share)
        return best

    def _shared_terms(self, vector: dict[str, float], section_id: str, limit: int = 4) -> tuple[str, ...]:
        own = self.model.section_terms.get(section_id, {})
        weights = {t: w * own[t] for t, w in vector.items() if t in own}
        return tuple(t for t, _ in sorted(weights.items(), key=lambda item: -item[1])[:limit])
