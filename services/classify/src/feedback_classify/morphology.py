"""Finnish morphology for routing: words to base forms and compound parts.

"mielenterveyspalveluiden" must meet "mielenterveyspalvelut" and "palvelu"; "kriisinkestävyyttä" must
meet "kriisinkestävyys". Voikko (Debian's libvoikko1 + voikko-fi) analyses inflection and compounds;
where it is not installed, a lemmatiser PyPI ships (simplemma) stands in, and the classifier says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Protocol

log = logging.getLogger("feedback.classify.morphology")

WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+(?:-[A-Za-zÀ-ÖØ-öø-ÿ]+)*")

# Word classes that carry no topic: conjunctions, adpositions, pronouns, negation, adverbs, numerals.
_FUNCTION_CLASSES = {"sidesana", "suhdesana", "asemosana", "kieltosana", "seikkasana", "lukusana", "huudahdussana"}
# Base forms too common in statements to tell sections apart.
STOP_LEMMAS = frozenset(
    [
        "olla",
        "voida",
        "tulla",
        "pitää",
        "saada",
        "tehdä",
        "ei",
        "se",
        "ne",
        "tämä",
        "nämä",
        "joka",
        "mikä",
        "kuka",
        "osa",
        "myös",
        "sekä",
        "ja",
        "tai",
        "että",
        "kuin",
        "mutta",
        "koska",
        "kun",
        "jos",
        "niin",
        "vain",
        "jo",
        "vielä",
        "esim.",
        "esimerkiksi",
        "mm.",
        "ym.",
        "yms.",
        "jne.",
        "eli",
        "kuten",
        "siten",
        "luku",
        "kysymys",
        "strategia",
        "palvelustrategia",
        "strategialuonnos",
        "luonnos",
        "oma",
        "häme",
        "hämeen",
        "kanta-häme",
        "hyvinvointialue",
        "alue",
        "näkökulma",
        "asia",
        "tärkeä",
        "hyvä",
        "keskeinen",
        "erityisesti",
        "lisäksi",
    ]
)


class Analyzer(Protocol):
    """Turns one word into the features that represent it: base forms, then compound parts."""

    name: str

    def features(self, word: str) -> tuple[str, ...]: ...


class VoikkoAnalyzer:
    """Voikko: full inflection and compound analysis, cached per word form."""

    name = "voikko"

    def __init__(self, cache_size: int = 200_000) -> None:
        import libvoikko  # Debian: libvoikko1 + voikko-fi; PyPI: libvoikko (the ctypes binding)

        self._voikko = libvoikko.Voikko("fi")
        self._unknown = _suffix_stripper()
        self.features = lru_cache(maxsize=cache_size)(self._features)  # type: ignore[method-assign]

    def _features(self, word: str) -> tuple[str, ...]:
        analyses = self._voikko.analyze(word)
        if not analyses and "-" in word:
            return tuple(f for part in word.split("-") if part for f in self.features(part))
        if not analyses:
            # A name or coinage Voikko does not know ("TyöHämeen", "EHTA:n"): its case ending still has to
            # go, or "TyöHämeen" in a statement never meets "TyöHäme" in the draft.
            return (self._unknown(word.lower()),)
        # Of several readings prefer the one with the fewest compound parts ("moni+kanava", not "moni+kana+vaisu").
        readings = [(_compound_parts(a.get("WORDBASES", "")), a) for a in analyses]
        # On a tie prefer the reading whose base form is the word itself: "strategia" is a strategy, not
        # the partitive of "strategi".
        parts, best = min(readings, key=lambda r: (len(r[0]), r[1].get("BASEFORM", "").lower() != word.lower()))
        if best.get("CLASS") in _FUNCTION_CLASSES:
            return ()
        base = best.get("BASEFORM", word).lower()
        if len(parts) > 1:
            return (base, *[p for p in parts if p != base])
        return (base,)


def _suffix_stripper() -> Callable[[str], str]:
    """Snowball's Finnish stemmer for words outside Voikko's dictionary; the word itself without PyStemmer."""
    try:
        import Stemmer
    except ImportError:
        return lambda word: word
    return Stemmer.Stemmer("finnish").stemWord


def _compound_parts(wordbases: str) -> list[str]:
    """'+mielen(mieli)+terve(terve)+ys(+ys)+palvel(palvella)+u(+u)' -> ['mieli', 'terveys', 'palvelu']."""
    parts: list[list[str]] = []  # [lemma, surface-with-derivations]
    for surface, lemma in re.findall(r"\+([^+(]*)(?:\(([^)]*)\))?", wordbases):
        if not surface or surface == "-":
            continue
        # A derivational suffix ("+ys"), or a linking bit with no lemma ("+n"), belongs to the part before it.
        if parts and (lemma.startswith("+") or (not lemma and len(surface) <= 2)):
            parts[-1][1] += surface
            parts[-1][0] = ""  # derived: the surface with its suffixes is the better base
            continue
        parts.append([lemma.replace("=", "") if lemma else surface, surface])
    return [(lemma or surface).lower() for lemma, surface in parts if len(lemma or surface) > 2]


class SimplemmaAnalyzer:
    """simplemma's Finnish dictionary: base forms of known words, no compound analysis."""

    name = "simplemma"

    def __init__(self, cache_size: int = 200_000) -> None:
        import simplemma

        self._lemmatize = simplemma.lemmatize
        self.features = lru_cache(maxsize=cache_size)(self._features)  # type: ignore[method-assign]

    def _features(self, word: str) -> tuple[str, ...]:
        return (self._lemmatize(word, lang="fi").lower(),)


