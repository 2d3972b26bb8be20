"""Precedents: paragraphs a person has already routed (a correction, or a labelled paragraph of a file). A new
paragraph that closely resembles one is routed like it.

An index, not a scan (prefix filtering, as in Bayardo et al., "Scaling up all pairs similarity search", 2007).
Two paragraphs are compared on their sets of content words (base forms), by binary cosine o / sqrt(|A|·|B|),
where o is how many words they share. Similarity t or more needs o >= t·sqrt(|A|·|B|) >= t²·|A|, and a
precedent of a size between t²·|A| and |A| / t²: a precedent that close holds at least one of any
|A| - ceil(t²·|A|) + 1 words of the paragraph, and at least o - (|A| - k) of any k of them. So a lookup reads
the postings of only the paragraph's rarest words (one more than that least number, so that a candidate has
to hold two of them: one rare word shared by chance does not make one), and of each posting list only the
precedents of a size that could be that close (postings are kept in order of size); it counts how many of
those words each precedent found there holds, and compares exactly only the few that hold enough of them.
No precedent above the threshold is missed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from feedback_contracts.respondents import RespondentType

from .morphology import STOP_LEMMAS, Analyzer, tokens

# The lowest similarity a lookup can ask for: a lower one would read most postings for little
# (`Params.precedent_similarity` chooses the threshold itself, at or above this).
MIN_PRECEDENT_SIMILARITY = 0.7
# Two-letter base forms ("ns", "mm") are abbreviations and particles, not content (as in the strategy model).
_MIN_WORD_CHARS = 3
# Float slack for ceil(t²·n) when t²·n is a whole number.
_EPSILON = 1e-9
# Words counted past the least number a close precedent must hold one of: with one more, a candidate has to
# hold two of the counted words, which leaves few to compare exactly (more words read longer postings for less).
_EXTRA_COUNTED_WORDS = 1

Source = Literal["correction", "labels"]


def precedent_words(base_forms: Iterable[str]) -> frozenset[str]:
    """The content words among a text's base forms (one per word, in order)."""
    return frozenset(base for base in base_forms if base not in STOP_LEMMAS and len(base) >= _MIN_WORD_CHARS)


@dataclass(frozen=True)
class Precedent:
    """A paragraph a person routed: its text, where it stood, and the sections it belongs to."""

    text: str
    question: int | None
    respondent_type: RespondentType | None
    sections: tuple[str, ...]
    source: Source
    # The earlier statement: its response id (corrections) or the labels file's document name.
    response_id: str | None
    paragraph_id: str | None


@dataclass(frozen=True)
class PrecedentMatch:
    """The precedent most like a paragraph, and how alike they are (binary cosine of their content words)."""

    precedent: Precedent
    similarity: float


@dataclass(frozen=True)
class _Entry:
    precedent: Precedent
    words: frozenset[str]


@dataclass
class _Postings:
    """The precedents holding one word, in order of their size (number of content words), so that a lookup
    reads only those of a size that could be close enough."""

    sizes: list[int]
    slots: list[int]

    def add(self, size: int, slot: int) -> None:
        at = bisect_right(self.sizes, size)
        self.sizes.insert(at, size)
        self.slots.insert(at, slot)

    def append(self, size: int, slot: int) -> None:
        """Add out of order (loading many at once); `order` puts them in order again."""
        self.sizes.append(size)
        self.slots.append(slot)

    def order(self) -> None:
        pairs = sorted(zip(self.sizes, self.slots, strict=True))
        self.sizes = [size for size, _ in pairs]
        self.slots = [slot for _, slot in pairs]

    def remove(self, size: int, slot: int) -> None:
        at = self.slots.index(slot, bisect_left(self.sizes, size), bisect_right(self.sizes, size))
        del self.sizes[at], self.slots[at]

    def sized(self, smallest: int, largest: int) -> list[int]:
        """The slots of the precedents of `smallest` to `largest` words."""
        return self.slots[bisect_left(self.sizes, smallest) : bisect_right(self.sizes, largest)]


