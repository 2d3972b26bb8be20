"""What each owner should hear about a classified response revision: new, updated, withdrawn or nothing.

An owner's part of a revision is the paragraphs routed to the sections they receive. The first
revision an owner sees is "new"; a later one is an "update" listing what was added, changed and
removed, or a "withdrawn" notice when nothing of it concerns them any more; unchanged parts send nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from feedback_contracts.events import ResponseClassified
from feedback_contracts.owners import Owner, OwnersDirectory
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.wording import explain

from .delivery_log import Decision, NewDigestItem, NewJob, Snapshot
from .keys import DeliveryKey

Change = Literal["added", "changed", "removed"]


class AlertParagraph(BaseModel):
    question: int
    question_text: str | None = None
    text: str
    reasons: list[str] = Field(default_factory=list)
    change: Change | None = None


class AlertSection(BaseModel):
    section_id: str | None
    title: str | None
    paragraphs: list[AlertParagraph]


class Alert(BaseModel):
    """Everything needed to render one alert; stored with its delivery job."""

    kind: Literal["new", "update", "withdrawn"]
    owner_id: str
    owner_name: str
    response_id: str
    revision: int
    replaces_revision: int | None = None
    organization: str
    title: str | None
    respondent_type: RespondentType
    received_at: datetime
    sections: list[AlertSection]
    unchanged: int = 0


class Digest(BaseModel):
    """A day's worth of alerts for one owner."""

    kind: Literal["digest"] = "digest"
    owner_id: str
    owner_name: str
    items: list[Alert]


def route_owners(event: ResponseClassified, directory: OwnersDirectory) -> list[list[str]]:
    """Per route, who receives it: the owners classify named, where this directory knows them; otherwise
    whoever this directory says covers the section (the two services may read different versions of it)."""
    resolved = []
    for route in event.routes:
        known = [owner for owner in route.owners if directory.get(owner) is not None]
        resolved.append(known or [owner.id for owner in directory.owners_for(route.section_id)])
    return resolved


def owner_part(event: ResponseClassified, owner_id: str, owners_per_route: list[list[str]]) -> list[AlertSection]:
    """The sections and paragraphs of the event that go to this owner, in taxonomy order."""
    questionnaire = load_questionnaire()
    paragraphs = {p.index: p for p in event.paragraphs}
    sections = []
    for route, receivers in zip(event.routes, owners_per_route, strict=True):
        if owner_id not in receivers:
            continue
        items = []
        for routed in route.paragraphs:
            paragraph = paragraphs[routed.paragraph]
            items.append(
                AlertParagraph(
                    question=paragraph.question,
                    question_text=questionnaire.question(paragraph.question).text,
                    text=paragraph.text,
                    reasons=list(dict.fromkeys(explain(r, event.respondent_type) for r in routed.reasons)),
                )
            )
        sections.append(AlertSection(section_id=route.section_id, title=route.section_title, paragraphs=items))
    return sections


def channels(owner: Owner) -> list[str]:
    """Where the owner's alerts and digests go."""
    return (["email"] if owner.email else []) + (["webhook"] if owner.webhook else [])


