"""Classify's HTTP API: `POST /v1/classify` routes one paragraph, for support and integrations."""

from __future__ import annotations

import json
from collections.abc import Callable

from faststream.asgi import AsgiResponse, Request, post

from feedback_contracts.questionnaire import FIRST_QUESTION, LAST_QUESTION
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import MAX_ANSWER_CHARS
from feedback_runtime.asgi import json_response, unauthorized

from .classifier import Classifier, SectionScore
from .precedents import PrecedentIndex

# As `Answer.question_text` allows.
MAX_QUESTION_TEXT_CHARS = 2000


def sections_json(sections: list[SectionScore]) -> list[dict]:
    """The JSON shape of a routing: [{"id", "score", "reasons"}]."""
    return [
        {
            "id": s.section_id,
            "score": s.score,
            "reasons": [r.model_dump(mode="json", exclude_defaults=True) for r in s.reasons],
        }
        for s in sections
    ]


def classify_route(
    classifier: Callable[[], Classifier], admin_tokens: tuple[str, ...], precedents: PrecedentIndex | None = None
) -> tuple[str, object]:
    """`POST /v1/classify` (bearer token from ADMIN_API_TOKENS): {text, question?, question_text?,
    respondent_type?, response_id?, id?} -> {id, sections: [{id, score, reasons}]}, routed as the service routes
    (with its precedents; those of `response_id` do not count)."""

    @post(
        description="Route one paragraph (bearer token from ADMIN_API_TOKENS): "
        "{text, question?, question_text?, respondent_type?, response_id?} -> {sections: [{id, score, reasons}]}"
    )
    async def classify_text(request: Request) -> AsgiResponse:
        if refusal := unauthorized(request, admin_tokens):
            return refusal
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise ValueError("expected a JSON object with a string 'text'")
            if len(body["text"]) > MAX_ANSWER_CHARS:
                raise ValueError(f"text over {MAX_ANSWER_CHARS} characters")
            rtype = RespondentType.parse(body["respondent_type"]) if body.get("respondent_type") else None
            question = body.get("question")
            if question is not None and (
                not isinstance(question, int) or not FIRST_QUESTION <= question <= LAST_QUESTION
            ):
                raise ValueError(f"question must be a whole number {FIRST_QUESTION}-{LAST_QUESTION}")
            question_text, response_id = body.get("question_text"), body.get("response_id")
            if not isinstance(question_text, str | None) or not isinstance(response_id, str | None):
                raise ValueError("question_text and response_id must be strings")
            if question_text is not None and len(question_text) > MAX_QUESTION_TEXT_CHARS:
                raise ValueError(f"question_text over {MAX_QUESTION_TEXT_CHARS} characters")
        except ValueError as exc:
            return json_response({"detail": str(exc)}, 422)
        sections = classifier().classify(
            body["text"],
            question,
            rtype,
            question_text=question_text,
            precedents=precedents,
            exclude_response=response_id,
        )
        return json_response({"id": body.get("id"), "sections": sections_json(sections)})

    return ("/v1/classify", classify_text)
