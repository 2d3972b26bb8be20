"""What the document says besides its answers: who responded, as whom, and when.

The survey tool's summary export states it in the form's questions 1 and 2 (the respondent's details as
"Label<TAB>value" lines, then the respondent type); a statement written as a document may state it in the
text before its first question (a date line, a respondent type label, the organisation's name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from feedback_contracts.questionnaire import Questionnaire
from feedback_contracts.respondents import RespondentType

from .structure import Document, Section, is_known_text
from .text import comparison_form, excerpt, paragraph_blocks, strip_markup

# The questions every respondent answers, ahead of their respondent type's block.
_DETAILS_QUESTION = 1
_TYPE_QUESTION = 2
# An organisation's name is a short line; a longer or wordier first line is the statement's opening sentence.
_MAX_ORGANISATION_CHARS = 100
_MAX_ORGANISATION_WORDS = 8
# Finnish standard time: the fallback when the machine has no tz database to say whether summer time applies.
_FINNISH_STANDARD_TIME = timezone(timedelta(hours=2))


@dataclass
class Found:
    """What the document says besides its answers."""

    respondent: dict[str, str | None] = field(default_factory=dict)
    respondent_type: RespondentType | None = None
    organisation_line: str | None = None
    type_answer: str | None = None  # question 2's answer as found, when it names no respondent type
    submitted_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


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


def take_form_questions(document: Document, questionnaire: Questionnaire, found: Found) -> list[Section]:
    """Read the export's questions 1 and 2 into `found`; return the remaining sections."""
    sections = list(document.sections)
    if sections and _is_details_section(sections[0], questionnaire):
        _read_details(sections.pop(0), found)
    if sections and _is_type_section(sections[0], questionnaire):
        section = sections.pop(0)
        _read_type_answer(section, found)
        if found.respondent_type is None:
            found.type_answer = excerpt(" ".join(line for line in section.body if line.strip()))
    return sections


def _detail_field(line: str) -> tuple[str, str] | None:
    """("phone", value) for "Puhelin (ei pakollinen)<TAB>value" or "Puhelin: value"; None otherwise."""
    label, separator, value = line.partition("\t")
    if not separator:
        label, separator, value = line.partition(":")
    if not separator:
        return None
    key = comparison_form(re.sub(r"\(.*?\)", "", strip_markup(label)))
    name = _DETAIL_FIELDS.get(key)
    return (name, value.strip()) if name else None


def _is_details_section(section: Section, questionnaire: Questionnaire) -> bool:
    if section.number != _DETAILS_QUESTION:
        return False
    known = questionnaire.question(_DETAILS_QUESTION).text or ""
    return comparison_form(section.heading) == comparison_form(known) or any(
        _detail_field(line) for line in section.body
    )


def _is_type_section(section: Section, questionnaire: Questionnaire) -> bool:
    if section.number != _TYPE_QUESTION:
        return False
    known = questionnaire.question(_TYPE_QUESTION).text or ""
    return is_known_text(section.heading, (known,)) or _respondent_type_in(section.body) is not None


def _respondent_type_of_line(line: str) -> RespondentType | None:
    text = re.sub(r"^[-*•☒☑✓✔]\s*", "", strip_markup(line))
    for candidate in (text, text.partition(":")[2]):
        try:
            return RespondentType.parse(candidate)
        except ValueError:
            continue
    return None


def _respondent_type_in(lines: list[str]) -> RespondentType | None:
    return next((t for line in lines if (t := _respondent_type_of_line(line)) is not None), None)


def _read_details(section: Section, found: Found) -> None:
    for line in section.body:
        if not line.strip():
            continue
        detail = _detail_field(line)
        if detail is None:
            found.warnings.append(f"dropped unrecognised line in question {_DETAILS_QUESTION}: {excerpt(line)!r}")
            continue
        name, value = detail
        found.respondent[name] = None if comparison_form(value) in _NO_ANSWER or not value else value


def _read_type_answer(section: Section, found: Found) -> None:
    for line in section.body:
        if not line.strip():
            continue
        rtype = _respondent_type_of_line(line)
        if rtype is not None and found.respondent_type is None:
            found.respondent_type = rtype
        else:
            found.warnings.append(f"dropped unrecognised line in question {_TYPE_QUESTION}: {excerpt(line)!r}")


# --- the text before the first question -------------------------------------------------------------------

_DATE_LABEL = r"(?:päivämäärä|päiväys|pvm\.?|vastattu|lähetetty|vastaus lähetetty|submitted|date)"
_FINNISH_DATE = re.compile(
    _DATE_LABEL + r"\s*:?\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s*(?:klo\.?|kello)?\s*(\d{1,2})[.:](\d{2}))?\.?",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(_DATE_LABEL + r"\s*:?\s*(\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)", re.I)


def read_preamble(lines: list[str], found: Found, *, export: bool) -> None:
    """Dates, a respondent type label and the organisation line before the first question; the rest is dropped."""
    first_line = True
    for block in paragraph_blocks(lines):
        dropped = []
        for line in block:
            if (stated := parse_stated_date(line)) is not None:
                found.submitted_at = stated
            elif (rtype := _respondent_type_of_line(line)) is not None and not export:
                found.respondent_type = found.respondent_type or rtype
            elif first_line and not export and _looks_like_organisation(line):
                found.organisation_line = strip_markup(line)
            else:
                dropped.append(line)
            first_line = False
        # The export's text before question 1 is the survey's own introduction, not the respondent's.
        if dropped and not export:
            found.warnings.append(f"dropped text before the first question: {excerpt(' '.join(dropped))!r}")


def _helsinki() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Helsinki")
    except Exception:  # no tz database on the machine: Finnish standard time is the safer guess
        return _FINNISH_STANDARD_TIME


def parse_stated_date(line: str) -> datetime | None:
    """The submission time a labelled line states ("Päivämäärä: 20.3.2026", "Vastattu 20.3.2026 klo 14.05").

    Only labelled dates count: a date in running text may be anything (a meeting, a deadline).
    """
    plain = strip_markup(line)
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
    text = strip_markup(line)
    words = text.split()
    return (
        0 < len(text) <= _MAX_ORGANISATION_CHARS
        and len(words) <= _MAX_ORGANISATION_WORDS
        and text[0].isupper()
        and not text.endswith((".", "?", "!", ":", ";", ","))
        and "\t" not in line
    )