def decide(
    event: ResponseClassified,
    directory: OwnersDirectory,
    owners_per_route: list[list[str]],
    stored: Mapping[str, Snapshot],
) -> Decision:
    """What this revision means for each owner who receives it or received an earlier one (`stored`: their
    snapshots of the response): a new alert, an update, a withdrawal, nothing (unchanged), or nothing again (a
    redelivered or replayed revision). Pure: the delivery log writes what it returns."""
    snapshots: list[Snapshot] = []
    jobs: list[NewJob] = []
    items: list[NewDigestItem] = []
    unchanged_owners: list[str] = []
    duplicates = 0
    receivers = [owner for owners in owners_per_route for owner in owners]
    for owner_id in dict.fromkeys([*receivers, *stored]):
        owner = directory.get(owner_id)
        if owner is None:
            continue  # an owner removed from the directory since the last revision
        previous = stored.get(owner_id)
        if previous is not None and previous.revision >= event.revision:
            duplicates += 1  # a redelivered or replayed revision: already recorded
            continue
        sections = owner_part(event, owner_id, owners_per_route)
        if previous is None and not sections:
            continue
        snapshots.append(Snapshot(owner_id, event.revision, snapshot_of(sections)))
        if previous is None:
            kind, shown, unchanged = "new", sections, 0
        else:
            shown, unchanged = diff(previous.content, sections)
            if not shown:
                unchanged_owners.append(owner_id)  # remembered, nothing to send
                continue
            kind = "update" if sections else "withdrawn"
        alert = Alert(
            kind=kind,  # type: ignore[arg-type]
            owner_id=owner.id,
            owner_name=owner.name,
            response_id=event.response_id,
            revision=event.revision,
            replaces_revision=event.replaces_revision,
            organization=event.respondent.organization,
            title=event.respondent.title,
            respondent_type=event.respondent_type,
            received_at=event.received_at,
            sections=shown if kind != "withdrawn" else [],
            unchanged=unchanged,
        )
        payload = alert.model_dump_json()  # stored as it is: pydantic writes JSON faster than json.dumps
        if owner.mode == "digest":
            items.append(NewDigestItem(owner.id, event.response_id, event.revision, payload, event.received_at))
            continue
        for channel in channels(owner):
            key = DeliveryKey.alert(owner.id, channel, event.response_id, event.revision)
            jobs.append(NewJob(key, kind, payload, event.received_at))
    return Decision(snapshots, jobs, items, unchanged_owners, duplicates)


def snapshot_of(sections: list[AlertSection]) -> dict:
    """What to remember of an owner's part, to compare the next revision with."""
    return {"sections": [s.model_dump(mode="json") for s in sections]}


def diff(previous: dict, current: list[AlertSection]) -> tuple[list[AlertSection], int]:
    """The changed paragraphs per section (added, changed, removed) and how many stayed as they were."""
    old = {s["section_id"]: s for s in previous.get("sections", [])}
    result: list[AlertSection] = []
    unchanged = 0
    seen: set[str | None] = set()
    for section in current:
        seen.add(section.section_id)
        before = [AlertParagraph.model_validate(p) for p in old.get(section.section_id, {}).get("paragraphs", [])]
        changes, same = _paragraph_changes(before, section.paragraphs)
        unchanged += same
        if changes:
            result.append(AlertSection(section_id=section.section_id, title=section.title, paragraphs=changes))
    for section_id, section in old.items():
        if section_id not in seen:
            removed = [
                AlertParagraph.model_validate(p).model_copy(update={"change": "removed"}) for p in section["paragraphs"]
            ]
            result.append(AlertSection(section_id=section_id, title=section.get("title"), paragraphs=removed))
    return result, unchanged


def _paragraph_changes(before: list[AlertParagraph], after: list[AlertParagraph]) -> tuple[list[AlertParagraph], int]:
    before_texts = {p.text for p in before}
    after_texts = {p.text for p in after}
    added = [p for p in after if p.text not in before_texts]
    removed = [p for p in before if p.text not in after_texts]
    changes: list[AlertParagraph] = []
    for paragraph in added:
        # An edited paragraph: a removed one of the same question that reads mostly the same.
        match = next(
            (
                r
                for r in removed
                if r.question == paragraph.question
                and difflib.SequenceMatcher(None, r.text, paragraph.text).ratio() >= 0.5
            ),
            None,
        )
        if match is not None:
            removed.remove(match)
            changes.append(paragraph.model_copy(update={"change": "changed"}))
        else:
            changes.append(paragraph.model_copy(update={"change": "added"}))
    changes += [p.model_copy(update={"change": "removed"}) for p in removed]
    return changes, len([p for p in after if p.text in before_texts])
