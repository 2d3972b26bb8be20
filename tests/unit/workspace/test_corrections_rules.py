"""The rules of correcting a route (feedback_workspace.corrections, pure): the office adds and removes any section;
an owner corrects only paragraphs that were ever routed to them, removes only their own sections and adds any;
every refusal says what is wrong in English (the API) and Finnish (the pages), with the status the API answers;
the sections a paragraph has now include corrections classify has not applied yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_contracts.events import (
    AppliedCorrection,
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy
from feedback_workspace.corrections import (
    Actor,
    CorrectionRequest,
    Refusal,
    StatementRoutes,
    StoredCorrection,
    check,
    choices,
    in_strategy_order,
    new_correction_id,
)

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
TAXONOMY = load_taxonomy()
DIRECTORY = load_owners(Path(__file__).parents[3] / "config" / "owners.example.yaml")
OFFICE = Actor(("strategiatoimisto",), office=True)
SAFETY = Actor(("turvallisuus",), office=False)  # owns 5.2.2
STAFF = Actor(("henkilosto",), office=False)  # owns 5.4.3, never received anything of this statement
PARTNERS = Actor(("jarjestoyhteistyo",), office=False)  # owns 5.3.1.3

TEXTS = [
    (38, "Järjestöt on otettava mukaan valmiussuunnitteluun ja harjoituksiin."),
    (39, "Kansainvälinen rekrytointi helpottaisi hoitajapulaa."),
]
FIRST, SECOND = (Paragraph(index=i, question=q, text=t).paragraph_id for i, (q, t) in enumerate(TEXTS))


def routed(routes: dict[str, tuple[tuple[str, ...], list[int]]], **changes: object) -> ResponseClassified:
    return ResponseClassified(
        survey_id="palvelustrategia-2026", response_id="lausunto-1", revision=1, received_at=NOW, classified_at=NOW,
        respondent=PublicRespondent(organization="Esimerkkiyhdistys ry", title=None),
        respondent_type=RespondentType.ORGANIZATION_OR_PARISH,
        paragraphs=tuple(Paragraph(index=i, question=q, text=t) for i, (q, t) in enumerate(TEXTS)),
        routes=tuple(
            SectionRoute(
                section_id=section, section_title=TAXONOMY.get(section).title, owners=owners,
                paragraphs=tuple(RoutedParagraph(paragraph=i, score=0.5, reasons=(Reason(kind="terms"),)) for i in indexes),
            )
            for section, (owners, indexes) in routes.items()
        ),
        **changes,
    )  # fmt: skip


EVENT = routed({"5.2.2": (("turvallisuus",), [0]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])})
ROUTES = StatementRoutes(
    EVENT, (), {FIRST: frozenset({"turvallisuus", "jarjestoyhteistyo"}), SECOND: frozenset({"jarjestoyhteistyo"})}
)


def ask(paragraph: str = FIRST, add: tuple[str, ...] = (), remove: tuple[str, ...] = (), reason: str = "Kuuluu muualle.", **more: str) -> CorrectionRequest:  # fmt: skip
    return CorrectionRequest("lausunto-1", paragraph, add, remove, reason, **more)


def refusal(request: CorrectionRequest, actor: Actor, routes: StatementRoutes | None = ROUTES) -> Refusal:
    with pytest.raises(Refusal) as refused:
        check(request, actor, routes, TAXONOMY, DIRECTORY)
    return refused.value


def stored(correction_id: str, paragraph: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> StoredCorrection:  # fmt: skip
    return StoredCorrection(
        correction_id, "lausunto-1", 1, paragraph, 38, TEXTS[0][1], add, remove, "strategiatoimisto", True,
        "Kuuluu muualle.", NOW, "page",
    )  # fmt: skip


def test_an_owner_sends_their_section_away_and_names_where_it_belongs() -> None:
    assert check(ask(add=("5.4.3",), remove=("5.2.2",)), SAFETY, ROUTES, TAXONOMY, DIRECTORY) == "turvallisuus"


def test_the_office_adds_and_removes_any_section_in_its_own_name() -> None:
    request = ask(add=("5.4.3", "7.1"), remove=("5.2.2", "5.3.1.3"))
    assert check(request, OFFICE, ROUTES, TAXONOMY, DIRECTORY) == "strategiatoimisto"


def test_an_owner_may_add_any_section_to_a_paragraph_routed_to_them() -> None:
    assert check(ask(add=("8",)), PARTNERS, ROUTES, TAXONOMY, DIRECTORY) == "jarjestoyhteistyo"


def test_a_paragraph_that_was_never_the_owners_is_refused_with_403() -> None:
    refused = refusal(ask(add=("5.4.3",)), STAFF)
    assert (refused.status, refused.english, refused.finnish) == (
        403,
        "the paragraph was never routed to henkilosto: an owner corrects only their own",
        "Voit korjata vain sinulle ohjattujen kohtien ohjausta.",
    )
    assert refusal(ask(SECOND, add=("5.4.3",)), SAFETY).status == 403, "5.2.2's owner never got the second one"


def test_an_owner_may_not_remove_another_owners_section() -> None:
    refused = refusal(ask(remove=("5.3.1.3",)), SAFETY)
    assert (refused.status, refused.field) == (403, "poista")
    assert refused.english == "an owner removes only their own sections; section 5.3.1.3 is not turvallisuus's"
    assert refused.finnish == "Voit poistaa kohdan vain omista luvuistasi: luku 5.3.1.3 ei ole sinun."


def test_an_owner_who_once_received_a_paragraph_may_still_correct_it_after_it_was_moved_away() -> None:
    moved = routed({"5.4.3": (("henkilosto",), [0]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])}, routing=2)
    routes = StatementRoutes(moved, (), ROUTES.received_by)
    assert check(ask(add=("5.2.2",), remove=()), SAFETY, routes, TAXONOMY, DIRECTORY) == "turvallisuus"


@pytest.mark.parametrize(
    ("request_", "status", "field", "english", "finnish"),
    [
        (
            ask(add=("5.4.3",), reason="  "),
            422,
            "syy",
            "a reason is required",
            "Kerro lyhyesti, miksi ohjausta korjataan.",
        ),
        (
            ask(add=("5.4.3",), reason="x" * 1001),
            422,
            "syy",
            "the reason is over 1000 characters",
            "Perustelu on liian pitkä (enintään 1000 merkkiä).",
        ),
        (
            ask(),
            422,
            "lisaa",
            "name at least one section to add or remove",
            "Valitse luku, josta kohta poistetaan, tai luku, johon se lisätään.",
        ),
        (
            ask(add=("9.9",)),
            422,
            "lisaa",
            "unknown section '9.9': not a section of the strategy",
            "Lukua 9.9 ei ole palvelustrategiassa.",
        ),
        (
            ask(remove=("5.9",)),
            422,
            "poista",
            "unknown section '5.9': not a section of the strategy",
            "Lukua 5.9 ei ole palvelustrategiassa.",
        ),
        (
            ask(add=("5.4.3",), remove=("5.4.3",)),
            422,
            "lisaa",
            "section 5.4.3 is both added and removed",
            "Samaa lukua ei voi sekä lisätä että poistaa.",
        ),
        (
            ask("q38-000000000000", add=("5.4.3",)),
            404,
            "kohta",
            "paragraph 'q38-000000000000' is not in the latest revision (1) of statement 'lausunto-1'",
            "Kohtaa ei ole lausunnon uusimmassa versiossa: lausunto on ehkä muuttunut. Korjaa uusimman version kohtaa.",
        ),
        (
            ask(add=("5.2.2",)),
            409,
            "lisaa",
            "the paragraph is already routed to section 5.2.2",
            "Kohta on jo ohjattu lukuun 5.2.2 Turvallisuus ja kriisinkestävyys.",
        ),
        (
            ask(remove=("5.4.3",)),
            409,
            "poista",
            "the paragraph is not routed to section 5.4.3",
            "Kohtaa ei ole ohjattu lukuun 5.4.3 Sitoutunut ja kyvykäs henkilöstö.",
        ),
        (
            ask(add=("5.4.3",), correction_id="12345"),
            422,
            None,
            "correction_id must be at most 100 letters, digits, '-', '_' or '.', not only digits",
            "Korjauksen tunniste ei kelpaa.",
        ),
    ],
    ids=[
        "blank reason",
        "long reason",
        "nothing",
        "unknown added",
        "unknown removed",
        "both",
        "unknown paragraph",
        "has it",
        "lacks it",
        "digits id",
    ],  # fmt: skip
)
def test_each_refusal_says_what_is_wrong(request_, status: int, field: str | None, english: str, finnish: str) -> None:
    refused = refusal(request_, OFFICE)
    assert (refused.status, refused.field, refused.english, refused.finnish) == (status, field, english, finnish)


def test_a_statement_that_is_not_there_is_refused_with_404() -> None:
    refused = refusal(ask(add=("5.4.3",)), OFFICE, routes=None)
    assert (refused.status, refused.english) == (404, "no statement 'lausunto-1'")


def test_input_is_checked_before_the_statement_and_the_right_before_the_paragraphs_sections() -> None:
    assert refusal(ask(add=("9.9",)), STAFF, routes=None).status == 422
    assert refusal(ask(add=("5.2.2",)), STAFF).status == 403, "never theirs, though it also has 5.2.2 already"


def test_a_pending_correction_counts_in_what_the_paragraph_has_now() -> None:
    pending = stored("correction-a", FIRST, add=("5.4.3",), remove=("5.2.2",))
    routes = StatementRoutes(EVENT, (pending,), ROUTES.received_by)
    assert routes.status("correction-a") == "pending"
    assert routes.sections(FIRST) == ["5.3.1.3", "5.4.3"]
    assert refusal(ask(add=("5.4.3",)), OFFICE, routes).status == 409
    assert refusal(ask(remove=("5.2.2",)), OFFICE, routes).status == 409


def test_a_correction_the_routing_lists_is_applied_or_dropped_as_it_says_and_no_longer_laid_over() -> None:
    applied = stored("correction-a", FIRST, add=("5.4.3",), remove=("5.2.2",))
    listed = AppliedCorrection(
        correction_id="correction-a", paragraph_id=FIRST, revision=1, add=("5.4.3",), remove=("5.2.2",),
        by_role="strategiatoimisto", reason="Kuuluu muualle.", corrected_at=NOW, status="applied",
    )  # fmt: skip
    rerouted = routed({"5.4.3": (("henkilosto",), [0]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])}, routing=2, correction_id="correction-a", corrections=(listed,))  # fmt: skip
    routes = StatementRoutes(rerouted, (applied,), ROUTES.received_by)
    assert routes.status("correction-a") == "applied" and routes.pending() == []
    assert routes.sections(FIRST) == ["5.4.3", "5.3.1.3"]
    dropped = rerouted.model_copy(update={"corrections": (listed.model_copy(update={"status": "dropped"}),)})
    assert StatementRoutes(dropped, (applied,)).status("correction-a") == "dropped"


def test_the_form_offers_an_owner_their_own_sections_to_remove_and_every_other_section_to_add() -> None:
    offered = choices(SAFETY, ROUTES, FIRST, TAXONOMY, DIRECTORY)
    assert offered is not None and offered.removable == [("5.2.2", "Turvallisuus ja kriisinkestävyys")]
    added = [section for section, _ in offered.addable]
    assert "5.2.2" not in added and "5.3.1.3" not in added
    assert added == [s.id for s in TAXONOMY.sections if s.id not in {"5.2.2", "5.3.1.3"}], "in the draft's order"
    assert choices(SAFETY, ROUTES, SECOND, TAXONOMY, DIRECTORY) is None, "not theirs: no form"
    office = choices(OFFICE, ROUTES, SECOND, TAXONOMY, DIRECTORY)
    assert office is not None and [s for s, _ in office.removable] == ["5.3.1.3"]


def test_sections_are_put_in_the_drafts_order_once_each_and_ids_are_new_every_time() -> None:
    assert in_strategy_order([" 5.4.3", "5.1.3", "5.4.3", "9.9", ""], TAXONOMY) == ("5.1.3", "5.4.3", "9.9")
    first, second = new_correction_id(), new_correction_id()
    assert first != second and first.startswith("correction-")
