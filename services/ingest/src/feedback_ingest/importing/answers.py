"""Each section's question text separated from its answer, and the answers keyed by the form's numbers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from feedback_contracts.questionnaire import Questionnaire
from feedback_contracts.responses import MAX_ANSWER_CHARS

from .api import DocumentError
from .details import Found
from .structure import Section
from .text import comparison_form, describe_numbers, excerpt, paragraph_blocks, strip_markup

# A question heading's text may run on for a line or two; a longer "question" is an answer that happens
# to end with a question mark.
_MAX_QUESTION_LINE_CHARS = 300
# The longest question text an answer carries (`Answer.question_text`).
_MAX_QUESTION_TEXT_CHARS = 2000


@dataclass(frozen=True)
class Answers:
    """The answers by the form's question number, and the question texts the document carries for them."""

    texts: dict[int, str]
    questions: dict[int, str]


def collect_answers(
    sections: list[Section], to_global: Callable[[int], int], questionnaire: Questionnaire, found: Found
) -> Answers:
    """The answer text under each section by the form's question number (sections without text are left out),
    and the question's text as the document words it, where it has one."""
    answers: dict[int, str] = {}
    questions: dict[int, str] = {}
    for section in sections:
        number = to_global(section.number)
        known = questionnaire.question(number).text
        question, lines, warnings = split_question(section.heading, section.body, known)
        found.warnings.extend(f"question {number}: {w}" for w in warnings)
        text = answer_text(lines)
        if len(text) > MAX_ANSWER_CHARS:
            local = "" if number == section.number else f" (the document's question {section.number})"
            raise DocumentError(
                f"the answer to question {number}{local} has {len(text)} characters; the limit is {MAX_ANSWER_CHARS}"
            )
        if text:
            answers[number] = text
            if asked := " ".join(strip_markup(question).split()):
                questions[number] = asked[:_MAX_QUESTION_TEXT_CHARS]
    if not answers:
        raise DocumentError(
            f"found questions {describe_numbers([s.number for s in sections])} but no answer text under any of them"
        )
    return Answers(answers, questions)


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
        question = f"{question} {strip_markup(line)}".strip()
        lines = lines[position + 1 :]
        if not known:
            # Only the question text itself is known noise; a guess takes one line and says so.
            warnings.append(f"took {excerpt(line)!r} right after the question heading as part of the question")
            break
    return question, lines, warnings


def _split_known_prefix(heading: str, known: str | None) -> tuple[str, str]:
    """Heading text that starts with the whole known question and goes on: the rest is answer text."""
    if not known:
        return heading, ""
    heading_form, known_form = comparison_form(heading), comparison_form(known)
    if not heading_form.startswith(known_form) or heading_form == known_form:
        return heading, ""
    words = heading.split()
    for count in range(1, len(words) + 1):
        if comparison_form(" ".join(words[:count])) == known_form:
            return " ".join(words[:count]), " ".join(words[count:])
    return heading, ""


def _question_continues(question: str, line: str, known: str | None) -> bool:
    candidate = f"{question} {strip_markup(line)}".strip()
    if known:
        return comparison_form(known).startswith(comparison_form(candidate))
    return line.strip().endswith("?") and len(line.strip()) <= _MAX_QUESTION_LINE_CHARS


def answer_text(lines: list[str]) -> str:
    """Blocks of the answer joined by blank lines; sub-heading markers dropped, the sub-heading kept."""
    blocks = []
    for block in paragraph_blocks(lines):
        blocks.append("\n".join(_answer_line(line) for line in block))
    return "\n\n".join(blocks)


def _answer_line(line: str) -> str:
    line = re.sub(r"^\s*#{1,6}\s+", "", line.rstrip())
    # Indentation matters for nested list items only.
    return line if re.match(r"\s*(?:[-*+•]|\d+[.)])\s", line) else line.strip()
