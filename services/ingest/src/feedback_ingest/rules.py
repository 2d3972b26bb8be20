"""What ingest decides about a posted revision, with no I/O: accepted, duplicate or conflict; the rows an
accepted one writes; the event it is published as (without contact data); its content hash.

The store reads what it needs (the latest stored revision of each response a group names, and the content
hashes of the revisions it names), calls `decide`, and writes the plan's rows in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from feedback_contracts.events import RESPONSES_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.responses import SurveyResponse


class Outcome(Enum):
    ACCEPTED = "accepted"  # a new revision: stored, queued for publishing
    DUPLICATE = "duplicate"  # the same revision again with the same content: nothing to do


class ConflictError(Exception):
    """The revision cannot be accepted as sent; the message says why."""


@dataclass(frozen=True)
class AcceptResult:
    outcome: Outcome
    response_id: str
    revision: int
    replaces_revision: int | None


@dataclass(frozen=True)
class PostedRevision:
    """One posted revision: the response, when it was received, and its `content_hash`."""

    response: SurveyResponse
    received_at: datetime
    digest: str

    @classmethod
    def of(cls, response: SurveyResponse, received_at: datetime) -> PostedRevision:
        return cls(response, received_at, content_hash(response))


# Per stored (response id, revision): its content hash and the revision it replaced.
Stored = dict[tuple[str, int], tuple[str, int | None]]


@dataclass
class Plan:
    """What a group of posted revisions decided, and the rows its transaction writes."""

    outcomes: list[AcceptResult | ConflictError] = field(default_factory=list)
    new_responses: dict[str, dict] = field(default_factory=dict)
    # Responses stored before the group that get a new latest revision (`b_response_id`: the key to update).
    changed_responses: dict[str, dict] = field(default_factory=dict)
    # Each revision's row; its "event" is the event as published (`event_json`: UTF-8 bytes).
    revisions: list[dict] = field(default_factory=list)
    # Per response accepted: its last accepted revision's contact row, or None when it came without one.
    # (Responses stored before the group, those in changed_responses, lose the contact rows they had.)
    contacts: dict[str, dict | None] = field(default_factory=dict)
    # The outbox rows: each names its revision, whose event (in `revisions`) the relay publishes.
    outbox: list[dict] = field(default_factory=list)


# An answer's question text came to the contract after revisions had been stored: the fingerprint leaves it out
# where it is unset, so that a retry of a revision stored before it is still told from a conflict. The bytes can
# only be the field itself: a quote inside a JSON string is escaped, so no text holds `,"question_text"`.
_UNSET_QUESTION_TEXT = b',"question_text":null'
_ADDED_LATER = {"answers": {"__all__": {"question_text"}}}


def content_hash(response: SurveyResponse) -> str:
    """Fingerprint of everything the form sent, to tell a retry from a conflicting resubmission: SHA-256 of the
    response as pydantic serialises it (`model_dump_json`: fields in the model's order, no whitespace; here its
    UTF-8 bytes straight from pydantic-core's serializer), unset question texts left out."""
    serializer = response.__pydantic_serializer__
    if all(answer.question_text is None for answer in response.answers):
        # The usual case, left out by the serializer itself: the same bytes as the replace below, which costs half
        # as much again as serialising (8 µs in all here against 11 for a full-size response).
        return hashlib.sha256(serializer.to_json(response, exclude=_ADDED_LATER)).hexdigest()
    return hashlib.sha256(serializer.to_json(response).replace(_UNSET_QUESTION_TEXT, b"")).hexdigest()


def legacy_content_hash(response: SurveyResponse) -> str:
    """The fingerprint that revisions stored before the current one carry: SHA-256 of the response's JSON with
    sorted keys. It costs three times as much; it is worked out only to recognise a retry of such a revision."""
    added_unset = all(answer.question_text is None for answer in response.answers)
    content = response.model_dump(mode="json", exclude=_ADDED_LATER if added_unset else None)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def received_event(response: SurveyResponse, received_at: datetime, replaces: int | None) -> ResponseReceived:
    """The event an accepted revision is published as: the statement, who answered for which organisation,
    and no contact data (names, email, phone stay in ingest's store)."""
    return ResponseReceived(
        survey_id=response.survey_id,
        response_id=response.response_id,
        revision=response.revision,
        replaces_revision=replaces,
        submitted_at=response.submitted_at,
        received_at=received_at,
        source=response.source,
        respondent=PublicRespondent(organization=response.respondent.organization, title=response.respondent.title),
        respondent_type=response.respondent_type,
        answers=tuple(sorted(response.answers, key=lambda a: a.question)),
    )


def event_json(event: ResponseReceived) -> bytes:
    """The event as published: `model_dump_json`'s text as UTF-8 bytes, straight from pydantic-core's serializer.

    Bytes, as the broker takes them: the SQLite store writes and reads them as the revision's text without
    Python decoding and encoding ~8 KB of it three times on the way (sqlite.py)."""
    return event.__pydantic_serializer__.to_json(event)


def contact_row(response: SurveyResponse, now: datetime) -> dict | None:
    """The contacts row of a revision, or None when it came without names, email and phone."""
    person = response.respondent
    values = dict(first_name=person.first_name, last_name=person.last_name, email=person.email, phone=person.phone)
    return dict(response_id=response.response_id, updated_at=now, **values) if any(values.values()) else None


def stored_responses(group: Sequence[PostedRevision], latest: dict[str, int]) -> list[str]:
    """The group's responses that are stored (in `latest`): those whose revisions the store looks up."""
    return list(dict.fromkeys(s.response.response_id for s in group if s.response.response_id in latest))


def named_revisions(group: Sequence[PostedRevision], rows: Iterable[Sequence]) -> Stored:
    """Of the rows (response id, revision, content hash, replaced revision) those of revisions the group names."""
    named = {(s.response.response_id, s.response.revision) for s in group}
    return {(rid, rev): (digest, replaces) for rid, rev, digest, replaces in rows if (rid, rev) in named}


def decide(group: Sequence[PostedRevision], latest: dict[str, int], stored: Stored) -> Plan:
    """Decide each posted revision of a group, in the order they came, and collect the rows to write.

    `latest` holds the latest stored revision of each of the group's responses that exist, `stored` the
    content hash and replaced revision of each stored (response, revision) the group names. Each one is
    decided as if alone, after the group's earlier ones: a new revision is accepted, the same revision with
    the same content is a duplicate, the same revision with other content or an older one a conflict.
    """
    plan = Plan()
    existing = set(latest)
    latest = dict(latest)
    stored = dict(stored)
    for posted in group:
        response, received_at = posted.response, posted.received_at
        rid, rev = response.response_id, response.revision
        current = latest.get(rid)
        if current is not None:
            seen = stored.get((rid, rev))
            if seen is not None:
                if seen[0] == posted.digest or seen[0] == legacy_content_hash(response):
                    plan.outcomes.append(AcceptResult(Outcome.DUPLICATE, rid, rev, seen[1]))
                else:
                    plan.outcomes.append(
                        ConflictError(
                            f"revision {rev} of response {rid!r} was already accepted with different content; "
                            "an edit must come with a higher revision"
                        )
                    )
                continue
            if rev < current:
                plan.outcomes.append(
                    ConflictError(
                        f"revision {rev} of response {rid!r} is older than the latest stored revision {current}"
                    )
                )
                continue
        payload = event_json(received_event(response, received_at, current))
        if rid in existing:
            plan.changed_responses[rid] = dict(b_response_id=rid, latest_revision=rev, updated_at=received_at)
        elif rid in plan.new_responses:
            plan.new_responses[rid].update(latest_revision=rev, updated_at=received_at)
        else:
            plan.new_responses[rid] = dict(
                response_id=rid,
                survey_id=response.survey_id,
                latest_revision=rev,
                created_at=received_at,
                updated_at=received_at,
            )
        plan.revisions.append(
            dict(
                response_id=rid,
                revision=rev,
                content_hash=posted.digest,
                replaces_revision=current,
                source=response.source,
                submitted_at=response.submitted_at,
                received_at=received_at,
                event=payload,
            )
        )
        plan.contacts[rid] = contact_row(response, received_at)
        plan.outbox.append(dict(response_id=rid, revision=rev, topic=RESPONSES_TOPIC, created_at=received_at))
        latest[rid] = rev
        stored[(rid, rev)] = (posted.digest, current)
        plan.outcomes.append(AcceptResult(Outcome.ACCEPTED, rid, rev, current))
    return plan
