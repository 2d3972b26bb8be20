"""Turn a statement that came in as a document (plain text, markdown or .docx) into a `SurveyResponse`.

Two document shapes are understood:

* the survey tool's summary export: it carries question 1 (the respondent's details as "Label<TAB>value"
  lines), question 2 (the respondent type) and the block's questions under their global numbers;
* a statement written as a document, which numbers its questions locally (1 = the first question of the
  respondent type's block) or globally, and may start with the organisation's name.

The parser works on lines: a .docx is first flattened into the same lines a text export would have, so one
parser handles every format. Whatever cannot be recognised stops the import with a `DocumentError` that
says what was found; text that is dropped without being known noise of the survey tool becomes a warning.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from pydantic import EmailStr, TypeAdapter, ValidationError

from feedback_contracts.questionnaire import Questionnaire, load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import MAX_ANSWER_CHARS, Phone, SurveyResponse
from feedback_contracts.text import clean_text

DEFAULT_SURVEY_ID = "palvelustrategia-2026"
WARNING_EXCERPT_CHARS = 80
# A question heading's text may run on for a line or two; a longer "question" is an answer that happens
# to end with a question mark.
_MAX_QUESTION_LINE_CHARS = 300
_MAX_ORGANISATION_CHARS = 100
_MAX_ORGANISATION_WORDS = 8
# Known question texts are matched by prefix; a shorter fragment would match by accident.
_MIN_KNOWN_PREFIX_CHARS = 15
_LARGEST_BLOCK = max(len(t.questions) for t in RespondentType)
_FORM_QUESTIONS = (1, 2)


class DocumentError(ValueError):
    """The document cannot be imported; the message says what was found."""


@dataclass(frozen=True)
class ImportOptions:
    """What the command line adds to or overrides in the document."""

    respondent_type: RespondentType | None = None
    organization: str | None = None
    title: str | None = None
    response_id: str | None = None
    survey_id: str = DEFAULT_SURVEY_ID


@dataclass(frozen=True)
class ImportResult:
    """The imported response and the warnings about text that was left out."""

    response: SurveyResponse
    warnings: tuple[str, ...] = ()


# --- reading ----------------------------------------------------------------------------------------------

_DOCX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .doc, .xls: not readable here


def import_file(path: Path, options: ImportOptions | None = None) -> ImportResult:
    """Import the statement in `path` (.txt, .md or .docx); `submitted_at` defaults to its modification time."""
    lines, warnings = read_lines(path)
    modified_at = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    result = import_lines(lines, options or ImportOptions(), modified_at=modified_at)
    return ImportResult(result.response, tuple(warnings) + result.warnings)


def read_lines(path: Path) -> tuple[list[str], list[str]]:
    """The document's text as lines (blank lines separate paragraphs) and warnings about how it was read."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise DocumentError(f"{path} is a directory, not a document") from None
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".docx" or data.startswith(_DOCX_MAGIC):
        return docx_lines(data, name=str(path)), []
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(f"{path} is a legacy Word/Office file; save it as .docx or plain text")
    return _text_lines(data, name=str(path))


def _text_lines(data: bytes, *, name: str) -> tuple[list[str], list[str]]:
    if b"\x00" in data:
        raise DocumentError(f"{name} is a binary file, not text (supported: plain text, markdown, .docx)")
    try:
        return data.decode("utf-8-sig").splitlines(), []
    except UnicodeDecodeError:
        # Word's "save as text" on Windows writes Windows-1252; Finnish letters survive that encoding.
        text = data.decode("cp1252", errors="replace")
        return text.splitlines(), [f"{name} is not UTF-8; read it as Windows-1252"]


