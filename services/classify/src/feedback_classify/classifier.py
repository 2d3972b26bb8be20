"""The paragraph classifier: explicit references, section titles, owner-curated terms, and what the
paragraph is about (TF-IDF similarity to each section's own text in the draft, on Finnish base forms),
with the respondent type's partner section and the question as priors. Every route carries its reasons.

`signals` reads the text once; `decide` applies the calibrated thresholds (`Params`) to what it found.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field

from feedback_contracts.events import PrecedentSource, Reason
from feedback_contracts.questionnaire import Questionnaire, load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy

from .morphology import WORD, Analyzer, SurfaceForms, surface_forms
from .params import CALIBRATION_FILE, Params, load_params
from .precedents import PrecedentIndex, PrecedentMatch, precedent_words
from .references import find_references
from .signals import Evidence, QuestionPrior, Signals, TitleSignal
from .strategy_model import StrategyModel

__all__ = ["CALIBRATION_FILE", "PARTNER_SECTIONS", "Classifier", "Params", "SectionScore", "load_params"]

PARTNER_SECTIONS: dict[RespondentType, str] = {
    RespondentType.COMPANY: "5.3.1.1",
    RespondentType.MUNICIPALITY: "5.3.1.2",
    RespondentType.ORGANIZATION_OR_PARISH: "5.3.1.3",
    RespondentType.EDUCATION: "5.3.1.4",
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: "5.3.1.5",
    RespondentType.EMPLOYMENT_AREA: "5.3.1.6",
}

# The chapter of the strategic priorities, what most feedback is about (the mission: "Its chapter 5 holds the
# four strategic priorities"); the draft's other chapters are its frame and background.
PRIORITY_CHAPTER = "5"

# Route scores of the named signals. Which sections a paragraph is routed to does not depend on them (they
# only order its sections and tell the owner how sure the route is), so labels cannot calibrate them: each
# says how explicit its kind of evidence is.
# The text names the section by its number: nothing is more explicit.
REFERENCE_SCORE = 1.0
# The text names the section's whole title, or an acronym of it ("HYTE"): explicit, but a title's words
# can also stand in a sentence about something else.
TITLE_SCORE = 0.9
# A word the section's owner listed for it: the owner's own word for the topic, but used more loosely than
# the title.
TERMS_SCORE = 0.85
# Only the title's rarest word ("Palveluhankinnoissa"): less than the whole title.
TITLE_HEAD_SCORE = 0.8
# The respondent type's partner section is a prior from who is writing, not evidence in the text: below
# every explicit signal (a reference, a title, a listed word).
PARTNER_SCORE = 0.5
# Similarity scores are shown to owners; more digits would claim a precision TF-IDF does not have.
SCORE_DECIMALS = 3
# A title's coverage is a fraction (k of its n words): the slack keeps a k/n equal to the calibrated value
# from failing it by float rounding.
_COVERAGE_TOLERANCE = 1e-9
# The shortest sentence whose similarity counts: fewer words resemble some section by chance (the default
# of `Params.min_similarity_terms`; fixed here because sentences are read before parameters apply).
_MIN_SENTENCE_TERMS = 4
# Words shown as the topic of a similarity or question reason: enough to recognise it at a glance.
_REASON_TERMS = 4

# A sentence break: the space after a full stop before a capital, or a line break. The full stop is matched (not
# looked behind for) so that the scan can skip to candidate characters: the break is where the space begins.
_SENTENCE_BREAK = re.compile(r"[.!?](\s+)(?=[A-ZÅÄÖ])|\n+")


@functools.cache
def shared_classifier() -> Classifier:
    """One classifier with the default analyser and the shipped calibration, built once per process."""
    from feedback_contracts.taxonomy import load_taxonomy

    from .morphology import default_analyzer

    return Classifier(load_taxonomy(), default_analyzer(), load_params())


@dataclass
class SectionScore:
    """A section a paragraph is routed to, with its score and reasons."""

    section_id: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


class Classifier:
    """Routes one paragraph to the sections it concerns, each with a score and its reasons."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        analyzer: Analyzer,
        params: Params | None = None,
        terms: dict[str, list[str]] | None = None,
        questionnaire: Questionnaire | None = None,
    ) -> None:
        """`terms`: section -> the words its owner listed for it (owners directory); `questionnaire`: the form's
        questions (default: the texts known here), whose texts lean answers towards what was asked."""
        self.params = params or Params()
        self.taxonomy = taxonomy
        self.model = StrategyModel(taxonomy, analyzer, partner_sections=tuple(PARTNER_SECTIONS.values()))
        self.curated_terms = {
            sid: tuple(dict.fromkeys(f for term in words for f in analyzer.features(term)[:1]))
            for sid, words in (terms or {}).items()
            if sid in taxonomy
        }
        questionnaire = questionnaire or load_questionnaire()
        self.question_priors = {
            q.number: self._question_prior(q.number, q.text) for q in questionnaire.questions if q.text
        }
        # Question texts the answers carry, for questions the questionnaire has none for: few distinct ones.
        self._carried_prior = functools.lru_cache(maxsize=1024)(self._question_prior)
        order = {section.id: index for index, section in enumerate(taxonomy.sections)}
        self._section_order = lambda sid: order.get(sid, len(order))
        # Sections by chapter, for the per-paragraph decisions (which run thousands of times in a calibration).
        self._priority = frozenset(s.id for s in taxonomy.sections if _chapter(s.id) == PRIORITY_CHAPTER)
        self._outside: dict[tuple[str, ...], frozenset[str]] = {}
        self._titles_routable: dict[tuple[float, float, tuple[str, ...]], frozenset[str]] = {}

    def _question_prior(self, question: int, text: str) -> QuestionPrior:
        """How close each section is to the question's own text. A question that names a chapter ("Miltä
        luvun 5 painopisteiden sisällöt näyttävät?") asks about that chapter only: its other words
        ("painopisteet") must not pull answers towards chapter 4's list of priorities.
        """
        vector = self.model.vector(self.model.lemmas(text))
        similarity = self.model.similarities(vector)
        chapters = [ref.section_id for ref in find_references(text) if ref.section_id in self.taxonomy]
        if chapters:
            similarity = {
                sid: v for sid, v in similarity.items() if any(sid == c or sid.startswith(c + ".") for c in chapters)
            }
        return QuestionPrior(question, dict(similarity), vector, surface_forms(text, self.model.analyzer))

    def classify(
        self,
        text: str,
        question: int | None = None,
        respondent_type: RespondentType | None = None,
        *,
        question_text: str | None = None,
        precedents: PrecedentIndex | None = None,
        exclude_response: str | None = None,
    ) -> list[SectionScore]:
        """Sections for one paragraph, strongest first.

        `question_text`: the question as the form showed it, used where the questionnaire has no text for it;
        `precedents`: paragraphs people routed before; `exclude_response`: the statement the paragraph belongs
        to, whose own paragraphs are not its precedents.
        """
        params = self.params
        signals = self.signals(
            text,
            question,
            respondent_type,
            params.sentence_weight > 0,
            question_text=question_text,
            precedents=precedents,
            exclude_response=exclude_response,
            deciding=params,
        )
        return self.decide(signals, params)

    def signals(
        self,
        text: str,
        question: int | None,
        respondent_type: RespondentType | None,
        sentences: bool = True,
        *,
        question_text: str | None = None,
        precedents: PrecedentIndex | None = None,
        exclude_response: str | None = None,
        deciding: Params | None = None,
    ) -> Signals:
        """Everything the text says, before any threshold is applied (so calibration can sweep thresholds).

        `sentences=False` skips the per-sentence similarity, which only counts when `sentence_weight` > 0.
        `deciding`: the parameters `decide` will apply (None, as calibration reads: everything). What they cannot
        use is not read: with `references_exclusive` a paragraph that names a section is read no further (it is
        routed by a precedent or by its references alone), and titles they could not route to are skipped.
        """
        model = self.model
        signals = Signals(respondent_type=respondent_type)
        for ref in find_references(text):
            if self._routable_reference(ref.section_id):
                reason = Reason(kind="reference", match=ref.match, span=ref.span)
                signals.references.append(Evidence(ref.section_id, reason))
        signals.references.extend(model.figure_references(text))
        # With no precedent to consult, a paragraph whose references decide needs no more reading (a third of the
        # paragraphs of a statement that cites the draft: a cost saved, not a result changed).
        consult = precedents is not None and len(precedents) > 0
        references_decide = deciding is not None and deciding.references_exclusive
        if references_decide and signals.references and not consult:
            return signals
        # Each word is analysed once (a lookup per word form): the paragraph's, its sentences' and the precedents'
        # words are read from it.
        analyse = model.analyse
        words = [(m.start(), m.end(), *analyse(m.group())) for m in WORD.finditer(text)]
        base_forms = [(f[0], s, e) for s, e, f, _ in words if f]
        if consult:
            assert precedents is not None
            # `precedent_similarity` is not calibrated by a sweep (see Params): the lookup asks for it directly.
            signals.precedent = precedents.closest_words(
                precedents.words(text)
                if precedents.analyzer is not model.analyzer
                else precedent_words(lemma for lemma, _, _ in base_forms),
                exclude_response=exclude_response,
                min_similarity=self.params.precedent_similarity,
            )
        if references_decide and signals.references:
            return signals
        # Each feature's first word; read backwards, the first word's span is the one that stays. The words as
        # written are made only for the few features a reason shows.
        first = {feature: (s, e) for s, e, features, _ in reversed(words) for feature in features}
        signals.surfaces = SurfaceForms(text, first)
        named = model.heads_named(base_forms)
        titled = model.sections_of_heads(named)
        if deciding is not None:
            titled &= self._routable_titles(deciding)
        for sid in sorted(titled, key=self._section_order):
            at = named[model.title_heads[sid]]
            title_span = model.title_span(sid, base_forms, at)
            if title_span is not None:
                span, coverage = title_span
                reason = Reason(kind="title", match=text[span[0] : span[1]], span=span)
                listed = model.listed_with_other_partner(sid, base_forms, text, at)
                signals.titles.append(TitleSignal(sid, model.head_idf[sid], coverage, listed, reason))
        signals.acronyms.extend(model.acronyms_named(text))
        for sid, curated in self.curated_terms.items():
            matched = tuple(dict.fromkeys(signals.surfaces[t] for t in curated if t in first))
            if matched:
                signals.curated_terms.append(Evidence(sid, Reason(kind="terms", terms=matched)))
        content = [(start, found) for start, _, _, found in words]
        signals.vector = model.vector([f for _, found in content for f in found])
        # A paragraph about two things resembles each section less than its sentences do.
        lemmas_by_sentence = [lemmas for lemmas in _by_sentence(text, content) if lemmas] if sentences else []
        if len(lemmas_by_sentence) == 1:
            # One sentence: its words, in order, are the paragraph's, and so are its vector and similarities.
            signals.similarity = model.similarities(signals.vector)
            if len(signals.vector) >= _MIN_SENTENCE_TERMS:
                signals.sentence_similarity = dict(signals.similarity)
        else:
            parts = [model.vector(lemmas) for lemmas in lemmas_by_sentence]
            signals.similarity, signals.sentence_similarity = model.similarities_with_parts(
                signals.vector, [vector for vector in parts if len(vector) >= _MIN_SENTENCE_TERMS]
            )
        if question is not None:
            signals.question_prior = self.question_priors.get(question)
            if signals.question_prior is None and question_text and question_text.strip():
                signals.question_prior = self._carried_prior(question, question_text)
        return signals

    def decide(self, signals: Signals, params: Params) -> list[SectionScore]:
        """Apply thresholds and weights to the signals of one paragraph."""
        if followed := self._follow_precedent(signals.precedent, params):
            return followed
        routed: dict[str, SectionScore] = {}

        def add(sid: str, score: float, reason: Reason) -> None:
            entry = routed.setdefault(sid, SectionScore(sid, 0.0))
            entry.score = max(entry.score, score)
            entry.reasons.append(reason)

        for evidence in signals.references:
            add(evidence.section_id, REFERENCE_SCORE, evidence.reason)
        if routed and params.references_exclusive:
            return _strongest_first(routed)
        outside = self._outside_chapters(params.excluded_chapters)
        for title in signals.titles:
            if title.head_idf >= params.title_min_idf and title.coverage >= params.title_coverage - _COVERAGE_TOLERANCE:
                add(title.section_id, TITLE_SCORE, title.reason)
            elif (
                title.head_idf >= params.title_head_idf
                and title.section_id in outside
                and not title.listed_with_other_partner
            ):
                # "kuntien ja työllisyysalueiden kanssa" lists who takes part: the title word of 5.3.1.6
                # there does not make the paragraph about employment areas.
                add(title.section_id, TITLE_HEAD_SCORE, title.reason)
        for evidence in signals.acronyms:
            # An acronym of the whole title names it as fully as the title itself.
            if evidence.section_id in outside:
                add(evidence.section_id, TITLE_SCORE, evidence.reason)
        for evidence in signals.curated_terms:
            add(evidence.section_id, TERMS_SCORE, evidence.reason)

        closeness = self._closeness(signals, params)
        # Outside the priorities a section needs `background_factor` times the closeness to be chosen; the
        # score shown stays its own closeness.
        priority, factor = self._priority, params.background_factor
        effective = {sid: value if sid in priority else value / factor for sid, value in closeness.items()}
        # Only the strongest `max_similar` can be chosen (and the first is the top the others are measured by).
        ranked = _strongest(effective, max(1, params.max_similar))
        top = ranked[0][1] if ranked else 0.0
        for rank, (sid, value) in enumerate(ranked):
            if (
                rank >= params.max_similar
                or value < params.similarity_threshold
                or value < params.relative_threshold * top
            ):
                break
            score = round(closeness[sid], SCORE_DECIMALS)
            terms = self._shared_terms(signals.vector, sid, signals.surfaces)
            add(sid, score, Reason(kind="similarity", score=score, terms=terms))
            if params.question_weight and (asked := self._question_reason(signals.question_prior, sid)):
                add(sid, score, asked)

        partner = PARTNER_SECTIONS.get(signals.respondent_type) if signals.respondent_type else None
        if partner and partner in self.taxonomy and partner not in routed:
            partner_closeness = closeness.get(partner, 0.0)
            close = (
                partner_closeness >= params.partner_threshold
                and partner_closeness * (1 + params.partner_boost) >= params.relative_threshold * top
            )
            if params.partner_mode == "always" or (params.partner_mode == "fallback" and (not routed or close)):
                add(partner, PARTNER_SCORE, Reason(kind="respondent_type", score=PARTNER_SCORE))
        return _strongest_first(routed)

    def _follow_precedent(self, match: PrecedentMatch | None, params: Params) -> list[SectionScore]:
        """The precedent's sections, when the paragraph is close enough to it; else nothing. A precedent with no
        section of the strategy (a labelled paragraph with no `must`) decides nothing: the paragraph is routed
        on its own signals."""
        if match is None or match.similarity < params.precedent_similarity - _COVERAGE_TOLERANCE:
            return []
        similarity = round(match.similarity, SCORE_DECIMALS)
        precedent = match.precedent
        source = PrecedentSource(
            source=precedent.source,
            response_id=precedent.response_id,
            paragraph_id=precedent.paragraph_id,
            similarity=similarity,
        )
        reason = Reason(kind="precedent", score=similarity, precedent=source)
        sections = dict.fromkeys(sid for sid in precedent.sections if sid in self.taxonomy)
        return [SectionScore(sid, similarity, [reason]) for sid in sections]

    def _closeness(self, signals: Signals, params: Params) -> dict[str, float]:
        """How close the paragraph is to each section outside the excluded chapters: its own similarity or its
        closest sentence's (weighted), leaned by `question_weight` towards what the question asked.
        """
        if len(signals.vector) < params.min_similarity_terms:
            return {}  # too few words to tell what the paragraph is about
        outside = self._outside_chapters(params.excluded_chapters)
        ws, sentence, similarity = params.sentence_weight, signals.sentence_similarity, signals.similarity
        prior = signals.question_prior.similarity if signals.question_prior else {}
        w = params.question_weight if prior else 0.0
        if not w:
            return {sid: max(v, ws * sentence.get(sid, 0.0)) for sid, v in similarity.items() if sid in outside}
        # Leaned towards the question, in one pass (the same arithmetic as the paragraph's closeness first, then
        # (1 - w) of it plus w of the question's).
        keep = 1 - w
        closeness: dict[str, float] = {}
        for sid in similarity.keys() | prior.keys():
            if sid in outside:
                v = similarity.get(sid)
                own = max(v, ws * sentence.get(sid, 0.0)) if v is not None else 0.0
                closeness[sid] = keep * own + w * prior.get(sid, 0.0)
        return closeness

    def _routable_titles(self, params: Params) -> frozenset[str]:
        """The sections `decide` can route to by their title under `params` (the others' titles need not be read:
        with the shipped calibration, two thirds of the titles a statement names)."""
        key = (params.title_min_idf, params.title_head_idf, params.excluded_chapters)
        if (found := self._titles_routable.get(key)) is None:
            outside = self._outside_chapters(params.excluded_chapters)
            found = frozenset(
                sid
                for sid, head_idf in self.model.head_idf.items()
                if head_idf >= params.title_min_idf or (head_idf >= params.title_head_idf and sid in outside)
            )
            self._titles_routable[key] = found
        return found

    def _outside_chapters(self, excluded: tuple[str, ...]) -> frozenset[str]:
        """The sections outside the `excluded` chapters."""
        if (found := self._outside.get(excluded)) is None:
            found = frozenset(s.id for s in self.taxonomy.sections if _chapter(s.id) not in excluded)
            self._outside[excluded] = found
        return found

    def _question_reason(self, prior: QuestionPrior | None, section_id: str) -> Reason | None:
        """Why the question leaned the paragraph towards the section, when it did: the question's text
        resembles the section's (its similarity and the words they share). Which question it is, is the
        paragraph's own `question`.
        """
        similarity = prior.similarity.get(section_id, 0.0) if prior else 0.0
        if not prior or similarity <= 0.0:
            return None
        # The same for every answer to the question: made once per question and section.
        if (reason := prior.reasons.get(section_id)) is None:
            terms = self._shared_terms(prior.vector, section_id, prior.surfaces)
            reason = prior.reasons[section_id] = Reason(
                kind="question", score=round(similarity, SCORE_DECIMALS), terms=terms
            )
        return reason

    def _routable_reference(self, section_id: str) -> bool:
        # "Luvun 5 neljä painopistettä" names the whole strategy part, not a section anyone owns.
        if self.taxonomy.get(section_id) is None:
            return False
        return "." in section_id or not self.taxonomy.children(section_id)

    def _shared_terms(self, vector: dict[str, float], section_id: str, surfaces: Mapping[str, str]) -> tuple[str, ...]:
        """The words of the text (as written, whole) that weigh most in the section's own text: several base
        forms and compound parts of one word ("kunta", "yhteistyö") show as that word, once."""
        shown: dict[str, None] = {}
        for term in self.model.shared_terms(vector, section_id, len(vector)):
            shown.setdefault(surfaces.get(term, term), None)
            if len(shown) == _REASON_TERMS:
                break
        return tuple(shown)


