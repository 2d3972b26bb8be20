"""Text hygiene applied to everything a respondent writes, before anything else sees it."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls except tab and newline; CR is dropped so CRLF and CR line ends become LF.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode line and paragraph separators would act as line breaks in mail headers and some renderers.
_LINE_SEPARATORS = re.compile(r"[\u2028\u2029\x85]")
# Lone surrogates are not text: they cannot even be encoded as UTF-8.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
# Any character one of the steps below would change (CR is in the C0 range, NEL in C1).
_SUSPECT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

# Most statements need no cleaning, and proving it is most of the cost. Text whose every character is in
# Windows-1252 (Latin-1 and the dashes, quotes, bullets and euro sign of text written in Word) is NFC already:
# none of those characters decomposes or combines with another (tests/unit/contracts check it against the Unicode
# database). Only its control characters may need cleaning, and they are found in one pass at C speed: encoded
# one byte per character, `bytes.translate` deletes every byte that is fine and leaves the rest. Latin-1 is tried
# first (its encoding is a copy); Windows-1252 holds no C1 control (its bytes 0x80-0x9F are typographic
# characters), so its encoding fails on them, as on anything else it lacks, and the regular checks decide.
_C0_BUT_TAB_AND_LF = {*range(0x20)} - {0x09, 0x0A}
_NO_BREAK_SPACE = 0xA0


def _fine(unwanted: set[int]) -> bytes:
    return bytes(b for b in range(256) if b not in unwanted)


_TEXT_FINE = {"latin-1": _fine(_C0_BUT_TAB_AND_LF | {*range(0x7F, 0xA0)}), "cp1252": _fine(_C0_BUT_TAB_AND_LF | {0x7F})}
# On a line, whitespace other than single spaces is folded too: `\s` of these encodings is C0, NEL (a C1 control)
# and the no-break space.
_LINE_FINE = {
    "latin-1": _fine({*range(0x20), *range(0x7F, 0xA1)}),
    "cp1252": _fine({*range(0x20), 0x7F, _NO_BREAK_SPACE}),
}


def _single_byte(value: str, fine: dict[str, bytes]) -> tuple[bytes, bool] | None:
    """`value` encoded one byte per character, and whether every byte is `fine`; None when neither encoding
    holds all of its characters."""
    for encoding, fine_bytes in fine.items():
        try:
            encoded = value.encode(encoding)
        except UnicodeEncodeError:
            continue
        return encoded, not encoded.translate(None, fine_bytes)
    return None


def clean_text(value: str) -> str:
    """NFC-normalise multi-line text and strip control characters other than newline and tab."""
    judged = _single_byte(value, _TEXT_FINE)
    if judged is not None:
        if judged[1]:
            return value  # the common case: nothing to clean, found in one pass
    elif _SUSPECT.search(value) is None and unicodedata.is_normalized("NFC", value):
        return value
    value = _LINE_SEPARATORS.sub("\n", value.replace("\r\n", "\n").replace("\r", "\n"))
    # Normalise last: a control character removed from between a letter and a combining mark ("Å\x00\u0301")
    # would otherwise leave the pair decomposed.
    return unicodedata.normalize("NFC", _SURROGATES.sub("", _CONTROL.sub("", value)))


def clean_line(value: str) -> str:
    """Like `clean_text`, then fold every run of whitespace (line breaks included) into one space.

    Single-line fields (names, organisation, title) end up in mail subjects and headers: they must
    never carry a line break.
    """
    judged = _single_byte(value, _LINE_FINE)
    if judged is not None and judged[1]:
        encoded = judged[0]
        if b"  " not in encoded and not encoded.startswith(b" ") and not encoded.endswith(b" "):
            return value  # nothing to clean or fold
    return _SPACES.sub(" ", clean_text(value)).strip()
