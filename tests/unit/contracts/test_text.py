"""Text hygiene: what clean_text and clean_line leave of anything a respondent writes."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from feedback_contracts.text import clean_line, clean_text

FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def reference_clean_text(value: str) -> str:
    """Every step applied unconditionally, as clean_text did before it learnt to skip clean text."""
    value = re.sub(r"[\u2028\u2029\x85]", "\n", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = re.sub(r"[\ud800-\udfff]", "", re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", value))
    return unicodedata.normalize("NFC", value)


# Text with the characters that matter over-represented: controls, CR/LF, separators, surrogates,
# combining marks (NFC), Finnish letters in both composed and decomposed forms.
FRAGMENTS = [
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b",
    "\x85",
    "\x9f",
    "\u2028",
    "\u2029",
    "\ud800",
    "\udfff",
    "a\u0308",
    "\u00e4",
    "o\u0308",
    "\u00f6",
    "\u0301",
    "\u00c5",
    "A\u030a",
    "\u202e",
    "\u200b",
]
TRICKY = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.characters()), max_size=120).map("".join)  # fmt: skip


def test_a_control_character_between_a_letter_and_its_combining_mark_still_leaves_nfc_text() -> None:
    assert clean_text("\u00c5\x00\u0301") == "\u01fa"


@given(TRICKY)
def test_clean_text_is_the_full_cleaning_whether_or_not_it_takes_the_shortcut(value: str) -> None:
    cleaned = clean_text(value)
    assert cleaned == reference_clean_text(value)
    assert FORBIDDEN.search(cleaned) is None and "\r" not in cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    cleaned.encode("utf-8")  # raises UnicodeEncodeError if a lone surrogate were left


@given(TRICKY)
def test_clean_line_never_carries_a_line_break(value: str) -> None:
    line = clean_line(value)
    assert "\n" not in line and "\r" not in line and line == line.strip()


def test_examples_a_reader_would_check() -> None:
    assert clean_text("Rivi 1\r\nRivi 2\rRivi 3") == "Rivi 1\nRivi 2\nRivi 3"
    assert clean_text("a\u0308\u00e4") == "\u00e4\u00e4"  # decomposed ä composed
    assert clean_text("ok\u2028uusi rivi\x00") == "ok\nuusi rivi"
    assert clean_text("Hyvä lausunto.") == "Hyvä lausunto."
    assert clean_line("  Oma\nHäme \r\n ry ") == "Oma Häme ry"
