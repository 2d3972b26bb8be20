"""Respondent types of the survey "Lausunto palvelustrategian luonnokseen" and their question blocks."""

from __future__ import annotations

import re
from enum import StrEnum


class RespondentType(StrEnum):
    """Question 2 of the form: whom the respondent represents. Decides which block of questions they answer."""

    BOARD = "board"
    INTEGRATION_COMMITTEE = "integration_committee"
    INFLUENCE_BODY = "influence_body"
    MUNICIPALITY = "municipality"
    ORGANIZATION_OR_PARISH = "organization_or_parish"
    COMPANY = "company"
    EDUCATION = "education"
    REGIONAL_COUNCIL = "regional_council"
    EMPLOYMENT_AREA = "employment_area"
    KELA_OR_NEIGHBOUR_COUNTY = "kela_or_neighbour_county"

    @property
    def questions(self) -> range:
        """The block of global question numbers this respondent type answers."""
        first, last = _BLOCKS[self]
        return range(first, last + 1)

    @property
    def label_fi(self) -> str:
        """Short Finnish name, as shown to chapter owners ("työllisyysalue")."""
        return _LABELS_FI[self]

    @property
    def form_label(self) -> str:
        """The option exactly as the form words it."""
        return _FORM_LABELS[self]

    @classmethod
    def parse(cls, value: object) -> RespondentType:
        """Accept a code ("municipality") or the form's Finnish label ("Kunta tai kaupunki"), any case."""
        if isinstance(value, RespondentType):
            return value
        if not isinstance(value, str):
            raise ValueError("respondent type must be a string")
        key = _normalise(value)
        try:
            return _BY_KEY[key]
        except KeyError:
            codes = ", ".join(t.value for t in cls)
            raise ValueError(
                f"unknown respondent type {value!r}; expected one of: {codes} (or the form's Finnish label)"
            ) from None

    @classmethod
    def for_question(cls, number: int) -> RespondentType | None:
        """The respondent type whose block holds question `number` (None for the common questions 1 and 2)."""
        for rtype in cls:
            if number in rtype.questions:
                return rtype
        return None


_BLOCKS: dict[RespondentType, tuple[int, int]] = {
    RespondentType.BOARD: (3, 10),
    RespondentType.INTEGRATION_COMMITTEE: (11, 19),
    RespondentType.INFLUENCE_BODY: (20, 26),
    RespondentType.MUNICIPALITY: (27, 35),
    RespondentType.ORGANIZATION_OR_PARISH: (36, 44),
    RespondentType.COMPANY: (45, 53),
    RespondentType.EDUCATION: (54, 61),
    RespondentType.REGIONAL_COUNCIL: (62, 70),
    RespondentType.EMPLOYMENT_AREA: (71, 78),
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: (79, 84),
}

_FORM_LABELS: dict[RespondentType, str] = {
    RespondentType.BOARD: (
        "Oma Hämeen lautakunta (elämänkaarilautakunta, terveyden ja toimintakyvyn edistämisen lautakunta, "
        "turvallisuuslautakunta)"
    ),
    RespondentType.INTEGRATION_COMMITTEE: "Oma Hämeen integraatiovaliokunta",
    RespondentType.INFLUENCE_BODY: "Oma Hämeen vaikuttamistoimielin",
    RespondentType.MUNICIPALITY: "Kunta tai kaupunki",
    RespondentType.ORGANIZATION_OR_PARISH: "Järjestö tai seurakunta",
    RespondentType.COMPANY: "Yritys tai yksityinen palveluntuottaja",
    RespondentType.EDUCATION: "Koulutusorganisaatio",
    RespondentType.REGIONAL_COUNCIL: "Hämeen liitto",
    RespondentType.EMPLOYMENT_AREA: "Työllisyysalue",
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: "Kela tai naapurihyvinvointialue",
}

_LABELS_FI: dict[RespondentType, str] = {
    RespondentType.BOARD: "Oma Hämeen lautakunta",
    RespondentType.INTEGRATION_COMMITTEE: "Oma Hämeen integraatiovaliokunta",
    RespondentType.INFLUENCE_BODY: "Oma Hämeen vaikuttamistoimielin",
    RespondentType.MUNICIPALITY: "kunta tai kaupunki",
    RespondentType.ORGANIZATION_OR_PARISH: "järjestö tai seurakunta",
    RespondentType.COMPANY: "yritys tai yksityinen palveluntuottaja",
    RespondentType.EDUCATION: "koulutusorganisaatio",
    RespondentType.REGIONAL_COUNCIL: "Hämeen liitto",
    RespondentType.EMPLOYMENT_AREA: "työllisyysalue",
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: "Kela tai naapurihyvinvointialue",
}


def _normalise(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


_BY_KEY: dict[str, RespondentType] = {}
for _t in RespondentType:
    _BY_KEY[_normalise(_t.value)] = _t
    _BY_KEY[_normalise(_FORM_LABELS[_t])] = _t
    _BY_KEY[_normalise(_LABELS_FI[_t])] = _t
