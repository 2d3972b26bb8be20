"""What each section of the draft strategy is about, from the draft's own text: TF-IDF vectors of Finnish
base forms, the words that name each title, the acronyms the draft writes, its figures and its partners.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from operator import itemgetter, mul

import numpy as np

from feedback_contracts.events import Reason
from feedback_contracts.taxonomy import Taxonomy

from .morphology import STOP_LEMMAS, Analyzer, tokens
from .signals import BaseForm, Evidence

# A section with less text of its own than this (a heading and a line or two) cannot be recognised by what it
# says; its title and explicit references still route to it.
MIN_BODY_CHARS = 200
# Two-letter base forms ("ns", "mm", "ym") are abbreviations and particles, not topics.
MIN_LEMMA_CHARS = 3
# A title word this long is also looked for inside compounds ("vastuutyöntekijä" in "vastuutyöntekijämallin");
# a shorter one ("työ", "tuki") stands inside too many words that mean something else.
COMPOUND_HEAD_MIN_CHARS = 6
# A paragraph that names a title loosely puts a word or two of its own between the title's words.
TITLE_SLACK_WORDS = 2
# A partner word shorter than this, once an ending several titles share ("yhteistyö") is cut off, is too
# short to name one kind of partner.
MIN_ACTOR_CHARS = 4
# Acronyms spell a title's leading words; four is more than the draft's ("HYTE" takes two) and bounds the
# 2**n spellings tried per title.
ACRONYM_MAX_WORDS = 4

# Between two coordinated words: "kuntien ja työllisyysalueiden", "kuntia, järjestöjä".
_COORDINATION = re.compile(r"\s*(?:,|\bja\b|\bsekä\b|\btai\b|\bettä\b)\s*")
# An acronym standing on its own or before a hyphen: "HYTE", "HYTE-rahoitus".
_ACRONYM = re.compile(r"(?<![\w-])[A-ZÅÄÖ]{3,6}(?![\w])")
# 1 + log(count) of a word's count in a text, for the counts most words have.
_TF = [0.0, *(1.0 + math.log(count) for count in range(1, 32))]
_FIGURE = re.compile(r"\b[Kk]uvio(?:n|ssa|sta|lla|ta)?\s+(\d{1,2})\b")


class StrategyModel:
    """What each section is about, built from the draft strategy's own text."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        analyzer: Analyzer,
        excluded_chapters: tuple[str, ...] = (),
        min_body_chars: int = MIN_BODY_CHARS,
        partner_sections: tuple[str, ...] = (),
    ) -> None:
        self.taxonomy = taxonomy
        self.analyzer = analyzer
        routable = [s for s in taxonomy.sections if not (s.depth == 1 and taxonomy.children(s.id))]
        self.candidates = [s.id for s in routable if s.id.split(".")[0] not in excluded_chapters]
        self.similar_candidates = [sid for sid in self.candidates if len(taxonomy.get(sid).body) >= min_body_chars]  # type: ignore[union-attr]
        documents = {sid: self.lemmas(_document(taxonomy, sid)) for sid in self.similar_candidates}
        df: Counter[str] = Counter()
        for lemmas in documents.values():
            df.update(set(lemmas))
        n = len(documents)
        # Smoothed idf (as scikit-learn's): a word in every section still weighs 1, an unseen one the most.
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
        # The same weights as a dense matrix (a row per term, a column per section), so that a text's similarity
        # to every section is one product in numpy instead of a Python loop over postings: the routing's
        # largest cost per paragraph. About 2,600 terms by 51 sections: 1 MB.
        self._columns = list(documents)
        self._rows = {term: row for row, term in enumerate(self.index)}
        column = {sid: index for index, sid in enumerate(self._columns)}
        # One more row of zeros: what shorter vectors are padded with when several are scored at once.
        self._pad_row = len(self._rows)
        self._matrix = np.zeros((len(self._rows) + 1, len(self._columns)))
        for term, postings in self.index.items():
            for sid, weight in postings:
                self._matrix[self._rows[term], column[sid]] = weight
        self.title_terms = {sid: self._title_terms(taxonomy.get(sid).title) for sid in self.candidates}  # type: ignore[union-attr]
        # Each title's rarest word: a title is only looked for where its rarest word stands.
        self.title_heads = {
            sid: max(title, key=lambda t: self.idf.get(t, 0.0)) for sid, title in self.title_terms.items() if title
        }
        self.head_idf = {
            sid: max(self.idf.get(t, 0.0) for t in title) for sid, title in self.title_terms.items() if title
        }
        self._heads_by_word = {
            head: [sid for sid, h in self.title_heads.items() if h == head] for head in self.title_heads.values()
        }
        self._long_heads = [head for head in self._heads_by_word if len(head) >= COMPOUND_HEAD_MIN_CHARS]
        self._heads_in = functools.lru_cache(maxsize=100_000)(self._heads_in_uncached)
        # Word form -> (its features, those of them that are content words): a cache of word analyses, like the
        # analyser's own (statements share most word forms), so a paragraph's words cost a lookup each.
        self.analyse = functools.lru_cache(maxsize=100_000)(self._analyse_uncached)
        self.figures = _figure_sections(taxonomy)
        self.actors = self._partner_actors(taxonomy, partner_sections)
        self.title_acronyms = self._title_acronyms()

    def is_content(self, feature: str) -> bool:
        """Whether a base form can say what a text is about."""
        return feature not in STOP_LEMMAS and len(feature) >= MIN_LEMMA_CHARS

    def lemmas(self, text: str) -> list[str]:
        return [f for word, _, _ in tokens(text) for f in self.analyzer.features(word) if self.is_content(f)]

    def _analyse_uncached(self, word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        features = self.analyzer.features(word)
        return features, tuple(f for f in features if self.is_content(f))

    def vector(self, lemmas: Iterable[str]) -> dict[str, float]:
        counts = Counter(lemmas)
        idf, default = self.idf, self.default_idf
        # 1 + log(count), looked up for the usual small counts (the same floats).
        weights = {t: (_TF[c] if c < len(_TF) else 1.0 + math.log(c)) * idf.get(t, default) for t, c in counts.items()}
        values = weights.values()
        norm = math.sqrt(sum(map(mul, values, values))) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def similarities(self, vector: dict[str, float]) -> dict[str, float]:
        """Section -> cosine similarity of the vector to the section's text, for the sections it shares a word with."""
        scores = self._scores([vector])
        return {} if scores is None else self._positive(scores[0])

    def similarities_with_parts(
        self, vector: dict[str, float], parts: Sequence[dict[str, float]]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """`similarities` of a vector, and per section the highest similarity of any of `parts` (the vectors of
        the text's sentences), in one product."""
        scores = self._scores([vector, *parts])
        if scores is None:
            return {}, {}
        return self._positive(scores[0]), (self._positive(scores[1:].max(axis=0)) if parts else {})

    def _scores(self, vectors: Sequence[dict[str, float]]) -> np.ndarray | None:
        """Each vector's similarity to every section (a row per vector, a column per section), or None when no
        vector shares a word with any section.

        Each score is summed term by term in the vector's order, as a loop over the postings would: numpy adds
        the rows of a product along an outer axis one after another (`sum(axis=1)` here; not `reduceat`, which
        sums in another order), and a section without the term, or a padding row, adds an exact 0.0, so the
        scores are the same floats to the last bit (a test compares them with the loop's).
        """
        get = self._rows.get
        found = [[(row, w) for term, w in vector.items() if (row := get(term)) is not None] for vector in vectors]
        width = max(map(len, found), default=0)
        if not width:
            return None
        # One flat list of (row, weight) per vector, each padded to the same width with the row of zeros.
        padding = [(self._pad_row, 0.0)] * width
        flat = [pair for pairs in found for pair in (pairs + padding[len(pairs) :])]
        products = self._matrix.take([row for row, _ in flat], axis=0)
        products *= np.array([weight for _, weight in flat])[:, None]
        return products.reshape(len(vectors), width, -1).sum(axis=1)  # type: ignore[no-any-return]

    def _positive(self, scores: np.ndarray) -> dict[str, float]:
        # Every weight is positive: a section scores above 0 exactly when the text shares a word with it.
        columns = self._columns
        return {columns[i]: value for i, value in enumerate(scores.tolist()) if value > 0.0}

    def shared_terms(self, vector: dict[str, float], section_id: str, limit: int) -> tuple[str, ...]:
        """The words of `vector` that weigh most in the section's own text, strongest first."""
        own = self.section_terms.get(section_id, {})
        weights = [(t, w * own[t]) for t, w in vector.items() if t in own]
        # A stable sort, descending: equal weights keep the vector's order.
        return tuple(t for t, _ in sorted(weights, key=itemgetter(1), reverse=True)[:limit])

    def figure_references(self, text: str) -> list[Evidence]:
        """References by figure number: "kuvio 7" means the section whose text shows figure 7."""
        found: list[Evidence] = []
        if "uvio" not in text:
            return found  # no form of "kuvio": most paragraphs, told without running the pattern
        for match in _FIGURE.finditer(text):
            sid = self.figures.get(match.group(1))
            if sid:
                reason = Reason(kind="reference", match=match.group(0), span=(match.start(), match.end()))
                found.append(Evidence(sid, reason))
        return found

    def acronyms_named(self, text: str) -> list[Evidence]:
        """Sections whose title's acronym the text writes ("HYTE-rahoitus")."""
        return [
            Evidence(sid, Reason(kind="title", match=match.group(0), span=(match.start(), match.end())))
            for match in _ACRONYM.finditer(text)
            for sid in self.title_acronyms.get(match.group(0), ())
        ]

    def _names_head(self, lemma: str, head: str) -> bool:
        return lemma == head or (len(head) >= COMPOUND_HEAD_MIN_CHARS and head in lemma)

    def _heads_in_uncached(self, lemma: str) -> tuple[str, ...]:
        """The title heads a base form names: itself, or a long head inside a compound."""
        found = [head for head in self._long_heads if head in lemma and head != lemma]
        if lemma in self._heads_by_word:
            found.append(lemma)
        return tuple(found)

    def titles_named(self, base_forms: list[BaseForm]) -> set[str]:
        """Sections whose title's rarest word occurs among these base forms."""
        sections: set[str] = set()
        for lemma in {lemma for lemma, _, _ in base_forms}:
            for head in self._heads_in(lemma):
                sections.update(self._heads_by_word[head])
        return sections

    def heads_named(self, base_forms: list[BaseForm]) -> dict[str, list[int]]:
        """Title head -> where among these base forms it is named (itself, or inside a compound): read once per
        text, so that `title_span` and `listed_with_other_partner` look only there."""
        named: dict[str, list[int]] = {}
        heads_in = self._heads_in
        for index, (lemma, _, _) in enumerate(base_forms):
            for head in heads_in(lemma):
                named.setdefault(head, []).append(index)
        return named

    def sections_of_heads(self, heads: Iterable[str]) -> set[str]:
        """The sections whose title's rarest word is one of `heads` (as `titles_named` finds them)."""
        return {sid for head in heads for sid in self._heads_by_word[head]}

    def title_span(
        self, section_id: str, base_forms: list[BaseForm], named: Sequence[int] | None = None
    ) -> tuple[tuple[int, int], float] | None:
        """Where the text names the section's title and how much of it (0-1): its words close together, in
        any inflection, always including the title's rarest word (which may also stand inside a compound:
        "vastuutyöntekijämallin" names "Vastuutyöntekijä asiakkaan tukena").

        `named`: where the base forms name the title's rarest word (`heads_named`), when the caller has it.
        """
        title, head = self.title_terms[section_id], self.title_heads[section_id]
        window = len(title) + TITLE_SLACK_WORDS
        best: tuple[tuple[int, int], float] | None = None
        if named is None:
            named = [index for index, (lemma, _, _) in enumerate(base_forms) if self._names_head(lemma, head)]
        for start in named:
            spans: dict[str, tuple[int, int]] = {}
            for other, s, e in base_forms[max(0, start - window + 1) : start + window]:
                for term in title:
                    if term not in spans and (other == term or (term == head and self._names_head(other, term))):
                        spans[term] = (s, e)
            coverage = len(spans) / len(title)
            if best is None or coverage > best[1]:
                best = ((min(s for s, _ in spans.values()), max(e for _, e in spans.values())), coverage)
        return best

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
            for count, word in enumerate(words[:ACRONYM_MAX_WORDS], start=1):
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
            end = next((e for e in shared_ends if word.endswith(e) and len(word) - len(e) >= MIN_ACTOR_CHARS), None)
            owners[word[: -len(end)] if end else word].update(sids)
        return {
            word: next(iter(sids)) for word, sids in owners.items() if len(sids) == 1 and len(word) >= MIN_ACTOR_CHARS
        }

    def listed_with_other_partner(
        self, section_id: str, base_forms: list[BaseForm], text: str, named: Sequence[int] | None = None
    ) -> bool:
        """Whether every mention of this partner section's title word stands in a list with another kind of
        partner ("kuntien ja työllisyysalueiden kanssa"): such a list names who takes part, not the topic.

        `named`: where the base forms name the title's rarest word (`heads_named`), when the caller has it.
        """
        head = self.title_heads.get(section_id)
        if head is None or self.actors.get(head) != section_id:
            return False
        if named is None:
            named = [index for index, (lemma, _, _) in enumerate(base_forms) if self._names_head(lemma, head)]
        mentions = 0
        for index in named:
            _, start, end = base_forms[index]
            mentions += 1
            listed = False
            for other in (index - 1, index + 1):
                if not 0 <= other < len(base_forms):
                    continue
                _, other_start, other_end = base_forms[other]
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
            if features and len(features[0]) >= MIN_LEMMA_CHARS:
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
