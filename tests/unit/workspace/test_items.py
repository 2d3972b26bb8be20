"""What a classified revision means for the owners' items (feedback_workspace.items, pure decisions): one item per
owner and section; an item whose paragraphs read the same is carried with its state, one whose paragraphs changed
is new again, one the revision no longer routes is withdrawn, and a withdrawn one routed again comes back."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback_contracts.events import (
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.respondents import RespondentType
from feedback_workspace.items import NO_SECTION, State, StoredItem, decide, item_contents, search_text

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def revision(texts: list[tuple[int, str]], routes: dict[str | None, tuple[tuple[str, ...], list[int]]], number: int = 1) -> ResponseClassified:  # fmt: skip
    """A classified revision: its paragraphs (question, text) and, per section, its owners and paragraph indexes."""
    return ResponseClassified(
        survey_id="palvelustrategia-2026", response_id="lausunto-1", revision=number, received_at=NOW,
        classified_at=NOW, respondent=PublicRespondent(organization="Esimerkkiyhdistys ry", title=None),
        respondent_type=RespondentType.ORGANIZATION_OR_PARISH,
        paragraphs=tuple(Paragraph(index=i, question=q, text=t) for i, (q, t) in enumerate(texts)),
        routes=tuple(
            SectionRoute(
                section_id=section, section_title=f"Luku {section}" if section else None, owners=owners,
                paragraphs=tuple(RoutedParagraph(paragraph=i, score=0.5, reasons=(Reason(kind="reference", match=section, span=(0, 5)),)) for i in indexes),  # noqa: E501
            )
            for section, (owners, indexes) in routes.items()
        ),
    )  # fmt: skip


def stored(event: ResponseClassified, states: dict[tuple[str, str], State] | None = None) -> list[StoredItem]:
    """The items `event` made, as the store keeps them, in the given states."""
    states = states or {}
    return [
        StoredItem(n, c.owner_id, c.section_id, c.digest, states.get(c.key, State.NEW), withdrawn=False)
        for n, c in enumerate(item_contents(event), start=1)
    ]


FIRST = revision(
    [(38, "Luvussa 5.2.2 järjestöt."), (38, "Luvussa 5.2 ennaltaehkäisy."), (37, "Luvussa 5.3.1.1 yritykset.")],
    {"5.2.2": (("turvallisuus",), [0]), "5.2": (("ennaltaehkaisy",), [1]), "5.3.1.1": (("yritysyhteistyo",), [2])},
)


def test_each_owner_of_each_routed_section_gets_one_item_with_its_paragraphs() -> None:
    event = revision([(38, "Yhteinen kappale.")], {"5.3": (("kumppanuudet", "strategiatoimisto"), [0]), None: (("strategiatoimisto",), [0])})  # fmt: skip
    contents = item_contents(event)
    assert [(c.owner_id, c.section_id) for c in contents] == [
        ("kumppanuudet", "5.3"), ("strategiatoimisto", "5.3"), ("strategiatoimisto", NO_SECTION),
    ]  # fmt: skip
    assert contents[0].paragraphs[0]["text"] == "Yhteinen kappale." and contents[0].paragraphs[0]["question"] == 38
    assert decide(event, []).created == contents


def test_the_same_revision_again_carries_every_item_and_creates_none() -> None:
    changes = decide(FIRST, stored(FIRST, {("turvallisuus", "5.2.2"): State.HANDLED}))
    assert not changes.created and not changes.changed and not changes.withdrawn
    assert [item.state for item, _ in changes.carried] == [State.HANDLED, State.NEW, State.NEW]


def test_a_new_revision_carries_unchanged_items_changes_edited_ones_and_withdraws_unrouted_ones() -> None:
    # Paragraph 2 is gone (so the others move), paragraph 1 is edited, paragraph 0 reads as before.
    second = revision(
        [(36, "Uusi alku."), (38, "Luvussa 5.2.2 järjestöt."), (38, "Luvussa 5.2 ennaltaehkäisy ja mittarit.")],
        {"5.2.2": (("turvallisuus",), [1]), "5.2": (("ennaltaehkaisy",), [2])},
        number=2,
    )
    changes = decide(second, stored(FIRST, {k: State.HANDLED for k in [("turvallisuus", "5.2.2"), ("ennaltaehkaisy", "5.2"), ("yritysyhteistyo", "5.3.1.1")]}))  # fmt: skip
    assert [item.owner_id for item, _ in changes.carried] == ["turvallisuus"], "moved, but reads the same"
    assert [item.owner_id for item, _ in changes.changed] == ["ennaltaehkaisy"]
    assert [item.owner_id for item in changes.withdrawn] == ["yritysyhteistyo"]
    assert not changes.created


def test_a_paragraph_moved_to_another_question_is_a_change() -> None:
    moved = revision([(40, "Luvussa 5.2.2 järjestöt.")], {"5.2.2": (("turvallisuus",), [0])}, number=2)
    changes = decide(moved, stored(FIRST)[:1])
    assert [item.owner_id for item, _ in changes.changed] == ["turvallisuus"]


def test_a_withdrawn_item_routed_again_comes_back_changed_and_an_already_withdrawn_one_is_not_withdrawn_twice() -> None:
    items = [
        StoredItem(i.id, i.owner_id, i.section_id, i.paragraphs_digest, i.state, i.owner_id == "yritysyhteistyo")
        for i in stored(FIRST)
    ]
    again = decide(revision([(37, "Luvussa 5.3.1.1 yritykset.")], {"5.3.1.1": (("yritysyhteistyo",), [0])}, 3), items)  # fmt: skip
    assert [item.owner_id for item, _ in again.changed] == ["yritysyhteistyo"], "withdrawn, so new again"
    assert sorted(item.owner_id for item in again.withdrawn) == ["ennaltaehkaisy", "turvallisuus"]


def test_the_free_text_search_covers_the_organisation_and_the_paragraphs_whatever_their_case() -> None:
    (content, *_) = item_contents(FIRST)
    assert search_text("Esimerkkiyhdistys RY", content) == "esimerkkiyhdistys ry\nluvussa 5.2.2 järjestöt."


def test_states_have_finnish_labels() -> None:
    assert [s.label for s in State] == ["Uusi", "Luettu", "Käsitelty", "Ei minulle"]
    assert [s.value for s in State] == ["uusi", "luettu", "kasitelty", "ei_minulle"]
