"""`Email`: pydantic's `EmailStr`, with its verdict on the part after the @-sign remembered per domain.

Validating an address with email-validator (what `EmailStr` does) cost about 30 µs of a full response's
validation, two thirds of it the domain (Unicode and IDNA rules, character by character), which respondents of
one organisation share. An address of the plain form `local@domain`, whose local part is email-validator's own
dot-atom (so it takes it as it is), is judged here from the verdict on `a@<domain>`, remembered per domain:
the same checks of the domain, the same normalised domain, and the same limit on the whole address. Anything
else (a display name, quotes, Unicode before the @-sign, a mailbox name email-validator lowercases, an address
near the length limit, a domain it refuses) goes through `EmailStr` itself, so every answer and every error
message stays `EmailStr`'s (tests/unit/contracts check the two agree).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from pydantic import EmailStr, ValidatorFunctionWrapHandler, WrapValidator

# Domains remembered: far more organisations than answer one consultation.
DOMAINS_REMEMBERED = 4096


@functools.lru_cache(maxsize=DOMAINS_REMEMBERED)
def _domain(domain: str) -> tuple[str, str] | None:
    """The domain as email-validator normalises it and in IDNA ASCII, or None when it refuses the domain."""
    try:
        parts = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return parts.domain, parts.ascii_domain


def plain_address(value: str) -> str | None:
    """The address as `EmailStr` would return it, when it is of the plain form judged here; else None."""
    local, at, domain = value.rpartition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    known = _domain(domain)
    if known is None:
        return None
    normalized, ascii_domain = known
    longest = max(len(value.encode()), len(local) + 1 + max(len(normalized.encode()), len(ascii_domain)))
    return local + "@" + normalized if longest <= EMAIL_MAX_LENGTH else None


def _email(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
    if isinstance(value, str) and (address := plain_address(value)) is not None:
        return address
    return handler(value)


Email = Annotated[EmailStr, WrapValidator(_email)]
