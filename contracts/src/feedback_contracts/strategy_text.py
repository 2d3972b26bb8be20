"""Reading the draft service strategy's plain text into its numbered sections (the taxonomy).

The draft is a PDF converted to plain text, so the parser has to tell real section headings from
everything else that starts with a number, and strip page furniture from the section bodies:

* A heading is a line "<id> <Title>" (any leading whitespace, any kind of space after the id, an
  optional dot after the id) or an id alone on its line with the title on the next one. A title
  that wraps continues on the following lines while those start in lower case or with a dash.
* A heading must fit the numbering so far: its id is greater than the previous heading's id, the
  first part that changes goes up by one (or two, when a heading went missing in the conversion)
  and any deeper parts start again from 1 (or 2). That is what keeps dates ("27.01.2025 § 23 ..."),
  numbered list items ("1 Oma Hämeen hankinnoilla ...", "1. Osallisuus omassa elämässä") and page
  numbers from becoming sections. Its title looks like a title: it starts with a capital letter,
  is at most a few lines long and does not end like a sentence (".", ",", ";" or ":").
* A numbered line that continues a run of rejected numbered lines ("1 ..", "2 ..", "3 ..") is a
  list item too, even when its number would fit the numbering ("4 ..." right after chapter 3).
* A table of contents (entries with dot leaders or tab-separated page numbers, or a run of entries
  ending in page numbers, or the entries after a "Sisällys" line) never makes sections; its titles
  only stand in for headings that the body lacks: a section whose numbered heading is missing
  but whose title appears on a line of its own in the body starts at that line, and a missing
  parent that only the table of contents names is created with an empty body.
* A section whose parent is found neither in the body nor in a table of contents gets the nearest
  existing ancestor as its parent (None when there is none).
* Bodies lose page numbers ("29 / 68"), figure and table captions ("Kuvio 7. ..."), footnotes
  ("1*FIT ...") and bare URLs. Paragraphs that a page break or a stray blank line split
  mid-sentence are joined again, words hyphenated across lines are rejoined, and bullets drawn
  from a symbol font (private-use characters) become "▪".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .taxonomy import Section, Taxonomy

_ID = r"[1-9]\d?(?:\.[1-9]\d?)*"
_HEADING = re.compile(rf"^\s*(?P<id>{_ID})\.?\s+(?P<title>\S.*?)\s*$")
_ID_ONLY = re.compile(rf"^\s*(?P<id>{_ID})\.?\s*$")
# An entry of a table of contents: a heading followed by a page number, after dot leaders, a tab or a space.
_TOC_ENTRY = re.compile(
    rf"^\s*(?P<id>{_ID})\.?\s+(?P<title>\S.*?)"
    r"(?P<leader>\s*(?:\.{2,}|…+|·{2,}|_{2,})\s*|\t\s*|\s+)\d{1,3}\s*$"
)
_TOC_MARKER = re.compile(r"^\s*(?:sisällys(?:luettelo)?|sisältö|contents|table of contents)\s*$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(
    r"^\s*(?:(?:sivu|page)\s+)?\d{1,4}\s*(?:/|\||of|\()\s*\d{1,4}\s*\)?\s*$|^\s*[-–]\s*\d{1,4}\s*[-–]\s*$",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(r"^\s*\d{1,4}\s*$")
_CAPTION = re.compile(r"^\s*(?:kuvio|kuva|taulukko|kaavio|figure|table)\s+\d+[.:]?(?:\s|$)", re.IGNORECASE)
_FOOTNOTE = re.compile(r"^\s*\d{1,2}\*\s*\S")
_URL = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$")
_BULLET = re.compile(r"^(?:[●•▪◦‣∙\u2043\ue000-\uf8ff]|o\s+(?=[A-ZÅÄÖ]))")
_ENUMERATOR = re.compile(r"^(?:\d{1,2}|[a-z])[.)]\s")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
_SENTENCE_END = (".", "!", "?", ":", ";")
_TITLE_MAX_CHARS = 160
_TITLE_MAX_EXTRA_LINES = 2
_LIST_RUN_MAX_GAP = 6
# Words that follow a hyphen kept apart from it in Finnish ("sosiaali- ja terveyspalvelut").
_AFTER_OPEN_HYPHEN = frozenset({"ja", "tai", "sekä", "eli", "että", "kuin", "vai", "and", "or"})


@dataclass(frozen=True)
class _Heading:
    parts: tuple[int, ...]
    title: str
    first_line: int
    last_line: int

    @property
    def id(self) -> str:
        return _join(self.parts)


def parse_strategy(text: str) -> Taxonomy:
    """Parse the plain text of a strategy draft into its numbered sections (see the module docstring)."""
    lines = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").split("\n")
    furniture = _furniture(lines)
    toc_titles, toc_lines = _table_of_contents(lines)
    skipped = furniture | toc_lines
    headings = _headings(lines, skipped, toc_titles)

    found = {heading.parts for heading in headings}
    sections: list[Section] = []
    for index, heading in enumerate(headings):
        end = headings[index + 1].first_line if index + 1 < len(headings) else len(lines)
        # A bare number that is not a heading's id is a page number.
        body_lines = [
            lines[i] for i in range(heading.last_line + 1, end) if i not in skipped and not _BARE_NUMBER.match(lines[i])
        ]
        for parts in _missing_ancestors(heading.parts, found, toc_titles):
            found.add(parts)
            sections.append(Section(id=_join(parts), title=toc_titles[parts], parent=_parent(parts, found), body=""))
        parent = _parent(heading.parts, found)
        sections.append(Section(id=heading.id, title=heading.title, parent=parent, body=_body(body_lines)))
    return Taxonomy(sections=tuple(sections))


def _join(parts: tuple[int, ...]) -> str:
    return ".".join(map(str, parts))


def _split(section_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in section_id.split("."))


def _parent(parts: tuple[int, ...], found: set[tuple[int, ...]]) -> str | None:
    for length in range(len(parts) - 1, 0, -1):
        if parts[:length] in found:
            return _join(parts[:length])
    return None


def _missing_ancestors(
    parts: tuple[int, ...], found: set[tuple[int, ...]], toc_titles: dict[tuple[int, ...], str]
) -> list[tuple[int, ...]]:
    """Ancestors absent from the body that the table of contents names, outermost first."""
    prefixes = [parts[:length] for length in range(1, len(parts))]
    return [prefix for prefix in prefixes if prefix not in found and prefix in toc_titles]


def _follows(previous: tuple[int, ...], candidate: tuple[int, ...]) -> bool:
    """Whether `candidate` can be the next heading after `previous` in a sanely numbered document."""
    if candidate <= previous:
        return False
    common = 0
    while common < min(len(previous), len(candidate)) and previous[common] == candidate[common]:
        common += 1
    rest = candidate[common:]
    if common < len(previous):
        if not 1 <= candidate[common] - previous[common] <= 2:
            return False
        rest = candidate[common + 1 :]
    return all(part <= 2 for part in rest)


def _is_numbered(line: str) -> bool:
    return bool(_HEADING.match(line) or _ID_ONLY.match(line))


def _continues_title(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and (stripped[0].islower() or stripped[0] in "–—-")


def _title_shape(title: str) -> bool:
    return (
        bool(title)
        and title[0].isupper()
        and len(title) <= _TITLE_MAX_CHARS
        and not title.endswith((".", ",", ";", ":"))
    )


def _clean(value: str) -> str:
    return " ".join(value.split())


def _title_lines(lines: list[str], start: int, first: str, skipped: set[int]) -> tuple[str, int] | None:
    """The title beginning with `first` on line `start`, joined with its wrapped lines, and its last line."""
    pieces = [first.strip()]
    last = start
    while last + 1 < len(lines) and last + 1 not in skipped and _continues_title(lines[last + 1]):
        last += 1
        pieces.append(lines[last].strip())
        if len(pieces) > _TITLE_MAX_EXTRA_LINES + 1:
            return None
    title = _clean(_join_lines(pieces))
    return (title, last) if _title_shape(title) else None


def _heading_at(lines: list[str], index: int, skipped: set[int]) -> tuple[_Heading | None, tuple[int, ...] | None]:
    """A heading starting at `index`, and the number the line carries even when it is no heading."""
    line = lines[index]
    match = _HEADING.match(line)
    if match:
        parts = _split(match["id"])
        found = _title_lines(lines, index, match["title"], skipped)
        return (_Heading(parts, found[0], index, found[1]) if found else None), parts
    match = _ID_ONLY.match(line)
    if not match:
        return None, None
    parts = _split(match["id"])
    title_line = index + 1
    # A lone number with a blank line after it is a page number unless it is a dotted section id.
    if len(parts) > 1 and title_line < len(lines) and not lines[title_line].strip():
        title_line += 1
    if (
        title_line >= len(lines)
        or title_line in skipped
        or not lines[title_line].strip()
        or _is_numbered(lines[title_line])
    ):
        return None, parts
    found = _title_lines(lines, title_line, lines[title_line], skipped)
    return (_Heading(parts, found[0], index, found[1]) if found else None), parts


def _headings(lines: list[str], skipped: set[int], toc_titles: dict[tuple[int, ...], str]) -> list[_Heading]:
    wanted = {parts: _clean(title).casefold() for parts, title in toc_titles.items()}
    numbered: set[tuple[int, ...]] = set()
    for index, line in enumerate(lines):
        match = _HEADING.match(line) if index not in skipped else None
        if match and (parts := _split(match["id"])) in wanted:
            printed = _clean(match["title"]).casefold()
            if printed.startswith(wanted[parts]) or wanted[parts].startswith(printed):
                numbered.add(parts)
    # Only a section whose numbered heading the body lacks may start at a bare line repeating its contents title.
    pending_titles = {title: parts for parts, title in wanted.items() if parts not in numbered}
    headings: list[_Heading] = []
    previous: tuple[int, ...] = ()
    rejected: tuple[tuple[int, ...], int] | None = None
    index = 0
    while index < len(lines):
        if index in skipped or not lines[index].strip():
            index += 1
            continue
        heading, number = _heading_at(lines, index, skipped)
        if number is None:
            parts = pending_titles.get(_clean(lines[index]).casefold())
            if parts is not None and _follows(previous, parts):
                heading = _Heading(parts, toc_titles[parts], index, index)
        elif heading is not None:
            continues_list = (
                rejected is not None
                and number[:-1] == rejected[0][:-1]
                and number[-1] == rejected[0][-1] + 1
                and index - rejected[1] <= _LIST_RUN_MAX_GAP
            )
            if continues_list or not _follows(previous, heading.parts):
                heading = None
        if heading is None:
            if number is not None and not _ID_ONLY.match(lines[index]):
                rejected = (number, index)
            index += 1
            continue
        headings.append(heading)
        previous = heading.parts
        rejected = None
        index = heading.last_line + 1
    return headings


def _furniture(lines: list[str]) -> set[int]:
    """Lines that belong to the page rather than the text: page numbers, captions, footnotes, bare URLs."""
    result: set[int] = set()
    index = 0
    while index < len(lines):
        line = lines[index]
        if _PAGE_NUMBER.match(line) or _URL.match(line):
            result.add(index)
        elif _CAPTION.match(line) or _FOOTNOTE.match(line):
            result.add(index)
            footnote = bool(_FOOTNOTE.match(line))
            # A caption wraps onto lines that go on mid-sentence; a footnote runs to the next blank line.
            while (
                index + 1 < len(lines) and lines[index + 1].strip() and (footnote or _continues_title(lines[index + 1]))
            ):
                index += 1
                result.add(index)
        index += 1
    return result


@dataclass(frozen=True)
class _TocEntry:
    lines: tuple[int, ...]
    parts: tuple[int, ...]
    title: str
    has_leader: bool


def _table_of_contents(lines: list[str]) -> tuple[dict[tuple[int, ...], str], set[int]]:
    """Titles by id from a table of contents, and the lines it occupies."""
    entries: list[_TocEntry] = []
    index = 0
    while index < len(lines):
        used = (index,)
        match = _TOC_ENTRY.match(lines[index])
        if not match and _HEADING.match(lines[index]) and index + 1 < len(lines) and _continues_title(lines[index + 1]):
            match = _TOC_ENTRY.match(lines[index].rstrip() + " " + lines[index + 1].strip())
            used = (index, index + 1) if match else used
        if match:
            leader = match["leader"]
            has_leader = bool(leader.strip()) or "\t" in leader
            entries.append(_TocEntry(used, _split(match["id"]), _clean(match["title"]), has_leader))
        index = used[-1] + 1

    markers = {i for i, line in enumerate(lines) if _TOC_MARKER.match(line)}
    accepted: list[_TocEntry] = []
    run: list[_TocEntry] = []
    # Entries without leaders count only in a run of them (or under a "Sisällys" line): a lone
    # heading whose title happens to end in a number is no table of contents.
    for entry in [*entries, None]:
        if run and (entry is None or not _only_blank_between(lines, run[-1].lines[-1], entry.lines[0])):
            in_toc = len(run) >= 3 or _previous_nonblank(lines, run[0].lines[0]) in markers
            accepted.extend(e for e in run if e.has_leader or in_toc)
            run = []
        if entry is not None:
            run.append(entry)

    titles: dict[tuple[int, ...], str] = {}
    used_lines = set(markers)
    for entry in accepted:
        titles.setdefault(entry.parts, entry.title)
        used_lines.update(entry.lines)
    return titles, used_lines


def _previous_nonblank(lines: list[str], index: int) -> int | None:
    index -= 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return index if index >= 0 else None


def _only_blank_between(lines: list[str], first: int, last: int) -> bool:
    return all(not lines[i].strip() for i in range(first + 1, last))


def _body(lines: list[str]) -> str:
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = []
            continue
        # After a finished sentence, an enumerator or an indented capitalised line is where the converter
        # lost a paragraph break.
        after_sentence = bool(current) and current[-1].endswith(_SENTENCE_END)
        starts_paragraph = bool(_BULLET.match(line)) or (
            after_sentence and (bool(_ENUMERATOR.match(line)) or (raw[:1].isspace() and line[0].isupper()))
        )
        if current and starts_paragraph:
            paragraphs.append(current)
            current = []
        current.append(line)
    if current:
        paragraphs.append(current)

    merged: list[list[str]] = []
    for paragraph in paragraphs:
        # A blank line in mid-sentence comes from a page break or the converter, not from the author.
        first = paragraph[0]
        if merged and not merged[-1][-1].endswith(_SENTENCE_END) and first[0].islower() and not _BULLET.match(first):
            merged[-1].extend(paragraph)
        else:
            merged.append(paragraph)
    return "\n\n".join(_clean(_PRIVATE_USE.sub("▪", _join_lines(paragraph))) for paragraph in merged)


def _join_lines(lines: list[str]) -> str:
    """Join wrapped lines, closing up words that were hyphenated at a line end ("tuotantotapa-" + "analyysi")."""
    text = ""
    for line in lines:
        hyphenated = text.endswith("-") and len(text) > 1 and text[-2].isalpha()
        if hyphenated and line.split()[0].lower() not in _AFTER_OPEN_HYPHEN:
            text += line
        else:
            text = f"{text} {line}" if text else line
    return text
