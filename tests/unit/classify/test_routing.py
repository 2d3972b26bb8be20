"""Routing rules of the walking skeleton: explicit section references and the respondent type's partner section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_classify.classifier import shared_classifier
from feedback_classify.paragraphs import split_paragraphs
from feedback_classify.references import find_references
from feedback_classify.routing import PARTNER_SECTIONS, Router
from feedback_contracts.events import PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer, SurveyResponse
from feedback_contracts.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(
        load_taxonomy(), load_owners(Path(__file__).parents[3] / "config" / "owners.example.yaml"), shared_classifier()
    )


def _ids(text: str) -> list[str]:
    return [ref.section_id for ref in find_references(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Luvussa 5.2.2 Turvallisuus ja kriisinkestävyys tulee nostaa esille", ["5.2.2"]),
        ("Luku 5.3.1.3 Järjestö- ja seurakuntayhteistyö sekä 4. sektori", ["5.3.1.3"]),
        (
            "(käytetty luvuissa 5.1.5 Asiakasmaksujen määrittely sekä 5.2.1 Hyvinvoinnin ja terveyden edistäminen)",
            ["5.1.5", "5.2.1"],
        ),
        ("kuten strategiassa todetaan (luku 5.2.2).", ["5.2.2"]),
        ("Luvun 5.3.1.6 linjaukset", ["5.3.1.6"]),
        ("luvusta 5.4.7 puuttuu", ["5.4.7"]),
        ("luvuissa 5.1, 5.2 ja 5.3", ["5.1", "5.2", "5.3"]),
        ("Ks. kysymys 36 sekä kuvion 7 tiedot, taulukko 3 ja liite 2.", []),
        ("Palkkatuki 100 % ja 5.3 miljoonaa euroa", []),
    ],
)
def test_explicit_references_are_read_in_every_case_form(text: str, expected: list[str]) -> None:
    assert _ids(text) == expected


def test_a_reference_keeps_its_evidence_and_span() -> None:
    text = "Asia on syytä avata esimerkiksi luvussa 5.3 Strategisten kumppanuuksien kehittäminen."
    (ref,) = find_references(text)
    assert ref.match == "luvussa 5.3"
    assert text[ref.span[0] : ref.span[1]] == "luvussa 5.3"


def test_a_paragraph_naming_a_section_is_routed_there_with_the_reference_as_reason(router: Router) -> None:
    sections = router.classifier.classify(
        "Luvussa 5.1.4 Palvelujen monikanavaisuus ja asiakkaan kohtaaminen tulee tuoda esille viestinnän selkeys.",
        36,
        RespondentType.ORGANIZATION_OR_PARISH,
    )
    assert [s.section_id for s in sections] == ["5.1.4"]
    # The reference comes first; the title named after it may stand beside it as a second reason.
    reason = sections[0].reasons[0]
    assert (reason.kind, reason.match, reason.span) == ("reference", "Luvussa 5.1.4", (0, 13))
    assert {r.kind for r in sections[0].reasons} <= {"reference", "title", "similarity"}


def test_a_reference_to_a_section_the_strategy_does_not_have_is_ignored(router: Router) -> None:
    sections = router.classifier.classify("Luvussa 5.9.9 on virhe.", None, RespondentType.COMPANY)
    assert [s.section_id for s in sections] == ["5.3.1.1"]


def test_the_whole_priority_chapter_is_not_a_routing_target(router: Router) -> None:
    sections = router.classifier.classify("Luvun 5 neljä strategista painopistettä ovat kannatettavia.", None, None)
    assert "5" not in [s.section_id for s in sections]
    assert all(r.kind != "reference" for s in sections for r in s.reasons)


@pytest.mark.parametrize(("rtype", "section"), list(PARTNER_SECTIONS.items()))
def test_an_unreferenced_paragraph_goes_to_the_respondent_types_partner_section(
    router: Router, rtype: RespondentType, section: str
) -> None:
    sections = router.classifier.classify("Hyvä, että tätä kehitetään.", None, rtype)
    assert [s.section_id for s in sections] == [section]
    assert sections[0].reasons[0].kind == "respondent_type"


def test_a_paragraph_with_no_signal_goes_to_the_default_owner(router: Router) -> None:
    event = _event(RespondentType.REGIONAL_COUNCIL, [(62, "Ei kommentoitavaa.")])
    classified = router.route(event)
    (route,) = classified.routes
    assert route.section_id is None and route.owners == ("strategiatoimisto",)
    assert route.paragraphs[0].reasons[0].kind == "default"


def test_the_seed_statement_reaches_every_section_it_names(router: Router, seed002_response: dict) -> None:
    response = SurveyResponse.model_validate(seed002_response)
    event = _event(response.respondent_type, [(a.question, a.text) for a in response.answers])
    classified = router.route(event)
    routed = {route.section_id: route for route in classified.routes}
    assert set(routed) >= {"5.1.4", "5.1.5", "5.2", "5.2.1", "5.2.2", "5.3", "5.3.1.1", "5.3.1.3"}
    assert routed["5.2.2"].owners == ("turvallisuus",)
    (paragraph,) = routed["5.2.2"].paragraphs
    assert classified.paragraphs[paragraph.paragraph].text.startswith("Luvussa 5.2.2 Turvallisuus ja kriisinkestävyys")
    # The sentence split by a page break ("... luvussa 5.3 Strategisten kumppanuuksien" / "kehittäminen.") is one paragraph.
    (split,) = [p for p in classified.paragraphs if "luvussa 5.3 Strategisten kumppanuuksien kehittäminen." in p.text]
    assert split.question == 38


def test_a_page_break_inside_a_sentence_is_joined_and_a_heading_stays_with_its_paragraph() -> None:
    text = "Asia on syytä avata luvussa 5.3 Strategisten kumppanuuksien\n\nkehittäminen. Toinen lause.\n\nKotoutuminen\n\nKotoutumispalvelut ovat tärkeitä."
    blocks = [b.text for b in split_paragraphs([(38, text)])]
    assert blocks == [
        "Asia on syytä avata luvussa 5.3 Strategisten kumppanuuksien kehittäminen. Toinen lause.",
        "Kotoutuminen\nKotoutumispalvelut ovat tärkeitä.",
    ]


def test_a_list_stays_with_the_sentence_that_introduces_it() -> None:
    text = "Tarpeellisia ovat ainakin:\n\n- projektirahoitus\n- koulutukset\n\nSeuraava kappale."
    blocks = [b.text for b in split_paragraphs([(36, text)])]
    assert blocks == ["Tarpeellisia ovat ainakin:\n- projektirahoitus\n- koulutukset", "Seuraava kappale."]


def _event(rtype: RespondentType, answers: list[tuple[int, str]]) -> ResponseReceived:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    return ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id="r-1",
        revision=1,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="Testiorganisaatio", title="johtaja"),
        respondent_type=rtype,
        answers=tuple(Answer(question=q, text=t) for q, t in answers),
    )
