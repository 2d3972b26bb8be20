"""The alert email as it goes over the wire, in both forms notify sends (8-bit where the server offers 8BITMIME,
quoted-printable otherwise): a mail reader gets the same message from either, strictly parsed, with lines
SMTP can carry and no header a subject or sender could smuggle in."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from feedback_notify.adapters import _dot_stuffed, _in_smtp_form
from feedback_notify.email_wire import _has_long_line, compose_email
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import Rendered, header_safe, message_id

KEY = DeliveryKey("turvallisuus", "email", "r1", 1)
STRICT = policy.default.clone(raise_on_defect=True)
TEXT = "Hei!\n\nLausunnossa mainitaan luku 5.2.2 – varautuminen.\n.piste rivin alussa\n-- \nLoppu\n"
LONG = "pitkä rivi ilman rivinvaihtoa " * 200  # over SMTP's 998-octet line limit as UTF-8


def _compose(subject: str, text: str, html: str, sender: str = "Oma Hämeen lausuntopalvelu <lausunnot@example.org>"):
    return compose_email(
        Rendered(subject, text, html), sender=sender, recipients=("turvallisuus@example.org",),
        key=KEY, domain="example.org", date=datetime(2026, 3, 20, 10, 0, tzinfo=UTC),
    )  # fmt: skip


@pytest.mark.parametrize("text", [TEXT, LONG, "Rivi\r\nrivi\rrivi\n"])
@pytest.mark.parametrize("eight_bit", [True, False])
def test_both_forms_read_as_the_same_message(text: str, eight_bit: bool) -> None:
    subject = "Lausunto: Kanta-Hämeen järjestöneuvottelukunta (järjestö tai seurakunta) – 3.1 Lakisääteiset palvelut"
    sent = _compose(subject, text, f"<p>{text}</p>")
    data, used_8bit = sent.form(eight_bit=eight_bit)
    message = message_from_bytes(data, policy=STRICT)
    assert message.get_content_type() == "multipart/alternative" and not message.defects
    assert message["Subject"] == subject and message["From"] == "Oma Hämeen lausuntopalvelu <lausunnot@example.org>"
    assert message["To"] == "turvallisuus@example.org" and message["Content-Language"] == "fi"
    assert message["Message-ID"] == message_id(KEY, "example.org") == sent.message_id
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == expected
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == f"<p>{expected}</p>"
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"") and max(len(line) for line in lines) <= 998
    if not eight_bit:
        assert data.isascii() and not used_8bit
    assert used_8bit == (eight_bit and text is not LONG)  # a part SMTP cannot carry as 8-bit goes quoted-printable


@pytest.mark.parametrize(
    "subject", ["Lausunto\r\nBcc: hyokkaaja@example.com", "=?utf-8?b?QmNjOiB4?= Lausunto", "x" * 300]
)
def test_a_subject_never_becomes_another_header(subject: str) -> None:
    data = _compose(subject, TEXT, "<p>x</p>").data
    headers = data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in headers.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert sorted(names) == sorted(
        [b"from", b"to", b"subject", b"message-id", b"date", b"auto-submitted", b"content-language",
         b"mime-version", b"content-type"]
    )  # fmt: skip
    assert message_from_bytes(data, policy=STRICT)["Subject"] == subject


def test_a_configured_sender_adds_no_header_either() -> None:
    data = _compose("Lausunto", TEXT, "<p>x</p>", sender="Lausunnot <lausunnot@example.org>\r\nBcc: x@example.com").data
    message = message_from_bytes(data, policy=STRICT)
    assert message["From"] == "Lausunnot <lausunnot@example.org>" and message["Bcc"] is None
    with pytest.raises(ValueError):  # and one with no usable address sends nothing
        _compose("Lausunto", TEXT, "<p>x</p>", sender="Lausunnot")


@pytest.mark.parametrize("text", [TEXT, LONG, "Rivi\r\nrivi\rrivi\n", ".\n..\n.alussa\r.\r\n"])
@pytest.mark.parametrize("eight_bit", [True, False])
def test_each_form_goes_out_as_aiosmtplib_would_write_it(text: str, eight_bit: bool) -> None:
    """The SMTP sender writes our messages itself (dot-stuffed with one replace): byte for byte what
    aiosmtplib's DATA would have written after its own normalising and dot-stuffing."""
    data, _ = _compose("Lausunto", text, f"<p>{text}</p>").form(eight_bit=eight_bit)
    assert _in_smtp_form(data)
    assert _dot_stuffed(data) == PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"


@pytest.mark.parametrize("data", [b"a\nb\r\n", b"a\rb\r\n", b"a\r\nb", b".a\r\n", b"a\r\r\n"])
def test_anything_not_in_smtp_form_is_left_to_aiosmtplib(data: bytes) -> None:
    assert not _in_smtp_form(data)


@pytest.mark.parametrize(
    "text",
    ["\x00nolla\r", "\x85\u2028\u2029\x0b\x0c\x1c", "\r\r\n\n\r", ".", "\n.\n", "=_rajaus" * 10, LONG + "\r" + LONG],
)
@pytest.mark.parametrize("subject", ["Lausunto", "=?utf-8?b?QQ==?= \r\nBcc: x@y.fi", "ä" * 200, ".alku"])
@pytest.mark.parametrize("eight_bit", [True, False])
def test_every_form_is_in_smtp_form_whatever_the_text(text: str, subject: str, eight_bit: bool) -> None:
    """The SMTP sender trusts an OutgoingEmail's forms to be in SMTP's form without counting their line ends."""
    data, _ = _compose(header_safe(subject), text, f"<p>{text}</p>").form(eight_bit=eight_bit)
    assert _in_smtp_form(data)


def test_a_long_line_is_found_wherever_it_is() -> None:
    """_has_long_line looks once per 999 bytes: the same answer as measuring every line."""
    rng = random.Random(5)
    for _ in range(20_000):
        lengths = [rng.choice([0, 1, 50, 997, 998, 999, 1000, rng.randint(0, 1200)]) for _ in range(rng.randint(1, 6))]
        lines = [b"a" * length for length in lengths]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.3 else b"")
        assert _has_long_line(data) == (max(map(len, data.split(b"\n"))) > 998)
