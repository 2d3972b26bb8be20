"""How classified revisions become the owners' items: the workspace consumes `feedback.classified.v1` from the real
broker idempotently (the same event twice changes nothing), and a new revision keeps the states of the items whose
paragraphs did not change, makes changed ones `uusi` again and marks the ones it no longer routes as withdrawn."""

from __future__ import annotations

import pytest
from workspace_support import (
    answers_of,
    classified,
    item_id_of,
    item_links,
    main_text,
    mark,
    one,
    owner_paragraphs,
    owners_of,
    parse,
    seed002,
    state_on_page,
    text,
)

from feedback_contracts.events import CLASSIFIED_TOPIC

pytestmark = pytest.mark.integration

HANDLED_NOTE = "Käsitelty ohjausryhmässä 3.4."
ADDED = " Lisäksi järjestöjen vapaaehtoistoiminta on huomioitava ennaltaehkäisyn mittareissa."


def _recorded(workspace, kind: str) -> float:  # noqa: ANN001
    return workspace.registry.get_sample_value("feedback_workspace_events_total", {"outcome": kind}) or 0


def test_the_same_classified_event_consumed_twice_changes_nothing(workspace, producer, eventually) -> None:
    event = classified(seed002(), response_id=f"kahdesti-{workspace.settings.workspace_group_id}")

    def publish() -> None:
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode())
        producer.flush(timeout=10)

    publish()
    eventually(lambda: workspace.items_of(event.response_id), timeout=60, what="the statement's items")
    (owner,) = owners_of(event, "5.2.2")
    item_id = item_id_of(workspace, owner, event.response_id, "5.2.2")
    client = workspace.signed_in(owner)
    assert mark(client, item_id, "kasitelty", HANDLED_NOTE).status_code == 303
    before = workspace.items_of(event.response_id)
    history = workspace.run(workspace.app.state.store.item(item_id))["history"]

    publish()  # a redelivery, or a replay of the topic
    eventually(lambda: _recorded(workspace, "duplicate") == 1, timeout=60, what="the second delivery")
    assert _recorded(workspace, "recorded") == 1
    assert workspace.items_of(event.response_id) == before
    assert workspace.run(workspace.app.state.store.item(item_id))["history"] == history
    assert state_on_page(client, item_id) == "Käsitelty"
    assert len(item_links(client.get("/saapuneet"))) == 1


def test_a_new_revision_keeps_unchanged_items_makes_changed_ones_new_and_marks_withdrawn_ones(workspace) -> None:
    response = seed002()
    first = classified(response, response_id="muokattu-lausunto")
    answers = answers_of(response)
    del answers[37]  # the answer that was routed to 5.3.1.1 (and more) is removed
    answers[44] = answers[44] + ADDED  # the answer whose last paragraph went to 5.2 is added to
    second = classified(response, response_id="muokattu-lausunto", revision=2, answers=answers)
    (kept,), (changed,), (withdrawn,) = owners_of(first, "5.2.2"), owners_of(first, "5.2"), owners_of(first, "5.3.1.1")
    # What the new revision routes, as the test needs it:
    assert owner_paragraphs(second, kept) == owner_paragraphs(first, kept)
    assert owner_paragraphs(second, changed) != owner_paragraphs(first, changed)
    assert withdrawn not in {o for r in second.routes for o in r.owners}

    workspace.record(first)
    ids = {o: item_id_of(workspace, o, first.response_id, s) for o, s in ((kept, "5.2.2"), (changed, "5.2"), (withdrawn, "5.3.1.1"))}  # fmt: skip
    clients = {owner: workspace.signed_in(owner) for owner in ids}
    for owner in ids:
        assert mark(clients[owner], ids[owner], "kasitelty", HANDLED_NOTE).status_code == 303

    (recorded,) = workspace.record(second)
    assert recorded.applied

    kept_page = parse(clients[kept].get(f"/kohteet/{ids[kept]}"))
    assert state_on_page(clients[kept], ids[kept]) == "Käsitelty"
    assert "versio 2" in text(one(kept_page, "//main//p[@class='caption']"))
    assert one(kept_page, "//textarea[@id='muistiinpano']").text == HANDLED_NOTE

    changed_page = clients[changed].get(f"/kohteet/{ids[changed]}")
    assert state_on_page(clients[changed], ids[changed]) == "Uusi"
    assert ADDED.strip() in main_text(changed_page)
    assert "lausunto muuttui (versio 2): uusi" in main_text(changed_page)
    assert HANDLED_NOTE in main_text(changed_page), "the earlier note stays in the history"

    withdrawn_page = clients[withdrawn].get(f"/kohteet/{ids[withdrawn]}")
    assert "Poistunut muokatusta lausunnosta" in main_text(withdrawn_page)
    assert "poistui muokatusta lausunnosta (versio 2)" in main_text(withdrawn_page)
    assert state_on_page(clients[withdrawn], ids[withdrawn]) == "Käsitelty", "its state is kept for the record"
    assert f"/kohteet/{ids[withdrawn]}" not in item_links(clients[withdrawn].get("/saapuneet"))

    # The first revision arriving again late changes nothing.
    (late,) = workspace.record(first)
    assert not late.applied
    assert state_on_page(clients[changed], ids[changed]) == "Uusi"


def test_a_statement_that_routes_a_paragraph_again_brings_a_withdrawn_item_back_as_new(workspace) -> None:
    response = seed002()
    answers = answers_of(response)
    without_37 = {q: t for q, t in answers.items() if q != 37}
    workspace.record(classified(response, response_id="palaava", answers=answers))
    workspace.record(classified(response, response_id="palaava", revision=2, answers=without_37))
    workspace.record(classified(response, response_id="palaava", revision=3, answers=answers))
    (owner,) = owners_of(classified(response, answers=answers), "5.3.1.1")
    item_id = item_id_of(workspace, owner, "palaava", "5.3.1.1")
    client = workspace.signed_in(owner)
    page = client.get(f"/kohteet/{item_id}")
    assert "Poistunut muokatusta lausunnosta" not in main_text(page)
    assert state_on_page(client, item_id) == "Uusi"
    assert item_links(client.get("/saapuneet")) == [f"/kohteet/{item_id}"]
