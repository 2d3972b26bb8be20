"""What a re-routing (a correction applied by classify: the same revision, `routing` one higher) means for the
owners' items (feedback_workspace.items.decide_rerouting, pure): the owner who gains a paragraph gets a new item,
or their item is new again; the owner who loses it keeps the item's state for what is left, or the item is
withdrawn when nothing is; items the correction did not touch are carried as they are."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback_contracts.events import (
    AppliedCorrection,
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.respondents import RespondentType
from feedback_workspace.items import State, StoredItem, decide_rerouting, item_contents

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
TEXTS = [(38, "Järjestöt valmiussuunnitteluun."), (38, "Vapaaehtoiset harjoituksiin."), (39, "Kansainvälinen rekrytointi.")]  # fmt: skip
CORRECTION = AppliedCorrection(
    correction_id="correction-1", paragraph_id=Paragraph(index=2, question=39, text=TEXTS[2][1]).paragraph_id,
    revision=1, add=("5.4.3",), remove=("5.2.2",), by_role="turvallisuus", reason="Kuuluu henkilöstölle.",
    corrected_at=NOW, status="applied",
)  # fmt: skip


def routing(routes: dict[str, tuple[tuple[str, ...], list[int]]], number: int = 1) -> ResponseClassified:
    corrected = {"correction_id": "correction-1", "corrections": (CORRECTION,)} if number > 1 else {}
    return ResponseClassified(
        survey_id="palvelustrategia-2026", response_id="lausunto-1", revision=1, received_at=NOW, classified_at=NOW,
        respondent=PublicRespondent(organization="Esimerkkiyhdistys ry", title=None),
        respondent_type=RespondentType.ORGANIZATION_OR_PARISH,
        paragraphs=tuple(Paragraph(index=i, question=q, text=t) for i, (q, t) in enumerate(TEXTS)),
        routes=tuple(
            SectionRoute(
                section_id=section, section_title=f"Luku {section}", owners=owners,
                paragraphs=tuple(RoutedParagraph(paragraph=i, score=0.5, reasons=(Reason(kind="terms"),)) for i in indexes),
            )
            for section, (owners, indexes) in routes.items()
        ),
        routing=number, **corrected,
    )  # fmt: skip


def stored(event: ResponseClassified, states: dict[str, State], withdrawn: frozenset[str] = frozenset()) -> list[StoredItem]:  # fmt: skip
    """The items of `event` as the store keeps them (with their paragraph ids), in these states by owner."""
    return [
        StoredItem(
            n,
            c.owner_id,
            c.section_id,
            c.digest,
            states.get(c.owner_id, State.NEW),
            c.owner_id in withdrawn,
            c.paragraph_ids,
        )
        for n, c in enumerate(item_contents(event), start=1)
    ]


FIRST = routing({"5.2.2": (("turvallisuus",), [0, 2]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])})
HANDLED = {"turvallisuus": State.HANDLED, "jarjestoyhteistyo": State.READ}


def test_a_paragraph_moved_to_a_new_owner_makes_them_an_item_and_shrinks_the_losers_keeping_its_state() -> None:
    moved = routing({"5.2.2": (("turvallisuus",), [0]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1]), "5.4.3": (("henkilosto",), [2])}, 2)  # fmt: skip
    changes = decide_rerouting(moved, stored(FIRST, HANDLED))
    assert changes.correction_id == "correction-1"
    assert [(c.owner_id, c.section_id, [p["index"] for p in c.paragraphs]) for c in changes.created] == [
        ("henkilosto", "5.4.3", [2])
    ]
    assert [(i.owner_id, i.state, [p["index"] for p in c.paragraphs]) for i, c in changes.shrunk] == [
        ("turvallisuus", State.HANDLED, [0])
    ]
    assert [i.owner_id for i, _ in changes.carried] == ["jarjestoyhteistyo"], "the untouched item is carried"
    assert changes.changed == [] and changes.withdrawn == []


def test_an_owner_left_with_nothing_has_the_item_withdrawn() -> None:
    before = routing({"5.2.2": (("turvallisuus",), [2]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])})
    moved = routing({"5.3.1.3": (("jarjestoyhteistyo",), [0, 1]), "5.4.3": (("henkilosto",), [2])}, 2)
    changes = decide_rerouting(moved, stored(before, HANDLED))
    assert [i.owner_id for i in changes.withdrawn] == ["turvallisuus"]
    assert [c.owner_id for c in changes.created] == ["henkilosto"]


def test_an_owner_whose_item_gains_a_paragraph_has_it_new_again_and_a_withdrawn_item_comes_back() -> None:
    moved = routing({"5.2.2": (("turvallisuus",), [0, 2]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1, 2])}, 2)
    changes = decide_rerouting(moved, stored(FIRST, HANDLED))
    assert [(i.owner_id, i.state) for i, _ in changes.changed] == [("jarjestoyhteistyo", State.READ)]
    back = decide_rerouting(moved, stored(FIRST, HANDLED, withdrawn=frozenset({"turvallisuus"})))
    assert [i.owner_id for i, _ in back.changed] == ["turvallisuus", "jarjestoyhteistyo"]


def test_a_re_routing_that_moves_nothing_for_an_owner_carries_every_item() -> None:
    again = routing({"5.2.2": (("turvallisuus",), [0, 2]), "5.3.1.3": (("jarjestoyhteistyo",), [0, 1])}, 2)
    changes = decide_rerouting(again, stored(FIRST, HANDLED))
    assert len(changes.carried) == 2 and not (changes.created or changes.changed or changes.shrunk or changes.withdrawn)
