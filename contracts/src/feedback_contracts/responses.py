"""`SurveyResponse`: the body the survey form posts to the ingest API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from .emails import Email
from .respondents import RespondentType
from .text import clean_line, clean_text

MAX_ANSWER_CHARS = 20_000
RESPONSE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

ResponseId = Annotated[
    str,
    Field(
        pattern=RESPONSE_ID_PATTERN,
        description="The form's id of the response: 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'.",
        examples=["lomake-2026-000123"],
    ),
]
Line = Annotated[str, AfterValidator(clean_line), StringConstraints(min_length=1, max_length=300)]
Phone = Annotated[str, AfterValidator(clean_line), StringConstraints(max_length=40, pattern=r"^[0-9 +()./-]*$")]
ParsedRespondentType = Annotated[RespondentType, BeforeValidator(RespondentType.parse)]


class Respondent(BaseModel):
    """Question 1: who answered. Names, email and phone are personal data and never leave ingest.

    The form requires names and email; a statement imported from a document may have none of them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_name: Line | None = Field(default=None, description="Etunimi.")
    last_name: Line | None = Field(default=None, description="Sukunimi.")
    email: Email | None = Field(default=None, description="Sähköposti. Kept in ingest's store only.")
    phone: Phone | None = Field(default=None, description="Puhelin (ei pakollinen). Kept in ingest's store only.")
    organization: Line = Field(description="Edustamani taho/toimija: the organisation represented.")
    title: Line | None = Field(default=None, description="Titteli.")


class Answer(BaseModel):
    """The answer to one numbered question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: int = Field(ge=1, le=84, description="Global question number on the form (1-84).")
    text: Annotated[str, AfterValidator(clean_text)] = Field(
        description=f"The answer as written; NFC-normalised, control characters removed, at most {MAX_ANSWER_CHARS} characters."
    )
    question_text: Annotated[str, AfterValidator(clean_line), StringConstraints(max_length=2000)] | None = Field(
        default=None,
        description="The question as the form showed it, where the form sends it; routing uses it where the "
        "questionnaire has no text of its own for the question.",
    )

    @model_validator(mode="after")
    def _bounded(self) -> Answer:
        if len(self.text) > MAX_ANSWER_CHARS:
            raise ValueError(
                f"answer to question {self.question} has {len(self.text)} characters; the limit is {MAX_ANSWER_CHARS}"
            )
        return self


class SurveyResponse(BaseModel):
    """One submitted (or edited) response of the survey "Lausunto palvelustrategian luonnokseen"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    survey_id: Annotated[str, StringConstraints(pattern=RESPONSE_ID_PATTERN)] = Field(
        description="The survey's id in the form tool.", examples=["palvelustrategia-2026"]
    )
    response_id: ResponseId
    revision: int = Field(
        ge=1, le=2_147_483_647, description="1 for the first submission; an edit comes with a higher revision."
    )
    submitted_at: AwareDatetime = Field(description="When the respondent submitted this revision (with a timezone).")
    respondent: Respondent
    respondent_type: ParsedRespondentType = Field(
        description="Question 2. A code (e.g. 'municipality') or the form's Finnish label (e.g. 'Kunta tai kaupunki')."
    )
    answers: list[Answer] = Field(description="Answers to the respondent type's block of questions.", max_length=84)
    source: Literal["form", "import"] = Field(
        default="form", description="'form' when the survey form posts it; 'import' when it came as a document."
    )

    @model_validator(mode="after")
    def _answers_fit_the_block(self) -> SurveyResponse:
        block = self.respondent_type.questions
        seen: set[int] = set()
        for answer in self.answers:
            if answer.question not in block:
                raise ValueError(
                    f"question {answer.question} is not asked of respondent type {self.respondent_type.value} "
                    f"(its questions are {block.start}-{block.stop - 1})"
                )
            if answer.question in seen:
                raise ValueError(f"question {answer.question} is answered more than once")
            seen.add(answer.question)
        # `not text.isspace()` where text is non-empty: what `text.strip()` says, without copying every answer.
        if not any(answer.text and not answer.text.isspace() for answer in self.answers):
            raise ValueError("the response has no non-empty answer")
        return self
