"""Build the `SurveyResponse` from what the document says and what the command line adds."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime

from pydantic import EmailStr, TypeAdapter, ValidationError

from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Phone, SurveyResponse

from .api import DocumentError, ImportOptions
from .details import Found
from .text import comparison_form, excerpt

# 96 bits of the digest: a collision is out of reach for any survey's number of statements, and the id stays
# short enough to quote.
_RESPONSE_ID_HEX_CHARS = 24
# An imported document is a first submission; an edit would come with a higher revision.
_FIRST_REVISION = 1

_EMAIL = TypeAdapter(EmailStr)
_PHONE = TypeAdapter(Phone)


def build_response(
    options: ImportOptions,
    found: Found,
    rtype: RespondentType,
    answers: dict[int, str],
    *,
    modified_at: datetime,
    questions: dict[int, str] | None = None,
) -> SurveyResponse:
    """The response the form would have posted; `modified_at` is used unless the document states its date.
    `questions`: the question texts the document carries, kept with their answers (routing uses them)."""
    asked = questions or {}
    organisation = _organisation(found, options)
    try:
        return SurveyResponse(
            survey_id=options.survey_id,
            response_id=options.response_id or derived_response_id(rtype, answers),
            revision=_FIRST_REVISION,
            submitted_at=found.submitted_at or modified_at,
            respondent=_respondent(found, organisation, options),
            respondent_type=rtype,
            answers=[
                {"question": n, "text": t} | ({"question_text": asked[n]} if asked.get(n) else {})
                for n, t in answers.items()
            ],
            source="import",
        )
    except ValidationError as exc:
        raise DocumentError(_validation_message(exc)) from None


def derived_response_id(rtype: RespondentType, answers: dict[int, str]) -> str:
    """A stable id from the content: the same document gives the same id, a changed answer another one."""
    digest = hashlib.sha256(rtype.value.encode())
    for number in sorted(answers):
        text = " ".join(unicodedata.normalize("NFC", answers[number]).split())
        digest.update(f"\n{number}\n{text}".encode())
    return "import-" + digest.hexdigest()[:_RESPONSE_ID_HEX_CHARS]


def _valid_or_none(name: str, value: str | None, adapter: TypeAdapter, warnings: list[str]) -> str | None:
    if value is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError:
        # Contact data is personal: the warning names the field, never the value.
        warnings.append(f"the document's {name} is not valid; left out")
        return None
    return value


def _respondent(found: Found, organisation: str, options: ImportOptions) -> dict[str, str | None]:
    details = dict(found.respondent)
    return {
        "first_name": details.get("first_name"),
        "last_name": details.get("last_name"),
        "email": _valid_or_none("email address", details.get("email"), _EMAIL, found.warnings),
        "phone": _valid_or_none("phone number", details.get("phone"), _PHONE, found.warnings),
        "organization": organisation,
        "title": options.title or details.get("title"),
    }


def _organisation(found: Found, options: ImportOptions) -> str:
    stated = found.respondent.get("organization")
    line = found.organisation_line
    if options.organization and line and comparison_form(line) != comparison_form(options.organization):
        found.warnings.append(f"dropped text before the first question: {excerpt(line)!r}")
    organisation = options.organization or stated or line
    if not organisation:
        raise DocumentError(
            "the document does not name the respondent's organisation "
            "(no 'Edustamani taho/toimija' line and no organisation name before the first question); "
            "pass --organization"
        )
    return organisation


def _validation_message(error: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'response'}: {e['msg']}" for e in error.errors()]
    return "the imported response is not valid: " + "; ".join(problems)