def _chapter(section_id: str) -> str:
    return section_id.split(".")[0]


def _by_sentence(text: str, content: list[tuple[int, tuple[str, ...]]]) -> list[list[str]]:
    """The content words of each sentence of `text`, from its words' (start, content words) in order: a word
    belongs to the sentence after the last break before it."""
    breaks = [match.start(1) if match.group(1) else match.start() for match in _SENTENCE_BREAK.finditer(text)]
    # Where each sentence's words begin: the first word at or after each break (a search, not a walk).
    starts = [start for start, _ in content]
    bounds = [0, *(bisect_left(starts, at) for at in breaks), len(content)]
    return [[f for _, found in content[a:b] for f in found] for a, b in itertools.pairwise(bounds)]


def _strongest(values: dict[str, float], count: int) -> list[tuple[str, float]]:
    """The `count` highest values, highest first, ties by section id."""
    if count == 1 and values:
        # The calibrated case: one pass for the top value and one for the first section that has it.
        top = max(values.values())
        return [(min(sid for sid, value in values.items() if value == top), top)]
    return heapq.nsmallest(count, values.items(), key=lambda item: (-item[1], item[0]))


def _strongest_first(routed: dict[str, SectionScore]) -> list[SectionScore]:
    return sorted(routed.values(), key=lambda s: -s.score)
