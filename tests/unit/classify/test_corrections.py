"""Applying people's corrections of routes to a response's routing: pure, no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_classify.corrections import (
    CORRECTED_SCORE,
    CorrectionRefused,
    RoutingHead,
    check,
    corrected,
    final_sections,
    reapplied,
    revision_routing,
)
from feedback_contracts.events import (
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RouteCorrected,
    RoutedParagraph,
    SectionRoute,
    paragraph_id,
)
from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
WORKFORCE = "Kansainvälinen rekrytointi on välttämätöntä, jotta hoitajia riittää."
SERVICES = "Asiakkaan palvelut pitää koota yhteen."
SAFETY = "Valmiussuunnitelmat on päivitettävä."


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def owners() -> OwnersDirectory:
    return load_owners(Path(__file__).parents[3] / "config" / "owners.example.yaml")


def _routed(index: int, kind: str = "terms") -> RoutedParagraph:
    return RoutedParagraph(paragraph=index, score=0.4, reasons=(Reason(kind=kind, terms=("sana",)),))  # type: ignore[arg-type]


def _route(section_id: str | None, title: str | None, owner: str, *indexes: int) -> SectionRoute:
    return SectionRoute(
        section_id=section_id,
        section_title=title,
        owners=(owner,),
        paragraphs=tuple(_routed(i, "terms" if section_id else "default") for i in indexes),
    )


def _routing(texts: list[str], routes: list[SectionRoute], revision: int = 1, routing: int = 1) -> ResponseClassified:
    return ResponseClassified(
        survey_id="palvelustrategia-2026",
        response_id="r-1",
        revision=revision,
        received_at=NOW,
        classified_at=NOW,
        respondent=PublicRespondent(organization="Hämeenlinnan kaupunki", title=None),
        respondent_type=RespondentType.MUNICIPALITY,
        paragraphs=tuple(Paragraph(index=i, question=27, text=t) for i, t in enumerate(texts)),
        routes=tuple(routes),
        routing=routing,
    )


def _first_routing() -> ResponseClassified:
    """WORKFORCE and SERVICES routed to 5.1.1, SAFETY to 5.2.2."""
    return _routing(
        [WORKFORCE, SERVICES, SAFETY],
        [
            _route("5.1.1", "Kohti asiakaslähtöistä palvelukulttuuria", "asiakaslahtoinen-palvelukulttuuri", 0, 1),
            _route("5.2.2", "Turvallisuus ja kriisinkestävyys", "turvallisuus", 2),
        ],
    )


def _correction(
    text: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = (), cid: str = "c-1"
) -> RouteCorrected:
    return RouteCorrected(
        correction_id=cid,
        response_id="r-1",
        revision=1,
        paragraph_id=paragraph_id(27, text),
        question=27,
        text=text,
        respondent_type=RespondentType.MUNICIPALITY,
        add=add,
        remove=remove,
        by_role="asiakaslahtoinen-palvelukulttuuri",
        reason="Kyse on henkilöstön saatavuudesta.",
        corrected_at=NOW,
    )


def _sections(routing: ResponseClassified) -> dict[str | None, list[int]]:
    return {r.section_id: [p.paragraph for p in r.paragraphs] for r in routing.routes}


def test_an_owner_moves_a_paragraph_from_their_section_to_the_right_one(taxonomy, owners) -> None:
    move = _correction(WORKFORCE, add=("5.4.3",), remove=("5.1.1",))
    result = corrected(_first_routing(), move, [], taxonomy, owners, NOW)

    assert _sections(result) == {"5.1.1": [1], "5.2.2": [2], "5.4.3": [0]}
    (workforce,) = [r for r in result.routes if r.section_id == "5.4.3"]
    assert workforce.section_title == "Sitoutunut ja kyvykäs henkilöstö"
    assert workforce.owners == ("henkilosto",)
    (moved,) = workforce.paragraphs
    assert moved.score == CORRECTED_SCORE
    assert moved.reasons == (Reason(kind="correction", correction=move.note()),)
    assert (result.revision, result.routing, result.correction_id) == (1, 2, "c-1")
    assert [(c.correction_id, c.status) for c in result.corrections] == [("c-1", "applied")]
    assert final_sections(result, move.paragraph_id) == ("5.4.3",)


def test_moving_the_only_paragraph_of_a_section_drops_that_section(taxonomy, owners) -> None:
    result = corrected(_first_routing(), _correction(SAFETY, add=("8",), remove=("5.2.2",)), [], taxonomy, owners, NOW)

    assert _sections(result) == {"5.1.1": [0, 1], "8": [2]}
    assert "turvallisuus" not in result.owners()
    assert "toimeenpano-ja-seuranta" in result.owners()


def test_the_office_adds_a_section_and_the_paragraph_stays_where_it_was(taxonomy, owners) -> None:
    result = corrected(_first_routing(), _correction(SAFETY, add=("5.1.1",)), [], taxonomy, owners, NOW)

    # In document order within the section, the sections in the strategy's order.
    assert _sections(result) == {"5.1.1": [0, 1, 2], "5.2.2": [2]}
    untouched = next(r for r in result.routes if r.section_id == "5.2.2")
    assert untouched == _first_routing().routes[1]


def test_a_paragraph_removed_from_its_only_section_goes_to_the_default_owner(taxonomy, owners) -> None:
    result = corrected(_first_routing(), _correction(SAFETY, remove=("5.2.2",)), [], taxonomy, owners, NOW)

    assert _sections(result) == {"5.1.1": [0, 1], None: [2]}
    default = result.routes[-1]
    assert default.owners == ("strategiatoimisto",) and default.section_title is None
    assert [r.kind for r in default.paragraphs[0].reasons] == ["correction", "default"]
    assert final_sections(result, paragraph_id(27, SAFETY)) == ()


def test_a_paragraph_nobody_matched_leaves_the_default_owner_when_a_section_is_added(taxonomy, owners) -> None:
    first = _routing(
        [WORKFORCE, SAFETY],
        [_route("5.2.2", "Turvallisuus", "turvallisuus", 1), _route(None, None, "strategiatoimisto", 0)],
    )

    result = corrected(first, _correction(WORKFORCE, add=("5.4.3",)), [], taxonomy, owners, NOW)

    assert _sections(result) == {"5.2.2": [1], "5.4.3": [0]}


def test_identical_paragraphs_of_a_question_are_corrected_together(taxonomy, owners) -> None:
    first = _routing(
        [SAFETY, SERVICES, SAFETY],
        [
            _route("5.2.2", "Turvallisuus", "turvallisuus", 0, 2),
            _route("5.1.1", "Kohti", "asiakaslahtoinen-palvelukulttuuri", 1),
        ],
    )

    result = corrected(first, _correction(SAFETY, add=("5.2.1",), remove=("5.2.2",)), [], taxonomy, owners, NOW)

    assert _sections(result) == {"5.1.1": [1], "5.2.1": [0, 2]}


def test_a_second_correction_counts_on_and_lists_both(taxonomy, owners) -> None:
    first = _correction(WORKFORCE, add=("5.4.3",), remove=("5.1.1",))
    second = _correction(SAFETY, add=("5.4.3",), cid="c-2")
    once = corrected(_first_routing(), first, [], taxonomy, owners, NOW)

    twice = corrected(once, second, [first], taxonomy, owners, NOW)

    assert (twice.routing, twice.correction_id) == (3, "c-2")
    assert _sections(twice) == {"5.1.1": [1], "5.2.2": [2], "5.4.3": [0, 2]}
    assert [c.correction_id for c in twice.corrections] == ["c-1", "c-2"]


def test_a_correction_of_an_unknown_response_paragraph_or_section_is_refused(taxonomy) -> None:
    with pytest.raises(CorrectionRefused, match="unknown response 'r-1'"):
        check(None, _correction(SAFETY, add=("5.2.1",)), taxonomy)
    with pytest.raises(CorrectionRefused, match="is not in the latest revision"):
        check(_first_routing(), _correction("Tätä kappaletta ei ole.", add=("5.2.1",)), taxonomy)
    with pytest.raises(CorrectionRefused, match=r"unknown section\(s\) 9\.9"):
        check(_first_routing(), _correction(SAFETY, add=("9.9",)), taxonomy)


def test_a_new_revision_keeps_a_correction_of_an_unchanged_paragraph_and_drops_one_of_a_changed_paragraph(
    taxonomy, owners
) -> None:
    kept = _correction(WORKFORCE, add=("5.4.3",), remove=("5.1.1",))
    lost = _correction(SAFETY, add=("8",), remove=("5.2.2",), cid="c-2")
    edited = SAFETY + " Myös harjoitukset."
    # The classifier routes the new revision as before: the unchanged paragraph back to 5.1.1.
    fresh = _routing(
        [WORKFORCE, SERVICES, edited],
        [
            _route("5.1.1", "Kohti asiakaslähtöistä palvelukulttuuria", "asiakaslahtoinen-palvelukulttuuri", 0, 1),
            _route("5.2.2", "Turvallisuus ja kriisinkestävyys", "turvallisuus", 2),
        ],
        revision=2,
    )

    result = reapplied(fresh, [kept, lost], taxonomy, owners)

    assert _sections(result) == {"5.1.1": [1], "5.2.2": [2], "5.4.3": [0]}
    assert [(c.correction_id, c.status, c.revision) for c in result.corrections] == [
        ("c-1", "applied", 1),
        ("c-2", "dropped", 1),
    ]
    assert (result.revision, result.routing, result.correction_id) == (2, 1, None)


def test_a_revision_older_than_the_stored_one_is_not_routed_again_and_the_same_one_keeps_its_routing_number(
    taxonomy, owners
) -> None:
    fresh = _first_routing()
    correction = _correction(WORKFORCE, add=("5.4.3",), remove=("5.1.1",))

    assert revision_routing(fresh, RoutingHead(2, 1, None), [], taxonomy, owners) is None
    again = revision_routing(fresh, RoutingHead(1, 2, "c-1"), [correction], taxonomy, owners)
    assert again is not None and (again.routing, again.correction_id) == (2, "c-1")
    assert _sections(again) == {"5.1.1": [1], "5.2.2": [2], "5.4.3": [0]}
    newer = revision_routing(fresh.model_copy(update={"revision": 3}), RoutingHead(2, 4, "c-9"), [], taxonomy, owners)
    assert newer is not None and (newer.revision, newer.routing, newer.correction_id) == (3, 1, None)