def docx_lines(data: bytes, *, name: str = "document") -> list[str]:
    """Flatten a .docx into text lines: one paragraph per block, list items as "- " lines, headings as "#"."""
    import docx  # imported here: every `feedback` command loads this module, few read Word documents

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a damaged zip or XML raises anything from deep inside the parser
        raise DocumentError(f"{name} is not a readable .docx document ({type(exc).__name__}: {exc})") from None
    lines: list[str] = []
    in_list = False
    for kind, item in _docx_body_items(document):
        if kind == "table":
            lines.append("")
            lines.extend(_docx_table_lines(item))
            in_list = False
            continue
        text = item.text.strip()
        style = item.style.name if item.style is not None else ""
        if not text:
            lines.append("")
            in_list = False
        elif style.startswith("List"):
            # Consecutive list items stay one block, as they would in a text export.
            if not in_list:
                lines.append("")
            lines.append("- " + " ".join(text.split()))
            in_list = True
        else:
            lines.append("")
            lines.extend(_heading_prefix(style) + line for line in text.split("\n"))
            in_list = False
    return lines


def _docx_body_items(document) -> Iterator[tuple[str, object]]:
    """Paragraphs and tables of the body in document order, looking inside content controls."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def walk(element) -> Iterator[tuple[str, object]]:
        for child in element.iterchildren():
            if child.tag == qn("w:p"):
                yield "paragraph", Paragraph(child, document)
            elif child.tag == qn("w:tbl"):
                yield "table", Table(child, document)
            elif child.tag in (qn("w:sdt"), qn("w:sdtContent")):
                yield from walk(child)

    yield from walk(document.element.body)


def _docx_table_lines(table) -> list[str]:
    # A table row becomes "cell<TAB>cell", the same shape as the survey tool's "Etunimi<TAB>Heikki" lines.
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            lines.append("\t".join(cells))
    return lines


def _heading_prefix(style_name: str) -> str:
    match = re.fullmatch(r"Heading (\d)", style_name)
    if match:
        return "#" * int(match.group(1)) + " "
    return "# " if style_name == "Title" else ""


# --- text helpers -----------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    """Comparison form: NFC, markdown emphasis gone, whitespace folded, case folded."""
    text = unicodedata.normalize("NFC", text).replace("**", "").replace("__", "")
    return " ".join(text.split()).casefold()


def _plain(line: str) -> str:
    """A line without markdown heading markers and surrounding emphasis."""
    line = re.sub(r"^\s*#{1,6}\s+", "", line).strip()
    match = re.fullmatch(r"(\*\*|__)(.+?)\1", line)
    return match.group(2).strip() if match else line


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= WARNING_EXCERPT_CHARS else flat[: WARNING_EXCERPT_CHARS - 1] + "…"


def _describe_numbers(numbers: list[int]) -> str:
    """'1-9' for a run, '1, 3, 4' otherwise."""
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def _blocks(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks of non-blank lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


# --- noise of the survey tool -----------------------------------------------------------------------------

# Navigation and page notes of the survey tool's summary page. They are the tool's, never the respondent's.
_NOISE = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"muokkaa vastausta",
        r"sulje",
        r"yhteenvetosivu\s*:.*",
        r"tämän sivun kysymykset\s+(?:numerot|numero|nrot|nro|n:ot|n:o)?\.?\s*\d{1,2}\s*[-–—]\s*\d{1,2}\s+ovat\s+vain\b.*",
    )
)


def is_noise(line: str) -> bool:
    """True for the survey tool's own navigation and page notes."""
    plain = _plain(line)
    return any(pattern.fullmatch(plain) for pattern in _NOISE)


# --- question headings ------------------------------------------------------------------------------------

