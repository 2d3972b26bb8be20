"""The workspace's corrections API against the real broker and a real database (SQLite and PostgreSQL), as support
and integrations use it with a token from ADMIN_API_TOKENS: a statement's paragraphs with ids that stay the same
across revisions; a correction kept and published once on feedback.corrections.v1 (the same id again publishes
nothing); classify's re-routing consumed, moving the paragraph from one owner's items to another's; the
corrected paragraphs as labels."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from corrections_support import ADMIN_TOKEN, api, paragraph_of, rerouted, sections_of, served_with_api
from workspace_support import Workspace, answers_of, classified, item_id_of, owners_of, seed002

from feedback_contracts.events import CLASSIFIED_TOPIC, CORRECTIONS_TOPIC, EVENT_TYPE_HEADER, RouteCorrected

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[Workspace]:
    """conftest's workspace, with a token for its API."""
    yield from served_with_api(kafka_bootstrap, database_url, unique)


REASON = "Kansainvälinen rekrytointi on henkilöstön saatavuutta, ei varautumista."
GAINER = "henkilosto"  # owns 5.4.3, which seed 002 does not reach


def _corrections_on_topic(topics, correction_id: str, count: int = 1) -> list:
    def named(record) -> bool:
        return RouteCorrected.model_validate_json(record.value).correction_id == correction_id

    return topics.wait_for(CORRECTIONS_TOPIC, named, count=count, timeout=30)


def _counted(workspace, name: str, labels: dict) -> float:
    return workspace.registry.get_sample_value(name, labels) or 0


def test_a_statements_paragraphs_have_ids_that_stay_the_same_while_their_text_does(workspace) -> None:
    response = seed002()
    first = classified(response, response_id="vakaat-tunnisteet")
    answers = answers_of(response)
    answers[44] += " Lisäksi vapaaehtoistoiminta on huomioitava mittareissa."
    second = classified(response, response_id="vakaat-tunnisteet", revision=2, answers=answers)
    workspace.record(first)
    client = api(workspace)

    answer = client.get("/api/statements/vakaat-tunnisteet")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["revision"], body["routing"], body["respondent_type"], body["organization"]) == (
        1, 1, "organization_or_parish", "Kanta-Hämeen järjestöneuvottelukunta",
    )  # fmt: skip
    assert [p["paragraph_id"] for p in body["paragraphs"]] == [p.paragraph_id for p in first.paragraphs]
    assert [p["text"] for p in body["paragraphs"]] == [p.text for p in first.paragraphs]
    safety = next(p for p in body["paragraphs"] if p["paragraph_id"] == paragraph_of(first, "5.2.2"))
    assert [(r["section_id"], r["section_title"], r["owners"]) for r in safety["routes"]] == [
        ("5.2.2", "Turvallisuus ja kriisinkestävyys", ["turvallisuus"])
    ]
    assert safety["routes"][0]["reasons"], "each route with its reasons"
    assert body["corrections"] == []

    workspace.record(second)
    again = client.get("/api/statements/vakaat-tunnisteet").json()
    assert again["revision"] == 2
    ids_before = {(p["question"], p["text"]): p["paragraph_id"] for p in body["paragraphs"]}
    kept = [p for p in again["paragraphs"] if (p["question"], p["text"]) in ids_before]
    changed = [p for p in again["paragraphs"] if (p["question"], p["text"]) not in ids_before]
    assert len(kept) == len(again["paragraphs"]) - 1 and changed[0]["text"].endswith("huomioitava mittareissa.")
    assert all(p["paragraph_id"] == ids_before[(p["question"], p["text"])] for p in kept), "unchanged: the same id"
    assert changed[0]["paragraph_id"] not in ids_before.values(), "changed: a new id"
    assert client.get("/api/statements/ei-ole").status_code == 404
    assert client.get("/api/statements/ei-ole").json() == {"detail": "no statement 'ei-ole'"}


