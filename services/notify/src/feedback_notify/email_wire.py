"""An alert as it goes over SMTP: the envelope, the headers and the text and HTML parts, written out directly
(in 8-bit and quoted-printable forms) with a Message-ID derived from its delivery key."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import datetime
from email.utils import format_datetime, parseaddr
from functools import lru_cache

from feedback_contracts.text import clean_line

from .keys import DeliveryKey
from .render import Rendered, message_id


class OutgoingEmail:
    """One email as it goes over SMTP: the envelope and the message (CRLF line ends).

    Each text part exists as 8-bit UTF-8, for servers offering 8BITMIME (RFC 6152), and as quoted-printable
    for any server: a part with a line too long for SMTP is quoted-printable in both forms.
    """

    def __init__(
        self, sender: str, recipients: tuple[str, ...], message_id: str, head: bytes, boundary: str, parts: list[str]
    ) -> None:
        self.sender = sender  # the envelope sender (MAIL FROM)
        self.recipients = recipients
        self.message_id = message_id
        self.head, self.boundary = head, boundary
        self.parts = [(subtype, text.replace("\r\n", "\n").replace("\r", "\n")) for subtype, text in parts]
        self._forms: dict[bool, tuple[bytes, bool]] = {}

    @property
    def data(self) -> bytes:
        """The message in 7-bit: what any SMTP server takes."""
        return self.form(eight_bit=False)[0]

    def form(self, *, eight_bit: bool) -> tuple[bytes, bool]:
        """The message's bytes, 8-bit parts allowed or not, and whether any part is 8-bit (MAIL FROM then says
        BODY=8BITMIME)."""
        if eight_bit not in self._forms:
            chunks, any_8bit = [self.head], False
            for subtype, text in self.parts:
                body = _eight_bit(text, self.boundary) if eight_bit else None
                encoding = "8bit" if body is not None else "quoted-printable"
                any_8bit = any_8bit or body is not None
                chunks.append(
                    f'--{self.boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                    f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
                )
                chunks.append(body if body is not None else _quoted_printable(text))
                chunks.append(b"\r\n")
            chunks.append(f"--{self.boundary}--\r\n".encode())
            self._forms[eight_bit] = (b"".join(chunks), any_8bit)
        return self._forms[eight_bit]


def compose_email(
    rendered: Rendered, *, sender: str, recipients: tuple[str, ...], key: DeliveryKey, domain: str, date: datetime
) -> OutgoingEmail:
    """A multipart (plain text and HTML) email carrying a Message-ID derived from the delivery key.

    Written out directly rather than through the email package's object model, which spent more time per
    alert than rendering it: the fixed header lines are cached per sender and recipient list, and the
    subject is RFC 2047-encoded (nothing in it can start a line of its own).
    """
    envelope_sender, from_header = _from_header(sender)
    to_header, utf8 = _to_header(tuple(recipients))
    mid = message_id(key, domain)
    boundary = f"=_{secrets.token_hex(16)}"  # "=_" never occurs in quoted-printable text
    head = (
        f"{from_header}{to_header}{_subject_header(rendered.subject)}Message-ID: {mid}\r\n"
        f"Date: {format_datetime(date)}\r\nAuto-Submitted: auto-generated\r\nContent-Language: fi\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
    )
    parts = [("plain", rendered.text), ("html", rendered.html)]
    return OutgoingEmail(
        envelope_sender, tuple(recipients), mid, head.encode("utf-8" if utf8 else "ascii"), boundary, parts
    )


# SMTP's limit for a line, CRLF excluded (RFC 5321 4.5.3.1.6).
_MAX_LINE = 998


def _eight_bit(text: str, boundary: str) -> bytes | None:
    """The text as 8-bit UTF-8 with CRLF line ends, or None when SMTP could not carry it so."""
    if "\x00" in text or boundary in text:
        return None
    data = text.encode("utf-8")
    if _has_long_line(data):
        return None
    return data.replace(b"\n", b"\r\n")


def _has_long_line(data: bytes) -> bool:
    """Whether a line of `data` (LF line ends) is longer than SMTP takes. Looks once per _MAX_LINE bytes, for the
    last line end within the next _MAX_LINE + 1 bytes, rather than splitting the text into lines (a tenth of
    composing an email)."""
    start = 0
    while len(data) - start > _MAX_LINE:
        newline = data.rfind(b"\n", start, start + _MAX_LINE + 1)
        if newline == -1:
            return True  # the line from `start` has more than _MAX_LINE bytes
        start = newline + 1  # every line before is within the window, so no longer than _MAX_LINE
    return False


# A base64 encoded word carries at most 42 bytes of UTF-8: "=?utf-8?b?" + 56 characters + "?=" is 68, and
# "Subject: " before the first keeps its line within 78.
_WORD_BYTES = 42


def _quoted_printable(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line ends: 7-bit, no line over 76 characters, whatever the text."""
    return binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded words, one per folded line, never splitting a character."""
    data, words, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character's UTF-8 bytes
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)


def _subject_header(subject: str) -> str:
    if subject.isascii() and subject.isprintable() and len(subject) <= 68 and "=?" not in subject:
        return f"Subject: {subject}\r\n"
    return f"Subject: {_encoded_words(subject)}\r\n"


@lru_cache(maxsize=64)
def _from_header(sender: str) -> tuple[str, str]:
    """The envelope address and the From header of a configured sender ("Name <address>" or an address)."""
    name, address = parseaddr(sender)
    if not address or not address.isascii() or not _SAFE_ADDRESS.fullmatch(address):
        raise ValueError(f"not a usable sender address: {sender!r}")
    if not name:
        return address, f"From: {address}\r\n"
    phrase = name if name.isascii() and _PLAIN_NAME.fullmatch(name) else _encoded_words(clean_line(name))
    last_line = f"From: {phrase}".rsplit("\n", 1)[-1]
    separator = " " if len(last_line) + len(address) + 3 <= 78 else "\r\n "
    return address, f"From: {phrase}{separator}<{address}>\r\n"


@lru_cache(maxsize=1024)
def _to_header(recipients: tuple[str, ...]) -> tuple[str, bool]:
    """The To header and whether it needs SMTPUTF8 (an internationalised address, sent as UTF-8: RFC 6532)."""
    if not recipients or not all(_SAFE_ADDRESS.fullmatch(r) for r in recipients):
        raise ValueError(f"not usable recipient addresses: {recipients!r}")
    return "To: " + ",\r\n ".join(recipients) + "\r\n", not all(r.isascii() for r in recipients)


# An address as owners.yaml holds it (validated as an email address there): nothing that could end a header.
_SAFE_ADDRESS = re.compile(r"[^\s<>,;:\"()\[\]\\]+@[^\s<>,;:\"()\[\]\\@]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$%&'*+/^_`{|}~-]+")  # atext and spaces, never "=?"
