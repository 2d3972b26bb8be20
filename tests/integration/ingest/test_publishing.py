"""Ingest's accept path against SQLite and PostgreSQL and the real broker: durable, published once, in order."""

from __future__ import annotations

import copy
import json

import pytest
from prometheus_client import CollectorRegistry

from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC, ResponseReceived

pytestmark = pytest.mark.integration


def _published(client, response_id: str, eventually, revision: int | None = None) -> None:
    def done() -> bool:
        answer = client.get(f"/v1/responses/{response_id}", headers={"Authorization": "Bearer form-token"})
        latest = answer.json().get("latest", {}) if answer.status_code == 200 else {}
        return latest.get("state") == "published" and (revision is None or latest.get("revision") == revision)

    eventually(done, timeout=30, what=f"{response_id} to be published")


def test_an_accepted_response_is_published_once_keyed_by_its_id_without_contact_data(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    rid = seed002_response["response_id"] = f"ingest-{unique}"
    registry = CollectorRegistry()
    client = make_client(ingest_settings, registry)
    answer = client.post("/v1/responses", json=seed002_response, headers=form_headers)
    assert answer.status_code == 202
    assert answer.json() == {"response_id": rid, "revision": 1, "status": "accepted", "replaces_revision": None}
    _published(client, rid, eventually)

    (record,) = [r for r in topics.read(RESPONSES_TOPIC) if r.key == rid.encode()]
    event = ResponseReceived.model_validate_json(record.value)
    assert record.headers[EVENT_TYPE_HEADER] == b"ResponseReceived"
    assert event.respondent.organization == "Kanta-Hämeen järjestöneuvottelukunta"
    assert [a.question for a in event.answers] == list(range(36, 45))
    assert event.replaces_revision is None and event.source == "form"
    respondent = seed002_response["respondent"]
    for personal in (respondent["email"], respondent["phone"], respondent["first_name"], respondent["last_name"]):
        assert personal.encode() not in record.value
    assert "email" not in json.loads(record.value)["respondent"]
    assert (
        registry.get_sample_value("feedback_ingest_responses_total", {"respondent_type": "organization_or_parish"}) == 1
    )
    assert registry.get_sample_value("feedback_ingest_outbox_backlog_messages") == 0


def test_the_form_retrying_the_same_revision_gets_200_and_no_new_event(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    rid = seed002_response["response_id"] = f"retry-{unique}"
    registry = CollectorRegistry()
    client = make_client(ingest_settings, registry)
    assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202
    _published(client, rid, eventually)
    again = client.post("/v1/responses", json=seed002_response, headers=form_headers)
    assert again.status_code == 200
    assert again.json() == {"response_id": rid, "revision": 1, "status": "accepted", "replaces_revision": None}
    eventually(lambda: registry.get_sample_value("feedback_ingest_outbox_backlog_messages") == 0, what="an idle relay")
    assert len([r for r in topics.read(RESPONSES_TOPIC) if r.key == rid.encode()]) == 1
    assert registry.get_sample_value("feedback_ingest_duplicates_total") == 1


def test_conflicting_and_stale_revisions_are_409_and_an_edit_names_what_it_replaces(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    rid = seed002_response["response_id"] = f"edit-{unique}"
    client = make_client(ingest_settings)
    assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202

    changed = copy.deepcopy(seed002_response)
    changed["answers"][0]["text"] += " Lisäys."
    conflict = client.post("/v1/responses", json=changed, headers=form_headers)
    assert conflict.status_code == 409
    assert "revision 1" in conflict.json()["detail"] and "different content" in conflict.json()["detail"]

    changed["revision"] = 3
    edit = client.post("/v1/responses", json=changed, headers=form_headers)
    assert edit.status_code == 202 and edit.json()["replaces_revision"] == 1

    stale = copy.deepcopy(changed)
    stale["revision"] = 2
    answer = client.post("/v1/responses", json=stale, headers=form_headers)
    assert answer.status_code == 409
    assert "older than the latest stored revision 3" in answer.json()["detail"]

    _published(client, rid, eventually, revision=3)
    events = [
        ResponseReceived.model_validate_json(r.value) for r in topics.read(RESPONSES_TOPIC) if r.key == rid.encode()
    ]
    assert [(e.revision, e.replaces_revision) for e in events] == [(1, None), (3, 1)]
    revisions = client.get(f"/v1/responses/{rid}/revisions", headers=form_headers).json()
    assert [(r["revision"], r["state"], r["replaces_revision"]) for r in revisions] == [
        (1, "published", None),
        (3, "published", 1),
    ]
    latest = client.get(f"/v1/responses/{rid}", headers=form_headers).json()
    assert latest["latest"]["revision"] == 3 and latest["revisions"] == 2 and latest["latest"]["published_at"]


def test_reading_a_response_needs_a_token_and_an_unknown_one_is_404(ingest_settings, make_client, form_headers) -> None:
    client = make_client(ingest_settings)
    assert client.get("/v1/responses/nope").status_code == 401
    assert client.get("/v1/responses/nope", headers=form_headers).status_code == 404
    assert client.get("/v1/responses/nope/revisions", headers=form_headers).status_code == 404


def test_contact_data_are_for_admins_only_and_can_be_erased_leaving_the_statement(
    ingest_settings, make_client, seed002_response, unique, form_headers, admin_headers
) -> None:
    rid = seed002_response["response_id"] = f"contact-{unique}"
    client = make_client(ingest_settings)
    assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202
    assert client.get(f"/v1/responses/{rid}/contact", headers=form_headers).status_code == 401
    contact = client.get(f"/v1/responses/{rid}/contact", headers=admin_headers)
    assert contact.status_code == 200
    assert contact.json()["email"] == seed002_response["respondent"]["email"]
    assert client.delete(f"/v1/responses/{rid}/contact", headers=form_headers).status_code == 401
    assert client.delete(f"/v1/responses/{rid}/contact", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/responses/{rid}/contact", headers=admin_headers).status_code == 404
    assert client.get(f"/v1/responses/{rid}", headers=form_headers).status_code == 200
    # The form retrying after erasure is still recognised as the same revision.
    assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 200
    assert client.delete("/v1/responses/unknown/contact", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"{" * 10, {"Content-Type": "application/json"}, 422, "JSON decode error"),
        (b"x" * (1024 * 1024 + 1), {"Content-Type": "application/json"}, 413, "over the limit"),
        (b"survey_id=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        (b"{}", {}, 415, "missing"),
    ],
)
def test_bad_bodies_get_a_4xx_that_names_the_problem_and_store_nothing(
    ingest_settings, make_client, form_headers, body: bytes, headers: dict, status: int, message: str
) -> None:
    registry = CollectorRegistry()
    client = make_client(ingest_settings, registry)
    answer = client.post("/v1/responses", content=body, headers={**form_headers, **headers})
    assert answer.status_code == status
    assert message in json.dumps(answer.json())
    assert registry.get_sample_value("feedback_ingest_outbox_backlog_messages") in (0, None)


def test_a_streamed_body_over_the_limit_is_refused_before_parsing(ingest_settings, make_client, form_headers) -> None:
    client = make_client(ingest_settings)

    def chunks():
        for _ in range(17):
            yield b" " * 65536

    answer = client.post(
        "/v1/responses", content=chunks(), headers={**form_headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413