class SnowballAnalyzer:
    """The Snowball Finnish stemmer: strips endings, no dictionary."""

    name = "snowball"

    def __init__(self) -> None:
        import Stemmer

        stemmer = Stemmer.Stemmer("finnish")
        self.features = lru_cache(maxsize=200_000)(lambda word: (stemmer.stemWord(word.lower()),))  # type: ignore[method-assign]


ANALYZERS = {"voikko": VoikkoAnalyzer, "simplemma": SimplemmaAnalyzer, "snowball": SnowballAnalyzer}


def default_analyzer(preferred: str = "voikko") -> Analyzer:
    """The preferred analyser, or simplemma with a warning when it cannot be loaded here."""
    try:
        return ANALYZERS[preferred]()
    except (ImportError, OSError) as exc:
        log.warning(
            "Finnish analyser %r is unavailable (%s); falling back to simplemma, which routes less precisely "
            "(see README: classifier quality)",
            preferred,
            exc,
        )
        return SimplemmaAnalyzer()


def tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """Words of the text with their character spans."""
    for match in WORD.finditer(text):
        yield match.group(0), match.start(), match.end()


def surface_forms(text: str, analyzer: Analyzer) -> dict[str, str]:
    """Each feature (base form or compound part) of the text -> the whole word it stands in, as written, at its
    first occurrence: what a reader recognises ("Kuntayhteistyötä", not "kunta" or "yhteis")."""
    found: dict[str, str] = {}
    for word, start, end in tokens(text):
        for feature in analyzer.features(word):
            if feature not in found:
                found[feature] = whole_word(text, start, end)
    return found


def whole_word(text: str, start: int, end: int) -> str:
    """The word as written around the span of a token: "30-vuotiaiden", not the "vuotiaiden" analysed."""
    while start > 0 and (
        text[start - 1].isalnum() or (text[start - 1] == "-" and start > 1 and text[start - 2].isalnum())
    ):
        start -= 1
    while end < len(text) and (
        text[end].isalnum() or (text[end] == "-" and end + 1 < len(text) and text[end + 1].isalnum())
    ):
        end += 1
    return text[start:end]


class SurfaceForms(Mapping[str, str]):
    """Feature -> the whole word it first stands in, as written (see `whole_word`), made only when asked for: a
    paragraph has dozens of features and its reasons show a few."""

    __slots__ = ("_spans", "_text")

    def __init__(self, text: str, spans: dict[str, tuple[int, int]]) -> None:
        """`spans`: feature -> the span of the token it was first found in."""
        self._text = text
        self._spans = spans

    def __getitem__(self, feature: str) -> str:
        start, end = self._spans[feature]
        return whole_word(self._text, start, end)

    def __contains__(self, feature: object) -> bool:
        return feature in self._spans

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)