class PrecedentIndex:
    """Precedents by their content words. One instance lives for the whole service: it outlives the router
    rebuilt when the owners directory changes, so corrections learnt live are kept.

    A precedent with the same (source, response id, paragraph id) as an earlier one replaces it: the latest
    correction of a paragraph is what it finally belongs to.
    """

    def __init__(self, analyzer: Analyzer | None = None) -> None:
        """`analyzer` gives base forms; without one, words are compared as written (lower-cased)."""
        self.analyzer = analyzer
        self._entries: list[_Entry | None] = []
        self._sizes: list[int] = []
        self._postings: dict[str, _Postings] = defaultdict(lambda: _Postings([], []))
        self._frequency: Counter[str] = Counter()
        self._by_key: dict[tuple[str, str, str], int] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Precedent]:
        return (entry.precedent for entry in self._entries if entry is not None)

    def words(self, text: str) -> frozenset[str]:
        """The content words of a text, as base forms: what two paragraphs are compared on."""
        if self.analyzer is None:
            return precedent_words(word.lower() for word, _, _ in tokens(text))
        features = (self.analyzer.features(word) for word, _, _ in tokens(text))
        return precedent_words(found[0] for found in features if found)

    def add(self, precedent: Precedent) -> None:
        """Learn a precedent (replacing an earlier one of the same paragraph)."""
        self._learn(precedent, ordered=True)

    def extend(self, precedents: Iterable[Precedent]) -> None:
        """Learn many precedents, as `add` does each: their postings are put in order once, at the end."""
        unordered: set[str] = set()
        for precedent in precedents:
            if self._key(precedent) in self._by_key:
                self._order(unordered)  # replacing one removes it from postings, which must be in order
            unordered.update(self._learn(precedent, ordered=False))
        self._order(unordered)

    def _learn(self, precedent: Precedent, *, ordered: bool) -> frozenset[str]:
        key = self._key(precedent)
        if key is not None and key in self._by_key:
            self._forget(self._by_key.pop(key))
        words = self.words(precedent.text)
        slot = len(self._entries)
        self._entries.append(_Entry(precedent, words))
        self._sizes.append(len(words))
        self._count += 1
        if key is not None:
            self._by_key[key] = slot
        self._frequency.update(words)
        for word in words:
            if ordered:
                self._postings[word].add(len(words), slot)
            else:
                self._postings[word].append(len(words), slot)
        return words

    def _order(self, words: set[str]) -> None:
        for word in words:
            if word in self._postings:
                self._postings[word].order()
        words.clear()

    @staticmethod
    def _key(precedent: Precedent) -> tuple[str, str, str] | None:
        if precedent.response_id is None or precedent.paragraph_id is None:
            return None
        return (precedent.source, precedent.response_id, precedent.paragraph_id)

    def closest(
        self, text: str, *, exclude_response: str | None = None, min_similarity: float = MIN_PRECEDENT_SIMILARITY
    ) -> PrecedentMatch | None:
        """The precedent most like `text` with similarity `min_similarity` or more (never below
        MIN_PRECEDENT_SIMILARITY), or None. Exact: no precedent above the threshold is missed.

        `exclude_response`: precedents of that statement do not count (a statement is not its own precedent:
        its corrections are applied as corrections, and a held-out statement must not learn from itself).
        Ties go to the precedent learnt last.
        """
        return self.closest_words(self.words(text), exclude_response=exclude_response, min_similarity=min_similarity)

    def closest_words(
        self,
        words: frozenset[str],
        *,
        exclude_response: str | None = None,
        min_similarity: float = MIN_PRECEDENT_SIMILARITY,
    ) -> PrecedentMatch | None:
        """`closest` for a text whose content words (`words(text)`) the caller has already."""
        if not self._count or not words:
            return None
        threshold = max(min_similarity, MIN_PRECEDENT_SIMILARITY)
        squared = threshold * threshold
        size = len(words)
        least = math.ceil(squared * size - _EPSILON)  # the fewest words a close precedent shares with it
        counted = min(size, size - least + 1 + _EXTRA_COUNTED_WORDS)
        # Words of the paragraph outside the counted ones: a close precedent holds at least `shared - outside`
        # of the counted ones.
        outside = size - counted
        smallest, largest_size = least, math.floor(size / squared + _EPSILON)
        # Which words are counted does not change what is found (any `counted` of them hold enough of a close
        # precedent's), only how much is read: the words no precedent holds first, then the rarest.
        postings = self._postings
        held_by_some = [word for word in words if word in postings]
        to_read = counted - (size - len(held_by_some))
        if to_read <= 0:
            return None  # no precedent holds enough of the paragraph's words
        rarest = sorted(held_by_some, key=self._frequency.__getitem__)[:to_read]
        held: Counter[int] = Counter()
        for word in rarest:
            held.update(postings[word].sized(smallest, largest_size))
        # A precedent of `other` words holding `count` of the counted ones can be close enough only if
        # t·sqrt(size·other) <= count + outside: the largest size each count allows (none for too few).
        fewest = max(1, least - outside)
        largest = [(count + outside) ** 2 / (squared * size) + _EPSILON for count in range(counted + 1)]
        sizes = self._sizes
        candidates = [s for s, count in held.items() if count >= fewest and sizes[s] <= largest[count]]
        best: PrecedentMatch | None = None
        for slot in sorted(candidates, reverse=True):
            entry = self._entries[slot]
            if entry is None:
                continue
            if exclude_response is not None and entry.precedent.response_id == exclude_response:
                continue
            similarity = len(words & entry.words) / math.sqrt(size * len(entry.words))
            if similarity >= threshold - _EPSILON and (best is None or similarity > best.similarity):
                best = PrecedentMatch(entry.precedent, min(similarity, 1.0))
        return best

    def _forget(self, slot: int) -> None:
        entry = self._entries[slot]
        if entry is None:
            return
        self._entries[slot] = None
        self._count -= 1
        for word in entry.words:
            postings = self._postings[word]
            postings.remove(len(entry.words), slot)
            if not postings.slots:
                del self._postings[word]
        self._frequency.subtract(entry.words)
