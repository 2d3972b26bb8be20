"""The respondent's email: `Email` answers exactly as pydantic's `EmailStr` does, address by address, whether
it judges the address from the domain's remembered verdict or hands it to `EmailStr`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from feedback_contracts.emails import Email, plain_address

EMAIL = TypeAdapter(Email)
EMAIL_STR = TypeAdapter(EmailStr)

EXAMPLES = [
    "vastaaja.testi@example.org",
    "Matti.Meikalainen@Hameenlinna.FI",
    "etunimi+lausunto@omahame.fi",
    "a@b.fi",
    "info@example.org",  # a mailbox name email-validator lowercases: EmailStr's own path
    "Postmaster@Example.org",
    "pekka@hämeenlinna.fi",  # an internationalised domain
    "pekka@xn--hmeenlinna-v5a.fi",
    "pekka@example.local",  # special-use domains are refused
    "pekka@localhost",
    "pekka@example.invalid",
    "pekka@192.168.0.1",
    "pekka@[192.168.0.1]",
    "pekka@-example.org",
    "pekka@example..org",
    "pekka@example.org.",
    ".pekka@example.org",
    "pe..kka@example.org",
    '"pekka virtanen"@example.org',
    "Pekka Virtanen <pekka@example.org>",
    " pekka@example.org ",
    "pekka@exam ple.org",
    "pekka@example.org\n",
    "pekka\r@example.org",
    "pekka@",
    "@example.org",
    "pekka",
    "pekka@@example.org",
    "pää@example.org",
    "p" * 64 + "@example.org",
    "p" * 65 + "@example.org",
    "p" * 240 + "@example.org",
    "p" * 242 + "@example.org",
    "pekka@" + "a" * 63 + ".fi",
    "pekka@" + "a" * 64 + ".fi",
    "pekka@" + ".".join(["a" * 60] * 4) + ".fi",
    "pekka@ab--cd.fi",
    "pekka@xn--abc.fi",
    "pekka@example.123",
]


def outcome(adapter: TypeAdapter, value: object) -> tuple[str, object]:
    try:
        return "valid", adapter.validate_python(value)
    except ValidationError as exc:
        return "invalid", [(e["type"], e["msg"]) for e in exc.errors()]


@pytest.mark.parametrize("value", EXAMPLES)
def test_email_answers_as_email_str_does(value: str) -> None:
    assert outcome(EMAIL, value) == outcome(EMAIL_STR, value)


LOCAL = st.text(alphabet="abcAB09.+-_'!#~ä\"@ ", min_size=0, max_size=70)
DOMAIN = st.one_of(
    st.sampled_from(["example.org", "Example.ORG", "omahame.fi", "hämeenlinna.fi", "localhost", "example.local"]),
    st.text(alphabet="abcxn-.0ä", min_size=0, max_size=30),
)


@given(LOCAL, DOMAIN)
def test_any_address_gets_the_same_answer_as_from_email_str(local: str, domain: str) -> None:
    value = f"{local}@{domain}"
    assert outcome(EMAIL, value) == outcome(EMAIL_STR, value)


def test_the_domain_verdict_is_taken_for_plain_addresses_only() -> None:
    assert plain_address("Matti.Meikalainen@Hameenlinna.FI") == "Matti.Meikalainen@hameenlinna.fi"
    assert plain_address("Pekka Virtanen <pekka@example.org>") is None
    assert plain_address("info@example.org") is None
    assert plain_address("pekka@localhost") is None


def test_a_non_string_is_refused_as_email_str_refuses_it() -> None:
    assert outcome(EMAIL, 42) == outcome(EMAIL_STR, 42)
