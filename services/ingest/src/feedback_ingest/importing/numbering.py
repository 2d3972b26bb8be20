"""Which respondent type's block the document answers, and how its question numbers map to the form's.

A document may number its questions globally (as the form does) or locally, 1-9 for the first to the ninth
question of the respondent type's block.
"""

from __future__ import annotations

from collections.abc import Callable

from feedback_contracts.questionnaire import Questionnaire
from feedback_contracts.respondents import RespondentType

from .api import DocumentError, ImportOptions
from .details import Found
from .text import describe_numbers

# Numbers up to this may be local numbering of any block, so on their own they say nothing about the block.
_LARGEST_BLOCK = max(len(t.questions) for t in RespondentType)


def check_order(numbers: list[int]) -> None:
    """Stop the import when a question number repeats or goes back: the document is not one response."""
    seen: set[int] = set()
    for previous, number in zip([None, *numbers], numbers, strict=False):
        if number in seen:
            raise DocumentError(
                f"question {number} appears twice (question numbers found: {describe_numbers(numbers)})"
            )
        if previous is not None and number < previous:
            raise DocumentError(
                f"question numbers are out of order: {number} comes after {previous} "
                f"(found: {describe_numbers(numbers)})"
            )
        seen.add(number)


def choose_respondent_type(options: ImportOptions, found: Found, numbers: list[int]) -> RespondentType:
    """The command line's respondent type, else the document's, else the one the question numbers imply."""
    if options.respondent_type or found.respondent_type:
        return options.respondent_type or found.respondent_type
    if found.type_answer is not None:
        raise DocumentError(
            f"question 2 names no respondent type (found {found.type_answer!r}); pass --respondent-type"
        )
    return _infer_respondent_type(numbers)


def _infer_respondent_type(numbers: list[int]) -> RespondentType:
    if max(numbers) <= _LARGEST_BLOCK:
        raise DocumentError(
            f"the document numbers its questions {describe_numbers(numbers)}, which may be local numbering, "
            "and does not say whom the respondent represents; pass --respondent-type"
        )
    rtype = RespondentType.for_question(numbers[0])
    if rtype is None or any(n not in rtype.questions for n in numbers):
        raise DocumentError(
            f"question numbers {describe_numbers(numbers)} do not fall in one respondent type's block "
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
            f"found {len(numbers)} questions ({describe_numbers(numbers)}), but respondent type "
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
        f"(question numbers found: {describe_numbers(numbers)})"
    )
