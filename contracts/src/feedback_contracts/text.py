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


def clean_text(value: str) -> str:
    """NFC-normalise multi-line text and strip control characters other than newline and tab."""
    if _SUSPECT.search(value) is None and unicodedata.is_normalized("NFC", value):
        return value  # nothing to do: the common case, one scan instead of six passes and copies
    value = _LINE_SEPARATORS.sub("\n", value.replace("\r\n", "\n").replace("\r", "\n"))
    # Normalise last: a control character removed from between a letter and a combining mark ("Å\x00\u0301")
    # would otherwise leave the pair decomposed.
    return unicodedata.normalize("NFC", _SURROGATES.sub("", _CONTROL.sub("", value)))


def clean_line(value: str) -> str:
    """Like `clean_text`, then fold every run of whitespace (line breaks included) into one space.

    Single-line fields (names, organisation, title) end up in mail subjects and headers: they must
    never carry a line break.
    """
    return _SPACES.sub(" ", clean_text(value)).strip()
