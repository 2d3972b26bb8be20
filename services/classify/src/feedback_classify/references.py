"""Explicit references to strategy sections in Finnish text: "luvussa 5.2.2", "(luku 5.3.1.3)",
"luvuissa 5.1.5 Asiakasmaksujen määrittely sekä 5.2.1 ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every case form of "luku" (chapter): luku, luvun, luvussa, luvusta, luvuksi, luvut, luvuissa, luvuista, ...
_CHAPTER_WORD = r"\b(?:[Ll]uku|[Ll]uvu[a-zäö]*|[Ll]uvun|[Ll]uvut)"
# A section id, not followed by another digit; "4. sektori" (an ordinal: a full stop, then a word) is not one.
_SECTION_ID = r"\d{1,2}(?:\.\d{1,2}){0,4}(?![\d])(?!\.\s+[a-zäöå])"
# Room for the first section's title between two ids of one reference ("luvuissa 5.1.5 Asiakasmaksujen
# määrittely sekä 5.2.1"), bounded so that ids far apart in a long sentence are not read as one reference.
# All of the draft's titles fit but 7.1's (92 characters) and 5.4.7's (98).
_MAX_TITLE_CHARS = 90
# Between two ids of one reference: the first section's title words, then a conjunction or a comma.
_JOINER = rf"(?:\s+[^\d.;:!?()\n]{{0,{_MAX_TITLE_CHARS}}}?)?(?:\s*,\s*|\s+(?:ja|sekä|tai|–|-)\s+)"
_REFERENCE = re.compile(rf"{_CHAPTER_WORD}\s+(?P<ids>{_SECTION_ID}(?:{_JOINER}{_SECTION_ID})*)")
_ID_IN_LIST = re.compile(_SECTION_ID)


@dataclass(frozen=True)
class Reference:
    """One section id named in the text, with the evidence it was read from."""

    section_id: str
    match: str
    span: tuple[int, int]


def find_references(text: str) -> list[Reference]:
    """Every section id the text refers to with a form of "luku", with the matched words and their span.

    Ids are returned as written; checking them against the taxonomy is the caller's business.
    """
    found: list[Reference] = []
    if "uku" not in text and "uvu" not in text:
        return found  # no form of "luku": most paragraphs, told without running the pattern
    for m in _REFERENCE.finditer(text):
        ids_start = m.start("ids")
        for id_match in _ID_IN_LIST.finditer(m.group("ids")):
            section_id = id_match.group(0).rstrip(".")
            if id_match.start() == 0:
                span = (m.start(), ids_start + id_match.end())
            else:
                span = (ids_start + id_match.start(), ids_start + id_match.end())
            found.append(Reference(section_id, text[span[0] : span[1]], span))
    return found
