"""Helpers the import steps share: comparing text regardless of markup, and quoting it in messages."""

from __future__ import annotations

import re
import unicodedata

# Long enough to recognise the text in the document, short enough to keep a warning on one terminal line.
WARNING_EXCERPT_CHARS = 80
# "1, 2" is no longer than "1-2", so only runs of three or more numbers are written as a range.
_SHORTEST_RANGE = 3


def comparison_form(text: str) -> str:
    """Comparison form: NFC, markdown emphasis gone, whitespace folded, case folded."""
    text = unicodedata.normalize("NFC", text).replace("**", "").replace("__", "")
    return " ".join(text.split()).casefold()


def strip_markup(line: str) -> str:
    """A line without markdown heading markers and surrounding emphasis."""
    line = re.sub(r"^\s*#{1,6}\s+", "", line).strip()
    match = re.fullmatch(r"(\*\*|__)(.+?)\1", line)
    return match.group(2).strip() if match else line


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    # One character less leaves room for the ellipsis.
    return flat if len(flat) <= WARNING_EXCERPT_CHARS else flat[: WARNING_EXCERPT_CHARS - 1] + "…"


def describe_numbers(numbers: list[int]) -> str:
    """'1-9' for a run, '1, 3, 4' otherwise."""
    if len(numbers) >= _SHORTEST_RANGE and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def paragraph_blocks(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks of non-blank lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]
