"""The questionnaire: questions 1-84 of the form, their respondent type and, where known, their text.

Question texts come from the two public statements of spring 2026 (the city of Hämeenlinna's statement
for 27-35, the survey tool's export of the NGO council's response for 36-44). The other texts are not
public here; the product works with a question whose text it does not know, and a deployment can complete
them from configuration (`read_question_texts`, `Questionnaire.completed`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .respondents import RespondentType

SURVEY_TITLE = "Lausunto palvelustrategian luonnokseen"
FIRST_QUESTION = 1
LAST_QUESTION = 84

_KNOWN_TEXTS: dict[int, str] = {
    1: "Vastaajan tiedot",
    2: (
        "Mitä seuraavista edustat? Valitse vain yksi vaihtoehto. "
        "Sinulle tulevat kysymykset määräytyvät tämän valinnan mukaisesti."
    ),
    27: "Miltä luvun 5 painopisteiden sisällöt näyttävät kunnan näkökulmasta?",
    28: "Tuleeko painopisteiden sisältöjä täsmentää tai korostaa?",
    29: (
        "Miten hyvin strategia huomioi kunnan ja hyvinvointialueen yhdyspinnat "
        "(esim. ennaltaehkäisy, liikunta, nuorisotyö, ikääntyneiden palvelut)?"
    ),
    30: (
        "Miten strategialuonnos tukee kunnan ja hyvinvointialueen yhteisiä tavoitteita liittyen asukkaiden "
        "hyvinvointiin, varhaiseen tukeen ja ennaltaehkäisyyn?"
    ),
    31: "Miten arvioitte strategialuonnoksen sisältöjen vastaavan alueen asukkaiden palvelutarpeisiin tulevien vuosien aikana?",
    32: "Mitä kehittämiskohteita näette yhteisissä palvelupoluissa (esim. nuoret, ikääntyneet, mielenterveys)?",
    33: (
        "Onko strategialuonnoksessa riittävästi ohjaavia linjauksia, joilla voidaan varmistaa kuntien ja "
        "hyvinvointialueen HYTE-rahoituksen pitkäjänteisyys ja kohdentuminen vaikuttaviin toimiin?"
    ),
    34: "Mitä riskejä tai mahdollisuuksia näette strategian yhteisessä toimeenpanossa kuntanne näkökulmasta?",
    35: "Onko palvelustrategiaan liittyen muuta, mitä haluaisitte tuoda esiin kunnan näkökulmasta?",
    36: "Miltä luvussa 5 olevat sisällöt painopisteittäin näyttävät teidän roolistanne katsottuna?",
    37: "Puuttuuko luvusta 5 jotakin keskeistä sisältöä tai painopisteitä järjestöjen ja seurakuntien näkökulmasta?",
    38: (
        "Tuleeko luvun 5 painopisteiden sisältöjä täsmentää tai korostaa joltakin osin? "
        "Mitä asioita olisi tärkeää nostaa selvemmin esiin?"
    ),
    39: (
        "Miten strategian suunta vaikuttaa järjestöjen ja seurakuntien mahdollisuuksiin tukea asukkaita ja "
        "täydentää palveluja hyvinvoinnin ja terveyden edistämiseksi?"
    ),
    40: (
        "Missä asiakasryhmissä ja palveluissa järjestöjen ja seurakuntien tuki on mielestänne erittäin tärkeää "
        "– ja näkykö tämä riittävästi strategiassa? Jos ei näy, miten tätä tulisi täydentää?"
    ),
    41: (
        "Mitä riskejä tai mahdollisuuksia näette palvelustrategian toimeenpanossa järjestöjen ja seurakuntien "
        "näkökulmasta? Mitä erityisesti asukkaiden hyvinvoinnin, osallisuuden sekä matalan kynnyksen tuen "
        "saatavuuden kannalta?"
    ),
    42: (
        "Miten järjestöjen ja seurakuntien roolia voidaan vahvistaa ja selkeyttää tekoälyn ja digipalvelujen "
        "kehittämisessä yhteisten asiakkaiden näkökulmasta?"
    ),
    43: (
        "Miten yhteistyötä Oma Hämeen ja järjestöjen sekä seurakuntien välillä tulisi vahvistaa "
        "palvelustrategian toteuttamiseksi? Mitkä ovat tärkeimmät yhteistyömuodot tai rakenteet, joita toivotte?"
    ),
    44: "Onko palvelustrategiaan liittyen muuta, mitä haluatte nostaa esiin järjestönne tai seurakuntanne näkökulmasta?",
}


class Question(BaseModel):
    """One numbered question of the form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=FIRST_QUESTION, le=LAST_QUESTION, description="Global question number on the form (1-84).")
    respondent_type: RespondentType | None = Field(
        description="Respondent type whose block holds the question; None for the common questions 1 and 2."
    )
    text: str | None = Field(description="The question as the form words it; None where the text is not known.")

    @property
    def text_known(self) -> bool:
        return self.text is not None


class Questionnaire(BaseModel):
    """All questions of the form, by number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(description="The survey's title.")
    questions: tuple[Question, ...] = Field(description="Questions 1-84 in order.")

    def question(self, number: int) -> Question:
        """The question with that global number; KeyError outside 1-84."""
        if not FIRST_QUESTION <= number <= LAST_QUESTION:
            raise KeyError(f"question {number} is outside 1-{LAST_QUESTION}")
        return self.questions[number - 1]

    def completed(self, texts: Mapping[int, str]) -> Questionnaire:
        """This questionnaire with the texts it does not know taken from `texts`; the texts it knows stay."""
        if not texts:
            return self
        questions = tuple(
            q if q.text is not None or not texts.get(q.number) else q.model_copy(update={"text": texts[q.number]})
            for q in self.questions
        )
        return self.model_copy(update={"questions": questions})

    def block(self, respondent_type: RespondentType) -> tuple[Question, ...]:
        """The questions a respondent of this type answers, in order."""
        return tuple(self.questions[n - 1] for n in respondent_type.questions)

    def global_number(self, respondent_type: RespondentType, local_number: int) -> int:
        """Map a document's local numbering (1 = first question of the block) to the form's global number."""
        block = respondent_type.questions
        if not 1 <= local_number <= len(block):
            raise ValueError(
                f"local question {local_number} is outside 1-{len(block)} for respondent type {respondent_type.value}"
            )
        return block[local_number - 1]


@cache
def load_questionnaire() -> Questionnaire:
    """The questionnaire of the spring 2026 consultation."""
    return Questionnaire(
        title=SURVEY_TITLE,
        questions=tuple(
            Question(number=n, respondent_type=RespondentType.for_question(n), text=_KNOWN_TEXTS.get(n))
            for n in range(FIRST_QUESTION, LAST_QUESTION + 1)
        ),
    )


def read_question_texts(path: Path | None) -> dict[int, str]:
    """Question texts from a JSON file {"question number": "text"} (None: none). A number outside 1-84 or a
    text that is not a non-empty string is refused with ValueError, naming it."""
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of question number -> text")
    texts: dict[int, str] = {}
    for key, text in data.items():
        number = int(key) if str(key).strip().isdigit() else -1
        if not FIRST_QUESTION <= number <= LAST_QUESTION:
            raise ValueError(f"{path}: {key!r} is not a question number {FIRST_QUESTION}-{LAST_QUESTION}")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: question {number} needs a non-empty text")
        texts[number] = " ".join(text.split())
    return texts
