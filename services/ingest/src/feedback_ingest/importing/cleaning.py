"""Clean the document's lines before their structure is recognised.

The survey tool's summary page carries navigation and page notes of its own; they are the tool's, never the
respondent's, so they are dropped without a warning.
"""

from __future__ import annotations

import re

from feedback_contracts.text import clean_text

from .text import strip_markup

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
    plain = strip_markup(line)
    return any(pattern.fullmatch(plain) for pattern in _NOISE)


def clean_lines(lines: list[str]) -> list[str]:
    """The lines without the survey tool's noise, NFC-normalised and without control characters."""
    return [clean_text(line) for line in lines if not is_noise(line)]
