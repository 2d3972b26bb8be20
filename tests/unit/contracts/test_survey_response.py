"""The body the survey form posts: every rejection rule, and the hygiene applied to accepted text."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import MAX_ANSWER_CHARS, SurveyResponse


def _errors(body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        SurveyResponse.model_validate(body)
    return str(caught.value)


def test_the_seed_statement_is_a_valid_response(seed002_response: dict) -> None:
    response = SurveyResponse.model_validate(seed002_response)
    assert response.respondent_type is RespondentType.ORGANIZATION_OR_PARISH
    assert [a.question for a in response.answers] == list(range(36, 45))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("municipality", RespondentType.MUNICIPALITY),
        ("Kunta tai kaupunki", RespondentType.MUNICIPALITY),
        ("  järjestö   tai SEURAKUNTA ", RespondentType.ORGANIZATION_OR_PARISH),
        ("Työllisyysalue", RespondentType.EMPLOYMENT_AREA),
        (
            "Oma Hämeen lautakunta (elämänkaarilautakunta, terveyden ja toimintakyvyn edistämisen lautakunta, "
            "turvallisuuslautakunta)",
            RespondentType.BOARD,
        ),
        ("Kela tai naapurihyvinvointialue", RespondentType.KELA_OR_NEIGHBOUR_COUNTY),
    ],
)
def test_respondent_type_accepts_the_code_or_the_forms_finnish_label(given: str, expected: RespondentType) -> None:
    assert RespondentType.parse(given) is expected


def test_an_unknown_respondent_type_is_rejected_naming_the_valid_codes(seed002_response: dict) -> None:
    seed002_response["respondent_type"] = "ministeriö"
    message = _errors(seed002_response)
    assert "unknown respondent type 'ministeriö'" in message
    assert "employment_area" in message


@pytest.mark.parametrize(
    ("rtype", "first", "last"),
    [
        (RespondentType.BOARD, 3, 10),
        (RespondentType.INTEGRATION_COMMITTEE, 11, 19),
        (RespondentType.INFLUENCE_BODY, 20, 26),
        (RespondentType.MUNICIPALITY, 27, 35),
        (RespondentType.ORGANIZATION_OR_PARISH, 36, 44),
        (RespondentType.COMPANY, 45, 53),
        (RespondentType.EDUCATION, 54, 61),
        (RespondentType.REGIONAL_COUNCIL, 62, 70),
        (RespondentType.EMPLOYMENT_AREA, 71, 78),
        (RespondentType.KELA_OR_NEIGHBOUR_COUNTY, 79, 84),
    ],
)
def test_each_respondent_type_answers_its_own_block(rtype: RespondentType, first: int, last: int) -> None:
    assert rtype.questions == range(first, last + 1)


def test_a_question_outside_the_respondent_types_block_is_rejected(seed002_response: dict) -> None:
    seed002_response["answers"].append({"question": 45, "text": "Yritysten näkökulma"})
    assert "question 45 is not asked of respondent type organization_or_parish (its questions are 36-44)" in _errors(
        seed002_response
    )


def test_the_common_questions_are_not_answers(seed002_response: dict) -> None:
    seed002_response["answers"].append({"question": 2, "text": "Järjestö tai seurakunta"})
    assert "question 2 is not asked" in _errors(seed002_response)


def test_a_repeated_question_is_rejected(seed002_response: dict) -> None:
    seed002_response["answers"].append({"question": 36, "text": "Toinen vastaus"})
    assert "question 36 is answered more than once" in _errors(seed002_response)


def test_a_response_without_any_non_empty_answer_is_rejected(seed002_response: dict) -> None:
    seed002_response["answers"] = [{"question": 36, "text": "  \n\t "}, {"question": 37, "text": ""}]
    assert "the response has no non-empty answer" in _errors(seed002_response)


def test_an_answer_over_the_limit_is_rejected_with_its_length(seed002_response: dict) -> None:
    seed002_response["answers"][0]["text"] = "a" * (MAX_ANSWER_CHARS + 1)
    assert f"has {MAX_ANSWER_CHARS + 1} characters; the limit is {MAX_ANSWER_CHARS}" in _errors(seed002_response)


def test_an_answer_at_the_limit_is_accepted(seed002_response: dict) -> None:
    seed002_response["answers"][0]["text"] = "a" * MAX_ANSWER_CHARS
    SurveyResponse.model_validate(seed002_response)


@pytest.mark.parametrize("where", ["top", "respondent", "answer"])
def test_unknown_fields_are_rejected_wherever_they_are(seed002_response: dict, where: str) -> None:
    body = copy.deepcopy(seed002_response)
    target = {"top": body, "respondent": body["respondent"], "answer": body["answers"][0]}[where]
    target["ssn"] = "010101-123X"
    assert "ssn" in _errors(body) and "Extra inputs are not permitted" in _errors(body)


@pytest.mark.parametrize("bad_id", ["", "a b", "ä", "x" * 129, "id/../x"])
def test_a_malformed_response_id_is_rejected(seed002_response: dict, bad_id: str) -> None:
    seed002_response["response_id"] = bad_id
    assert "response_id" in _errors(seed002_response)


def test_revision_starts_at_one(seed002_response: dict) -> None:
    seed002_response["revision"] = 0
    assert "revision" in _errors(seed002_response)


def test_submission_time_must_carry_a_timezone(seed002_response: dict) -> None:
    seed002_response["submitted_at"] = "2026-03-20T14:05:00"
    assert "submitted_at" in _errors(seed002_response)


def test_an_invalid_email_is_rejected(seed002_response: dict) -> None:
    seed002_response["respondent"]["email"] = "not-an-address"
    assert "email" in _errors(seed002_response)


def test_text_is_nfc_normalised_and_control_characters_removed(seed002_response: dict) -> None:
    decomposed = "Ka\u0308ytto\u0308"  # "Käyttö" with combining diaeresis
    seed002_response["answers"][0]["text"] = f"{decomposed}\x00\x07 rivi\r\ntoinen\trivi\x1b[31m"
    answer = SurveyResponse.model_validate(seed002_response).answers[0]
    assert answer.text == "Käyttö rivi\ntoinen\trivi[31m"


def test_line_breaks_in_single_line_fields_are_folded_to_spaces(seed002_response: dict) -> None:
    seed002_response["respondent"]["organization"] = "Järjestö\r\nBcc: hyokkaaja@example.com\u2028X"
    response = SurveyResponse.model_validate(seed002_response)
    assert response.respondent.organization == "Järjestö Bcc: hyokkaaja@example.com X"


def test_a_statement_imported_from_a_document_may_lack_contact_details(seed002_response: dict) -> None:
    seed002_response["respondent"] = {"organization": "Hämeenlinnan kaupunki"}
    seed002_response["source"] = "import"
    response = SurveyResponse.model_validate(seed002_response)
    assert response.respondent.email is None and response.respondent.title is None
