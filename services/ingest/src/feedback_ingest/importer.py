"""Turn a statement that came in as a document (plain text, markdown or .docx) into a `SurveyResponse`.

Two document shapes are understood:

* the survey tool's summary export: it carries question 1 (the respondent's details as "Label<TAB>value"
  lines), question 2 (the respondent type) and the block's questions under their global numbers;
* a statement written as a document, which numbers its questions locally (1 = the first question of the
  respondent type's block) or globally, and may start with the organisation's name.

The parser works on lines: a .docx is first flattened into the same lines a text export would have, so one
parser handles every format. Whatever cannot be recognised stops the import with a `DocumentError` that
says what was found; text that is dropped without being known noise of the survey tool becomes a warning.

This module runs the steps in `feedback_ingest.importing` in order and is where callers import from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from feedback_contracts.questionnaire import load_questionnaire

from .importing.answers import answer_text, collect_answers, split_question
from .importing.api import DEFAULT_SURVEY_ID, DocumentError, ImportOptions, ImportResult
from .importing.cleaning import clean_lines, is_noise
from .importing.details import Found, parse_stated_date, read_preamble, take_form_questions
from .importing.numbering import check_order, choose_respondent_type, numbering
from .importing.reading import docx_lines, read_lines
from .importing.response import build_response, derived_response_id
from .importing.structure import find_headings, split_document
from .importing.text import WARNING_EXCERPT_CHARS

__all__ = [
    "DEFAULT_SURVEY_ID",
    "WARNING_EXCERPT_CHARS",
    "DocumentError",
    "ImportOptions",
    "ImportResult",
    "answer_text",
    "derived_response_id",
    "docx_lines",
    "find_headings",
    "import_file",
    "import_lines",
    "is_noise",
    "numbering",
    "parse_stated_date",
    "read_lines",
    "split_document",
    "split_question",
]


def import_file(path: Path, options: ImportOptions | None = None) -> ImportResult:
    """Import the statement in `path` (.txt, .md or .docx); `submitted_at` defaults to its modification time."""
    lines, warnings = read_lines(path)
    modified_at = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    result = import_lines(lines, options or ImportOptions(), modified_at=modified_at)
    return ImportResult(result.response, tuple(warnings) + result.warnings)


def import_lines(lines: list[str], options: ImportOptions, *, modified_at: datetime) -> ImportResult:
    """Import a statement given as text lines; `modified_at` is used unless the document states its date."""
    questionnaire = load_questionnaire()
    known_texts = tuple(q.text for q in questionnaire.questions if q.text)
    document = split_document(clean_lines(lines), known_texts)
    found = Found()
    sections = take_form_questions(document, questionnaire, found)
    # Only the survey tool's export carries the form's questions 1 and 2 ahead of the block's questions.
    export = len(sections) < len(document.sections)
    read_preamble(document.preamble, found, export=export)
    if not sections:
        raise DocumentError("the document has questions 1 and 2 but none of the respondent type's questions")
    numbers = [s.number for s in sections]
    check_order(numbers)
    rtype = choose_respondent_type(options, found, numbers)
    to_global = numbering(numbers, rtype, questionnaire, export=export)
    answers = collect_answers(sections, to_global, questionnaire, found)
    response = build_response(
        options, found, rtype, answers.texts, modified_at=modified_at, questions=answers.questions
    )
    return ImportResult(response, tuple(found.warnings))
