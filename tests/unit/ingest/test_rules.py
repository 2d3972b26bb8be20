"""Ingest's acceptance rules, its event and its content hash, as pure functions: no database."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from feedback_contracts.events import RESPONSES_TOPIC, ResponseReceived
from feedback_contracts.responses import SurveyResponse
from feedback_ingest.rules import (
    AcceptResult,
    ConflictError,
    Outcome,
    PostedRevision,
    content_hash,
    decide,
    legacy_content_hash,
    received_event,
)

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
# The hashes the seed statement (tests/fixtures/seed002_response.json) was stored with: a retry of a revision
# stored before must still be recognised, so these must never change.
SEED_HASH = "cf68eb2eac5f7c0f7ebc4cfe90f8f6ab7f0c9bcbc14b8d10b183c05a9319b5c0"
SEED_LEGACY_HASH = "c11566d189dbe3a0ee9ff6fa7e38e00fede12966cea074ebb3dd8d25a9dd0e6d"


@pytest.fixture
def revision(seed002_response: dict):  # noqa: ANN201
    def make(number: int = 1, note: str = "", response_id: str = "r-1", contact: bool = True) -> PostedRevision:
        body = copy.deepcopy(seed002_response)
        body["response_id"], body["revision"] = response_id, number
        if note:
            body["answers"][0]["text"] += f" {note}"
        if not contact:
            body["respondent"] = {"organization": body["respondent"]["organization"]}
        return PostedRevision.of(SurveyResponse.model_validate(body), NOW)

    return make


def _stored(*revisions: PostedRevision, replaces: int | None = None) -> dict:
    return {(r.response.response_id, r.response.revision): (r.digest, replaces) for r in revisions}


def test_a_first_revision_is_accepted_and_writes_its_response_revision_contact_and_outbox_rows(revision) -> None:
    first = revision()
    plan = decide([first], {}, {})
    assert plan.outcomes == [AcceptResult(Outcome.ACCEPTED, "r-1", 1, None)]
    assert plan.new_responses["r-1"]["latest_revision"] == 1 and not plan.changed_responses
    (row,) = plan.revisions
    assert (row["revision"], row["replaces_revision"], row["content_hash"]) == (1, None, first.digest)
    assert plan.contacts["r-1"]["email"] == "vastaaja.testi@example.org"
    (queued,) = plan.outbox
    # The outbox row names the revision whose event the relay publishes; the event is stored once.
    assert queued["topic"] == RESPONSES_TOPIC and (queued["response_id"], queued["revision"]) == ("r-1", 1)
    assert "payload" not in queued


def test_a_higher_revision_is_accepted_as_an_edit(revision) -> None:
    first, edit = revision(1), revision(3, "Korjattu.")
    plan = decide([edit], {"r-1": 1}, _stored(first))
    assert plan.outcomes == [AcceptResult(Outcome.ACCEPTED, "r-1", 3, 1)]
    assert plan.changed_responses == {"r-1": dict(b_response_id="r-1", latest_revision=3, updated_at=NOW)}
    assert ResponseReceived.model_validate_json(plan.revisions[0]["event"]).replaces_revision == 1


def test_the_same_revision_with_the_same_content_is_a_duplicate_and_writes_nothing(revision) -> None:
    first = revision()
    plan = decide([revision()], {"r-1": 1}, _stored(first))
    assert plan.outcomes == [AcceptResult(Outcome.DUPLICATE, "r-1", 1, None)]
    assert not (plan.revisions or plan.outbox or plan.new_responses or plan.changed_responses or plan.contacts)


def test_the_same_revision_with_other_content_is_a_conflict(revision) -> None:
    plan = decide([revision(1, "Muutettu.")], {"r-1": 1}, _stored(revision()))
    (outcome,) = plan.outcomes
    assert isinstance(outcome, ConflictError) and "different content" in str(outcome)
    assert not plan.revisions


def test_a_revision_older_than_the_latest_stored_one_is_a_conflict(revision) -> None:
    plan = decide([revision(2, "Vanha.")], {"r-1": 3}, _stored(revision(1), revision(3, "Uusi.")))
    (outcome,) = plan.outcomes
    assert isinstance(outcome, ConflictError) and "older than the latest stored revision 3" in str(outcome)


def test_a_retry_of_a_revision_stored_with_the_legacy_fingerprint_is_still_a_duplicate(revision) -> None:
    first = revision()
    stored = {("r-1", 1): (legacy_content_hash(first.response), None)}
    assert decide([revision()], {"r-1": 1}, stored).outcomes == [AcceptResult(Outcome.DUPLICATE, "r-1", 1, None)]


def test_each_revision_of_a_group_is_decided_after_the_groups_earlier_ones(revision) -> None:
    group = [
        revision(1),  # accepted
        revision(1),  # the same again: a duplicate
        revision(1, "Muutettu."),  # same revision, other content: conflict
        revision(3, "Korjattu."),  # an edit: accepted, replaces 1
        revision(2),  # older than 3 by now: conflict
        revision(1, response_id="r-2"),  # another response: accepted
    ]
    plan = decide(group, {}, {})
    assert plan.outcomes[0] == AcceptResult(Outcome.ACCEPTED, "r-1", 1, None)
    assert plan.outcomes[1] == AcceptResult(Outcome.DUPLICATE, "r-1", 1, None)
    assert isinstance(plan.outcomes[2], ConflictError) and isinstance(plan.outcomes[4], ConflictError)
    assert plan.outcomes[3] == AcceptResult(Outcome.ACCEPTED, "r-1", 3, 1)
    assert plan.outcomes[5] == AcceptResult(Outcome.ACCEPTED, "r-2", 1, None)
    # r-1 is new to the store: one response row, inserted with its latest revision of the group.
    assert plan.new_responses["r-1"]["latest_revision"] == 3 and not plan.changed_responses
    assert [(r["response_id"], r["revision"]) for r in plan.outbox] == [("r-1", 1), ("r-1", 3), ("r-2", 1)]


def test_a_revision_without_contact_data_leaves_no_contact_row_for_its_response(revision) -> None:
    plan = decide([revision(1), revision(2, "Ilman yhteystietoja.", contact=False)], {}, {})
    assert plan.contacts == {"r-1": None}  # the last accepted revision's contact data, which are none


def test_the_event_carries_the_statement_and_the_organisation_but_no_contact_data(revision) -> None:
    posted = revision()
    event = received_event(posted.response, NOW, None)
    assert event.respondent.organization == "Kanta-Hämeen järjestöneuvottelukunta"
    assert event.received_at == NOW and event.replaces_revision is None
    assert [a.question for a in event.answers] == sorted(a.question for a in posted.response.answers)
    serialised = event.model_dump_json()
    person = posted.response.respondent
    for personal in (person.first_name, person.last_name, person.email, person.phone):
        assert personal and personal not in serialised


def test_the_content_hash_of_the_seed_statement_is_the_one_it_was_stored_with(seed002_response: dict) -> None:
    response = SurveyResponse.model_validate(seed002_response)
    assert content_hash(response) == SEED_HASH
    assert legacy_content_hash(response) == SEED_LEGACY_HASH


def test_the_content_hash_tells_any_change_from_a_retry(seed002_response: dict) -> None:
    response = SurveyResponse.model_validate(seed002_response)
    assert content_hash(SurveyResponse.model_validate(json.loads(json.dumps(seed002_response)))) == SEED_HASH
    changed = copy.deepcopy(seed002_response)
    changed["respondent"]["title"] = "varapuheenjohtaja"
    assert content_hash(SurveyResponse.model_validate(changed)) != content_hash(response)


def test_a_question_text_is_content_but_its_absence_keeps_the_fingerprint_revisions_were_stored_with(
    seed002_response: dict,
) -> None:
    """The form's question texts came to the contract after revisions had been stored: a revision without them
    keeps its fingerprint (a retry is still a retry), one with them differs by them."""
    with_text = copy.deepcopy(seed002_response)
    with_text["answers"][0]["question_text"] = "Miten strategia näkyy järjestöjen työssä?"
    other_text = copy.deepcopy(with_text)
    other_text["answers"][0]["question_text"] = "Mitä muuta haluatte sanoa?"
    hashes = {content_hash(SurveyResponse.model_validate(body)) for body in (seed002_response, with_text, other_text)}
    assert SEED_HASH in hashes and len(hashes) == 3