def test_a_correction_is_published_once_and_classifys_re_routing_moves_the_paragraph_to_its_new_owner(
    workspace,
    topics,
    producer,
    eventually,
) -> None:
    event = classified(seed002(), response_id=f"korjattava-{workspace.settings.workspace_group_id}")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    (loser,) = owners_of(event, "5.2.2")
    lost_item = item_id_of(workspace, loser, event.response_id, "5.2.2")
    untouched = {i["id"]: (i["state"], i["paragraphs"]) for i in workspace.items_of(event.response_id) if i["id"] != lost_item}  # fmt: skip
    client = api(workspace)
    body = {
        "response_id": event.response_id, "paragraph_id": paragraph, "add": ["5.4.3"], "remove": ["5.2.2"],
        "reason": REASON, "correction_id": f"korjaus-{workspace.settings.workspace_group_id}",
    }  # fmt: skip

    answer = client.post("/api/corrections", json=body)
    assert answer.status_code == 202, answer.text
    stored = answer.json()
    assert {k: stored[k] for k in ("correction_id", "paragraph_id", "add", "remove", "by_role", "by", "reason", "status", "revision")} == {
        "correction_id": body["correction_id"], "paragraph_id": paragraph, "add": ["5.4.3"], "remove": ["5.2.2"],
        "by_role": "strategiatoimisto", "by": "office", "reason": REASON, "status": "pending", "revision": 1,
    }  # fmt: skip
    (record,) = _corrections_on_topic(topics, body["correction_id"])
    published = RouteCorrected.model_validate_json(record.value)
    assert record.key == event.response_id.encode() and record.headers[EVENT_TYPE_HEADER] == b"RouteCorrected"
    text = next(p.text for p in event.paragraphs if p.paragraph_id == paragraph)
    assert (published.paragraph_id, published.question, published.text, published.add, published.remove) == (
        paragraph, 38, text, ("5.4.3",), ("5.2.2",),
    )  # fmt: skip
    assert (published.by_role, published.reason, published.respondent_type) == ("strategiatoimisto", REASON, event.respondent_type)  # fmt: skip

    again = client.post("/api/corrections", json=body)
    assert again.status_code == 200 and again.json() == stored, "the same id: the stored correction, nothing new"
    other = {**body, "correction_id": body["correction_id"] + "-b", "paragraph_id": paragraph_of(event, "5.3.1.1"), "add": ["8"], "remove": []}  # fmt: skip
    assert client.post("/api/corrections", json=other).status_code == 202
    _corrections_on_topic(topics, other["correction_id"])  # published after the repeat would have been
    assert len(_corrections_on_topic(topics, body["correction_id"])) == 1, "the repeat published nothing"
    assert _counted(workspace, "feedback_workspace_corrections_total", {"by": "office"}) == 2
    assert client.post("/api/corrections", json={**body, "reason": "Toinen syy."}).status_code == 409

    # Classify applies it and publishes the revision routed again; the workspace consumes that.
    moved = rerouted(event, published)
    producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=moved.model_dump_json().encode())
    producer.flush(timeout=10)
    eventually(lambda: any(i["owner_id"] == GAINER for i in workspace.items_of(event.response_id)), timeout=60, what="the new owner's item")  # fmt: skip
    gained = item_id_of(workspace, GAINER, event.response_id, "5.4.3")
    item = workspace.run(workspace.app.state.store.item(gained))
    assert item["state"] == "uusi" and [p["text"] for p in item["paragraphs"]] == [text]
    assert [(h["kind"], h["actor"], h["note"], h["correction_id"]) for h in item["history"]] == [
        ("moved_in", "strategiatoimisto", REASON, body["correction_id"])
    ]
    lost = workspace.run(workspace.app.state.store.item(lost_item))
    assert lost["withdrawn"] and lost["history"][-1]["kind"] == "moved_out"
    assert lost["history"][-1]["correction_id"] == body["correction_id"]
    now = {i["id"]: (i["state"], i["paragraphs"]) for i in workspace.items_of(event.response_id) if i["id"] in untouched}  # fmt: skip
    assert {k: v[0] for k, v in now.items()} == {k: v[0] for k, v in untouched.items()}, "other items untouched"

    shown = client.get(f"/api/statements/{event.response_id}").json()
    assert shown["routing"] == 2
    routes = next(p for p in shown["paragraphs"] if p["paragraph_id"] == paragraph)["routes"]
    assert [(r["section_id"], r["reasons"][0]["kind"]) for r in routes] == [("5.4.3", "correction")]
    statuses = {c["correction_id"]: c["status"] for c in shown["corrections"]}
    assert statuses[body["correction_id"]] == "applied"

    # A replay of the re-routing changes nothing.
    history = workspace.run(workspace.app.state.store.item(gained))["history"]
    duplicates = _counted(workspace, "feedback_workspace_events_total", {"outcome": "duplicate"})
    producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=moved.model_dump_json().encode())
    producer.flush(timeout=10)
    eventually(lambda: _counted(workspace, "feedback_workspace_events_total", {"outcome": "duplicate"}) > duplicates, timeout=60, what="the replay")  # fmt: skip
    assert workspace.run(workspace.app.state.store.item(gained))["history"] == history


def test_corrected_paragraphs_are_exported_as_labels_with_the_sections_they_now_belong_to(workspace) -> None:
    event = classified(seed002(), response_id="tunnisteiksi")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    client = api(workspace)
    body = {"response_id": event.response_id, "paragraph_id": paragraph, "add": ["5.4.3"], "remove": ["5.2.2"], "reason": REASON}  # fmt: skip
    stored = client.post("/api/corrections", json=body).json()

    answer = client.get("/api/labels")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    (label,) = [json.loads(line) for line in answer.text.splitlines()]
    text = next(p for p in event.paragraphs if p.paragraph_id == paragraph)
    assert label == {
        "doc": event.response_id, "paragraphs": [text.index], "question": 38,
        "respondent_type": "organization_or_parish", "text": text.text, "must": ["5.4.3"], "may": [],
        "paragraph_id": paragraph, "correction_ids": [stored["correction_id"]],
    }  # fmt: skip
    assert client.get("/api/labels", params={"since": "2999-01-01"}).text == ""
    assert client.get("/api/labels", params={"since": stored["corrected_at"]}).text == answer.text
    refused = client.get("/api/labels", params={"since": "eilen"})
    assert refused.status_code == 422 and "ISO 8601" in refused.json()["detail"]
    assert sections_of(event, paragraph) == ["5.2.2"], "the routing itself is classify's to change"


def test_the_api_refuses_a_caller_without_the_token_in_json(workspace) -> None:
    for method, path in (("GET", "/api/statements/x"), ("POST", "/api/corrections"), ("GET", "/api/labels")):
        for token in (None, "wrong-token", ADMIN_TOKEN[:-1]):
            answer = api(workspace, token).request(method, path, json={})
            assert answer.status_code == 401, (method, path, token)
            assert answer.json() == {"detail": "missing or invalid bearer token"}
    assert _counted(workspace, "feedback_workspace_refused_total", {"reason": "unauthorized"}) == 9
