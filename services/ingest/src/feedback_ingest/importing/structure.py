"""Recognise the document's structure: its question headings, and the sections they divide it into.

Headings come in mixed depth and markup ("1. …", "### 3. …", "**Kysymys 3:** …"); the numbers they carry
may be the form's global numbers or local ones, which `numbering` sorts out later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .api import DocumentError
from .text import comparison_form, excerpt, paragraph_blocks, strip_markup

# Known question texts are matched by prefix; a shorter fragment would match by accident.
_MIN_KNOWN_PREFIX_CHARS = 15

_HEADING_MARKER = re.compile(r"#{1,6}\s*")
_EMPHASIS = re.compile(r"(\*\*|__)\s*")
_QUESTION_WORD = re.compile(r"kysymys\s*(?:nro\.?|n:o|numero)?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"(\d{1,2})(?!\d)")
# After the number: "3." "3)" "3:" "3.**" "**3**." — then whitespace or the end of the line.
_TERMINATOR = re.compile(r"(?P<close1>\*\*|__)?\s*(?P<mark>[.):])?(?P<close2>\*\*|__)?(?=\s|$)")


@dataclass(frozen=True)
class Heading:
    index: int  # line index in the document
    number: int
    text: str  # the question text on the heading line, markup removed; "" when only the number is there
    strong: bool  # marked up as a heading, or reads like a question; a bare "3. Text" is only a candidate


def _match_heading(line: str, index: int, known_texts: tuple[str, ...]) -> Heading | None:
    rest = line.strip()
    found: dict[str, bool] = {}
    for name, pattern in (("marker", _HEADING_MARKER), ("emphasis", _EMPHASIS), ("word", _QUESTION_WORD)):
        match = pattern.match(rest)
        found[name] = match is not None
        rest = rest[match.end() :] if match else rest
    number = _NUMBER.match(rest)
    # "5.3 Strategisten" or "2026 oli" are numbers in running text, not question numbers.
    terminator = _TERMINATOR.match(rest[number.end() :]) if number else None
    if number is None or terminator is None:
        return None
    text = strip_markup(rest[number.end() + terminator.end() :].strip().removesuffix("**").removesuffix("__").strip())
    if not terminator.group("mark") and not _unterminated_heading(found, text):
        return None
    strong = any(found.values()) or not text or text.endswith("?") or is_known_text(text, known_texts)
    return Heading(index=index, number=int(number.group(1)), text=text, strong=strong)


def _unterminated_heading(found: dict[str, bool], text: str) -> bool:
    # Without "." or ")" after the number only an unmistakable heading counts: "Kysymys 3 Miten…" or
    # "### 3". A bare "3" is a page number and "**5 tärkeintä asiaa**" a sub-heading of an answer.
    return found["word"] or (found["marker"] and (not text or text.endswith("?")))


def is_known_text(text: str, known_texts: tuple[str, ...]) -> bool:
    """True when `text` starts with one of the form's question texts, or is a long enough start of one."""
    norm = comparison_form(text)
    for known in known_texts:
        known_norm = comparison_form(known)
        if norm.startswith(known_norm) or (len(norm) >= _MIN_KNOWN_PREFIX_CHARS and known_norm.startswith(norm)):
            return True
    return False


def find_headings(lines: list[str], known_texts: tuple[str, ...] = ()) -> list[Heading]:
    """The question headings of the document, in order.

    A bare "3. Text" line is ambiguous (a numbered list in an answer looks the same), so it only counts
    when it starts a paragraph and fills the gap before the next clear heading, or when the document has
    no clear headings at all.
    """
    candidates = [
        heading for index, line in enumerate(lines) if (heading := _match_heading(line, index, known_texts)) is not None
    ]
    weak = [c for c in candidates if not c.strong and _starts_paragraph(lines, c.index, candidates)]
    strong = [c for c in candidates if c.strong]
    if not strong:
        return weak
    chosen: list[Heading] = []
    for candidate in sorted(strong + weak, key=lambda c: c.index):
        if candidate.strong or _fills_gap(candidate, chosen, strong):
            chosen.append(candidate)
    return chosen


def _starts_paragraph(lines: list[str], index: int, candidates: list[Heading]) -> bool:
    # Items of a numbered list follow each other line by line; a heading starts its own paragraph.
    numbered = {c.index for c in candidates}
    before_blank = index == 0 or not lines[index - 1].strip()
    after_numbered = index + 1 in numbered
    return before_blank and not after_numbered


def _fills_gap(candidate: Heading, chosen: list[Heading], strong: list[Heading]) -> bool:
    following = next((s.number for s in strong if s.index > candidate.index), None)
    if chosen:
        return candidate.number == chosen[-1].number + 1 and (following is None or following > candidate.number)
    return following == candidate.number + 1


@dataclass
class Section:
    number: int
    heading: str
    body: list[str]


@dataclass
class Document:
    preamble: list[str]
    sections: list[Section]


def split_document(lines: list[str], known_texts: tuple[str, ...] = ()) -> Document:
    """Split the cleaned lines into the text before the first question and one section per question."""
    headings = find_headings(lines, known_texts)
    if not headings:
        raise DocumentError(_no_questions_message(lines))
    sections = []
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        end = following.index if following else len(lines)
        sections.append(Section(heading.number, heading.text, lines[heading.index + 1 : end]))
    return Document(preamble=lines[: headings[0].index], sections=sections)


def _no_questions_message(lines: list[str]) -> str:
    blocks = paragraph_blocks(lines)
    if not blocks:
        return "the document has no text"
    first = excerpt(" ".join(blocks[0]))
    return (
        f"found no numbered questions in {len(blocks)} paragraph(s) of text (starting {first!r}); "
        "expected question headings such as '1. …', '### 3. …' or 'Kysymys 3: …'"
    )