_HEADING_MARKER = re.compile(r"#{1,6}\s*")
_EMPHASIS = re.compile(r"(\*\*|__)\s*")
_QUESTION_WORD = re.compile(r"kysymys\s*(?:nro\.?|n:o|numero)?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"(\d{1,2})(?!\d)")
# After the number: "3." "3)" "3:" "3.**" "**3**." — then whitespace or the end of the line.
_TERMINATOR = re.compile(r"(?P<close1>\*\*|__)?\s*(?P<mark>[.):])?(?P<close2>\*\*|__)?(?=\s|$)")


@dataclass(frozen=True)
class _Heading:
    index: int  # line index in the document
    number: int
    text: str  # the question text on the heading line, markup removed; "" when only the number is there
    strong: bool  # marked up as a heading, or reads like a question; a bare "3. Text" is only a candidate


def _match_heading(line: str, index: int, known_texts: tuple[str, ...]) -> _Heading | None:
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
    text = _plain(rest[number.end() + terminator.end() :].strip().removesuffix("**").removesuffix("__").strip())
    if not terminator.group("mark") and not _unterminated_heading(found, text):
        return None
    strong = any(found.values()) or not text or text.endswith("?") or _is_known_text(text, known_texts)
    return _Heading(index=index, number=int(number.group(1)), text=text, strong=strong)


def _unterminated_heading(found: dict[str, bool], text: str) -> bool:
    # Without "." or ")" after the number only an unmistakable heading counts: "Kysymys 3 Miten…" or
    # "### 3". A bare "3" is a page number and "**5 tärkeintä asiaa**" a sub-heading of an answer.
    return found["word"] or (found["marker"] and (not text or text.endswith("?")))


def _is_known_text(text: str, known_texts: tuple[str, ...]) -> bool:
    norm = _norm(text)
    for known in known_texts:
        known_norm = _norm(known)
        if norm.startswith(known_norm) or (len(norm) >= _MIN_KNOWN_PREFIX_CHARS and known_norm.startswith(norm)):
            return True
    return False


def find_headings(lines: list[str], known_texts: tuple[str, ...] = ()) -> list[_Heading]:
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
    chosen: list[_Heading] = []
    for candidate in sorted(strong + weak, key=lambda c: c.index):
        if candidate.strong or _fills_gap(candidate, chosen, strong):
            chosen.append(candidate)
    return chosen


def _starts_paragraph(lines: list[str], index: int, candidates: list[_Heading]) -> bool:
    # Items of a numbered list follow each other line by line; a heading starts its own paragraph.
    numbered = {c.index for c in candidates}
    before_blank = index == 0 or not lines[index - 1].strip()
    after_numbered = index + 1 in numbered
    return before_blank and not after_numbered


def _fills_gap(candidate: _Heading, chosen: list[_Heading], strong: list[_Heading]) -> bool:
    following = next((s.number for s in strong if s.index > candidate.index), None)
    if chosen:
        return candidate.number == chosen[-1].number + 1 and (following is None or following > candidate.number)
    return following == candidate.number + 1


# --- the document's structure -----------------------------------------------------------------------------


@dataclass
class _Section:
    number: int
    heading: str
    body: list[str]


@dataclass
class _Document:
    preamble: list[str]
    sections: list[_Section]


def split_document(lines: list[str], known_texts: tuple[str, ...] = ()) -> _Document:
    """Split the cleaned lines into the text before the first question and one section per question."""
    headings = find_headings(lines, known_texts)
    if not headings:
        raise DocumentError(_no_questions_message(lines))
    sections = []
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        end = following.index if following else len(lines)
        sections.append(_Section(heading.number, heading.text, lines[heading.index + 1 : end]))
    return _Document(preamble=lines[: headings[0].index], sections=sections)


def _no_questions_message(lines: list[str]) -> str:
    blocks = _blocks(lines)
    if not blocks:
        return "the document has no text"
    first = _excerpt(" ".join(blocks[0]))
    return (
        f"found no numbered questions in {len(blocks)} paragraph(s) of text (starting {first!r}); "
        "expected question headings such as '1. …', '### 3. …' or 'Kysymys 3: …'"
    )


# --- form questions 1 and 2 of the survey tool's export ---------------------------------------------------

_DETAIL_FIELDS = {
    "etunimi": "first_name",
    "sukunimi": "last_name",
    "puhelin": "phone",
    "puhelinnumero": "phone",
    "sähköposti": "email",
    "sähköpostiosoite": "email",
    "edustamani taho/toimija": "organization",
    "edustamani taho": "organization",
    "organisaatio": "organization",
    "titteli": "title",
    "tehtävänimike": "title",
}
# What the summary page shows for a question left unanswered.
_NO_ANSWER = {"ei vastauksia", "ei vastausta", "-", "–"}


def _detail_field(line: str) -> tuple[str, str] | None:
    """("phone", value) for "Puhelin (ei pakollinen)<TAB>value" or "Puhelin: value"; None otherwise."""
    label, separator, value = line.partition("\t")
    if not separator:
        label, separator, value = line.partition(":")
    if not separator:
        return None
    key = _norm(re.sub(r"\(.*?\)", "", _plain(label)))
    name = _DETAIL_FIELDS.get(key)
    return (name, value.strip()) if name else None


def _is_details_section(section: _Section, questionnaire: Questionnaire) -> bool:
    if section.number != 1:
        return False
    known = questionnaire.question(1).text or ""
    return _norm(section.heading) == _norm(known) or any(_detail_field(line) for line in section.body)


def _is_type_section(section: _Section, questionnaire: Questionnaire) -> bool:
    if section.number != 2:
        return False
    known = questionnaire.question(2).text or ""
    return _is_known_text(section.heading, (known,)) or _respondent_type_in(section.body) is not None


def _respondent_type_of_line(line: str) -> RespondentType | None:
    text = re.sub(r"^[-*•☒☑✓✔]\s*", "", _plain(line))
    for candidate in (text, text.partition(":")[2]):
        try:
            return RespondentType.parse(candidate)
        except ValueError:
            continue
    return None


def _respondent_type_in(lines: list[str]) -> RespondentType | None:
    return next((t for line in lines if (t := _respondent_type_of_line(line)) is not None), None)


@dataclass
class _Found:
    """What the document says besides its answers."""

    respondent: dict[str, str | None] = field(default_factory=dict)
    respondent_type: RespondentType | None = None
    organisation_line: str | None = None
    type_answer: str | None = None  # question 2's answer as found, when it names no respondent type
    submitted_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def _read_details(section: _Section, found: _Found) -> None:
    for line in section.body:
        if not line.strip():
            continue
        detail = _detail_field(line)
        if detail is None:
            found.warnings.append(f"dropped unrecognised line in question 1: {_excerpt(line)!r}")
            continue
        name, value = detail
        found.respondent[name] = None if _norm(value) in _NO_ANSWER or not value else value


def _read_type_answer(section: _Section, found: _Found) -> None:
    for line in section.body:
        if not line.strip():
            continue
        rtype = _respondent_type_of_line(line)
        if rtype is not None and found.respondent_type is None:
            found.respondent_type = rtype
        else:
            found.warnings.append(f"dropped unrecognised line in question 2: {_excerpt(line)!r}")


# --- the text before the first question -------------------------------------------------------------------

_DATE_LABEL = r"(?:päivämäärä|päiväys|pvm\.?|vastattu|lähetetty|vastaus lähetetty|submitted|date)"
_FINNISH_DATE = re.compile(
    _DATE_LABEL + r"\s*:?\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s*(?:klo\.?|kello)?\s*(\d{1,2})[.:](\d{2}))?\.?",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(_DATE_LABEL + r"\s*:?\s*(\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)", re.I)


def _helsinki() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Helsinki")
    except Exception:  # no tz database on the machine: Finnish standard time is the safer guess
        return timezone(timedelta(hours=2))


def parse_stated_date(line: str) -> datetime | None:
    """The submission time a labelled line states ("Päivämäärä: 20.3.2026", "Vastattu 20.3.2026 klo 14.05").

    Only labelled dates count: a date in running text may be anything (a meeting, a deadline).
    """
    plain = _plain(line)
    try:
        if match := _FINNISH_DATE.fullmatch(plain):
            day, month, year, hour, minute = (int(g) if g else 0 for g in match.groups())
            return datetime(year, month, day, hour, minute, tzinfo=_helsinki())
        if match := _ISO_DATE.fullmatch(plain):
            stated = datetime.fromisoformat(match.group(1).replace(" ", "T"))
            return stated if stated.tzinfo else stated.replace(tzinfo=_helsinki())
    except ValueError:  # 31.2.2026 and the like: not reliable, so not used
        return None
    return None


def _looks_like_organisation(line: str) -> bool:
    text = _plain(line)
    words = text.split()
    return (
        0 < len(text) <= _MAX_ORGANISATION_CHARS
        and len(words) <= _MAX_ORGANISATION_WORDS
        and text[0].isupper()
        and not text.endswith((".", "?", "!", ":", ";", ","))
        and "\t" not in line
    )


def _read_preamble(lines: list[str], found: _Found, *, export: bool) -> None:
    """Dates, a respondent type label and the organisation line before the first question; the rest is dropped."""
    first_line = True
    for block in _blocks(lines):
        dropped = []
        for line in block:
            if (stated := parse_stated_date(line)) is not None:
                found.submitted_at = stated
            elif (rtype := _respondent_type_of_line(line)) is not None and not export:
                found.respondent_type = found.respondent_type or rtype
            elif first_line and not export and _looks_like_organisation(line):
                found.organisation_line = _plain(line)
            else:
                dropped.append(line)
            first_line = False
        # The export's text before question 1 is the survey's own introduction, not the respondent's.
        if dropped and not export:
            found.warnings.append(f"dropped text before the first question: {_excerpt(' '.join(dropped))!r}")


# --- numbering --------------------------------------------------------------------------------------------


def _check_order(numbers: list[int]) -> None:
    seen: set[int] = set()
    for previous, number in zip([None, *numbers], numbers, strict=False):
        if number in seen:
            raise DocumentError(
                f"question {number} appears twice (question numbers found: {_describe_numbers(numbers)})"
            )
        if previous is not None and number < previous:
            raise DocumentError(
                f"question numbers are out of order: {number} comes after {previous} "
                f"(found: {_describe_numbers(numbers)})"
            )
        seen.add(number)


def _infer_respondent_type(numbers: list[int]) -> RespondentType:
    if max(numbers) <= _LARGEST_BLOCK:
        raise DocumentError(
            f"the document numbers its questions {_describe_numbers(numbers)}, which may be local numbering, "
            "and does not say whom the respondent represents; pass --respondent-type"
        )
    rtype = RespondentType.for_question(numbers[0])
    if rtype is None or any(n not in rtype.questions for n in numbers):
        raise DocumentError(
            f"question numbers {_describe_numbers(numbers)} do not fall in one respondent type's block "
            "and the document does not say whom the respondent represents; pass --respondent-type"
        )
    return rtype


def numbering(
    numbers: list[int], rtype: RespondentType, questionnaire: Questionnaire, *, export: bool
) -> Callable[[int], int]:
    """How the document's numbers map to the form's: global when all fall in the block, else local 1..n."""
    block = rtype.questions
    first, last = block.start, block.stop - 1
    if len(numbers) > len(block):
        raise DocumentError(
            f"found {len(numbers)} questions ({_describe_numbers(numbers)}), but respondent type "
            f"{rtype.value} has only {len(block)} (questions {first}-{last})"
        )
    if all(n in block for n in numbers):
        return lambda n: n
    if not export and all(1 <= n <= len(block) for n in numbers):
        return lambda n: questionnaire.global_number(rtype, n)
    outside = next(n for n in numbers if n not in block)
    local = "" if export else f", nor a local number 1-{len(block)}"
    raise DocumentError(
        f"question {outside} is outside respondent type {rtype.value}'s block {first}-{last}{local} "
        f"(question numbers found: {_describe_numbers(numbers)})"
    )


# --- questions and answers --------------------------------------------------------------------------------


def _split_known_prefix(heading: str, known: str | None) -> tuple[str, str]:
    """Heading text that starts with the whole known question and goes on: the rest is answer text."""
    if not known or not _norm(heading).startswith(_norm(known)) or _norm(heading) == _norm(known):
        return heading, ""
    words = heading.split()
    for count in range(1, len(words) + 1):
        if _norm(" ".join(words[:count])) == _norm(known):
            return " ".join(words[:count]), " ".join(words[count:])
    return heading, ""


def _question_continues(question: str, line: str, known: str | None) -> bool:
    candidate = f"{question} {_plain(line)}".strip()
    if known:
        return _norm(known).startswith(_norm(candidate))
    return line.strip().endswith("?") and len(line.strip()) <= _MAX_QUESTION_LINE_CHARS


def split_question(heading: str, body: list[str], known: str | None) -> tuple[str, list[str], list[str]]:
    """Separate the question's text from the answer: (question, answer lines, warnings).

    The question may run on after its heading line (a wrapped heading, or a second question sentence on a
    line of its own) until the first answer text. With a known question text only lines that continue it
    are taken; without one, a single line ending in "?" is taken and reported as a warning.
    """
    question, rest = _split_known_prefix(heading, known)
    lines = ([rest] if rest else []) + list(body)
    warnings: list[str] = []
    while not rest:
        position = next((i for i, line in enumerate(lines) if line.strip()), None)
        if position is None:
            break
        line = lines[position]
        alone = position + 1 == len(lines) or not lines[position + 1].strip()
        if not _question_continues(question, line, known) or (not known and not alone):
            break
        question = f"{question} {_plain(line)}".strip()
        lines = lines[position + 1 :]
        if not known:
            # Only the question text itself is known noise; a guess takes one line and says so.
            warnings.append(f"took {_excerpt(line)!r} right after the question heading as part of the question")
            break
    return question, lines, warnings


def answer_text(lines: list[str]) -> str:
    """Blocks of the answer joined by blank lines; sub-heading markers dropped, the sub-heading kept."""
    blocks = []
    for block in _blocks(lines):
        blocks.append("\n".join(_answer_line(line) for line in block))
    return "\n\n".join(blocks)


def _answer_line(line: str) -> str:
    line = re.sub(r"^\s*#{1,6}\s+", "", line.rstrip())
    # Indentation matters for nested list items only.
    return line if re.match(r"\s*(?:[-*+•]|\d+[.)])\s", line) else line.strip()


# --- the response -----------------------------------------------------------------------------------------


def derived_response_id(rtype: RespondentType, answers: dict[int, str]) -> str:
    """A stable id from the content: the same document gives the same id, a changed answer another one."""
    digest = hashlib.sha256(rtype.value.encode())
    for number in sorted(answers):
        text = " ".join(unicodedata.normalize("NFC", answers[number]).split())
        digest.update(f"\n{number}\n{text}".encode())
    return "import-" + digest.hexdigest()[:24]


def _valid_or_none(name: str, value: str | None, adapter: TypeAdapter, warnings: list[str]) -> str | None:
    if value is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError:
        # Contact data is personal: the warning names the field, never the value.
        warnings.append(f"the document's {name} is not valid; left out")
        return None
    return value


_EMAIL = TypeAdapter(EmailStr)
_PHONE = TypeAdapter(Phone)


def _respondent(found: _Found, organisation: str, options: ImportOptions) -> dict[str, str | None]:
    details = dict(found.respondent)
    return {
        "first_name": details.get("first_name"),
        "last_name": details.get("last_name"),
        "email": _valid_or_none("email address", details.get("email"), _EMAIL, found.warnings),
        "phone": _valid_or_none("phone number", details.get("phone"), _PHONE, found.warnings),
        "organization": organisation,
        "title": options.title or details.get("title"),
    }


def _organisation(found: _Found, options: ImportOptions) -> str:
    stated = found.respondent.get("organization")
    line = found.organisation_line
    if options.organization and line and _norm(line) != _norm(options.organization):
        found.warnings.append(f"dropped text before the first question: {_excerpt(line)!r}")
    organisation = options.organization or stated or line
    if not organisation:
        raise DocumentError(
            "the document does not name the respondent's organisation "
            "(no 'Edustamani taho/toimija' line and no organisation name before the first question); "
            "pass --organization"
        )
    return organisation


def _validation_message(error: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'response'}: {e['msg']}" for e in error.errors()]
    return "the imported response is not valid: " + "; ".join(problems)


def import_lines(lines: list[str], options: ImportOptions, *, modified_at: datetime) -> ImportResult:
    """Import a statement given as text lines; `modified_at` is used unless the document states its date."""
    questionnaire = load_questionnaire()
    known_texts = tuple(q.text for q in questionnaire.questions if q.text)
    cleaned = [clean_text(line) for line in lines if not is_noise(line)]
    document = split_document(cleaned, known_texts)
    found = _Found()
    sections = _take_form_questions(document, questionnaire, found)
    export = len(sections) < len(document.sections)
    _read_preamble(document.preamble, found, export=export)
    if not sections:
        raise DocumentError("the document has questions 1 and 2 but none of the respondent type's questions")
    numbers = [s.number for s in sections]
    _check_order(numbers)
    rtype = _respondent_type(options, found, numbers)
    to_global = numbering(numbers, rtype, questionnaire, export=export)
    answers = _answers(sections, to_global, questionnaire, found)
    organisation = _organisation(found, options)
    try:
        response = SurveyResponse(
            survey_id=options.survey_id,
            response_id=options.response_id or derived_response_id(rtype, answers),
            revision=1,
            submitted_at=found.submitted_at or modified_at,
            respondent=_respondent(found, organisation, options),
            respondent_type=rtype,
            answers=[{"question": n, "text": t} for n, t in answers.items()],
            source="import",
        )
    except ValidationError as exc:
        raise DocumentError(_validation_message(exc)) from None
    return ImportResult(response, tuple(found.warnings))


def _take_form_questions(document: _Document, questionnaire: Questionnaire, found: _Found) -> list[_Section]:
    """Read the export's questions 1 and 2 into `found`; return the remaining sections."""
    sections = list(document.sections)
    if sections and _is_details_section(sections[0], questionnaire):
        _read_details(sections.pop(0), found)
    if sections and _is_type_section(sections[0], questionnaire):
        section = sections.pop(0)
        _read_type_answer(section, found)
        if found.respondent_type is None:
            found.type_answer = _excerpt(" ".join(line for line in section.body if line.strip()))
    return sections


def _respondent_type(options: ImportOptions, found: _Found, numbers: list[int]) -> RespondentType:
    if options.respondent_type or found.respondent_type:
        return options.respondent_type or found.respondent_type
    if found.type_answer is not None:
        raise DocumentError(
            f"question 2 names no respondent type (found {found.type_answer!r}); pass --respondent-type"
        )
    return _infer_respondent_type(numbers)


def _answers(
    sections: list[_Section], to_global: Callable[[int], int], questionnaire: Questionnaire, found: _Found
) -> dict[int, str]:
    answers: dict[int, str] = {}
    for section in sections:
        number = to_global(section.number)
        known = questionnaire.question(number).text
        _, lines, warnings = split_question(section.heading, section.body, known)
        found.warnings.extend(f"question {number}: {w}" for w in warnings)
        text = answer_text(lines)
        if len(text) > MAX_ANSWER_CHARS:
            local = "" if number == section.number else f" (the document's question {section.number})"
            raise DocumentError(
                f"the answer to question {number}{local} has {len(text)} characters; the limit is {MAX_ANSWER_CHARS}"
            )
        if text:
            answers[number] = text
    if not answers:
        raise DocumentError(
            f"found questions {_describe_numbers([s.number for s in sections])} but no answer text under any of them"
        )
    return answers
