"""What callers of the importer pass in and get back, and the error every step raises.

Kept apart from `feedback_ingest.importer` so that the steps can use these without importing the entry point
that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import SurveyResponse

DEFAULT_SURVEY_ID = "palvelustrategia-2026"


class DocumentError(ValueError):
    """The document cannot be imported; the message says what was found."""


@dataclass(frozen=True)
class ImportOptions:
    """What the command line adds to or overrides in the document."""

    respondent_type: RespondentType | None = None
    organization: str | None = None
    title: str | None = None
    response_id: str | None = None
    survey_id: str = DEFAULT_SURVEY_ID


@dataclass(frozen=True)
class ImportResult:
    """The imported response and the warnings about text that was left out."""

    response: SurveyResponse
    warnings: tuple[str, ...] = ()
