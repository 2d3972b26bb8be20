"""Text hygiene: what clean_text and clean_line leave of anything a respondent writes."""

from __future__ import annotations

import re
import sys
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


def reference_clean_line(value: str) -> str:
    return re.sub(r"\s+", " ", reference_clean_text(value)).strip()


# One byte per character in Latin-1 or Windows-1252 (where clean_text and clean_line judge the text in one pass
# over its bytes), with controls, C1 characters, no-break spaces, runs of spaces and Word's typography
# over-represented.
SINGLE_BYTE = st.lists(
    st.one_of(
        st.sampled_from(["  ", " ", "\xa0", "\x85", "\x81", "\x9f", "\x7f", "\r", "\n", "\t", "–", "”", "…", "€", "•"]),
        st.characters(max_codepoint=0xFF),
    ),
    max_size=80,
).map("".join)


def _one_byte_characters(encoding: str) -> list[str]:
    characters = []
    for byte in range(256):
        try:
            characters.append(bytes([byte]).decode(encoding))
        except UnicodeDecodeError:
            pass
    return characters


def test_no_latin1_or_windows_1252_character_decomposes_or_combines_so_such_text_is_already_nfc() -> None:
    """Why clean_text skips the NFC check for such text: none of its characters changes under NFC, has a
    combining class, or is the second half of any canonical composition in the Unicode database."""
    second_halves = set()
    for code in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            second_halves.add(int(decomposition.split()[1], 16))
    for char in {*_one_byte_characters("latin-1"), *_one_byte_characters("cp1252")}:
        assert unicodedata.normalize("NFC", char) == char and not unicodedata.combining(char), hex(ord(char))
        assert ord(char) not in second_halves, hex(ord(char))


def test_windows_1252_holds_no_c1_control_nor_line_separator() -> None:
    """So text that encodes to it has no character to clean but the C0 controls its bytes show."""
    assert not [c for c in _one_byte_characters("cp1252") if 0x80 <= ord(c) <= 0x9F or c in "\u2028\u2029"]


@given(SINGLE_BYTE)
def test_clean_text_on_single_byte_text_is_the_full_cleaning(value: str) -> None:
    assert clean_text(value) == reference_clean_text(value)


@given(st.one_of(SINGLE_BYTE, TRICKY))
def test_clean_line_is_the_full_cleaning_and_folding_whether_or_not_it_takes_the_shortcut(value: str) -> None:
    assert clean_line(value) == reference_clean_line(value)


def test_clean_text_gives_back_clean_text_itself() -> None:
    """Nothing to clean, nothing copied: the same object comes back, with or without Word's dashes and quotes."""
    for value in ("Hyvä lausunto.\n\tToinen rivi.", "Väliviiva – ja lainausmerkit ”näin”.", "Ω ja 😀 käyvät myös."):
        assert clean_text(value) is value
    assert (
        clean_line("Kanta-Hämeen järjestöneuvottelukunta – hallitus")
        == "Kanta-Hämeen järjestöneuvottelukunta – hallitus"
    )
    assert clean_line("Oma  Häme\xa0ry") == "Oma Häme ry"
