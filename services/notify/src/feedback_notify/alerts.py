"""What each owner should hear about a classified response revision: new, updated, withdrawn, moved or nothing.

An owner's part of a revision is the paragraphs routed to the sections they receive. The first
revision an owner sees is "new"; a later one is an "update" listing what was added, changed and
removed, or a "withdrawn" notice when nothing of it concerns them any more; unchanged parts send nothing.
A revision routed again after a correction (`correction_id` set, `routing` one higher) is "moved" news only
to the owners it gave paragraphs they did not have: the owners it took paragraphs from, and everyone else,
hear nothing (their snapshots follow, so that the next revision is compared with what they now have).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from feedback_contracts.events import Paragraph, Reason, ResponseClassified
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


class MovedBy(BaseModel):
    """Who moved paragraphs to the owner and why (a correction), as a "moved" alert shows it."""

    correction_id: str
    by_role: str | None = None  # the role that corrected: an owner id or the strategy office; None if unknown
    by_name: str | None = None  # that role's name in the owners directory (the role id if it has none there)
    reason: str | None = None  # the corrector's words
    corrected_at: datetime | None = None


class Alert(BaseModel):
    """Everything needed to render one alert; stored with its delivery job."""

    kind: Literal["new", "update", "withdrawn", "moved"]
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
    routing: int = 1
    correction: MovedBy | None = None  # a "moved" alert's


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


def role_name(role: str, directory: OwnersDirectory) -> str:
    """How an alert names a role: its name in the owners directory, or the role id when it is not there."""
    owner = directory.get(role)
    return owner.name if owner is not None else role


def owner_part(
    event: ResponseClassified,
    owner_id: str,
    owners_per_route: list[list[str]],
    directory: OwnersDirectory | None = None,
    paragraphs: Mapping[int, Paragraph] | None = None,
) -> list[AlertSection]:
    """The sections and paragraphs of the event that go to this owner, in taxonomy order (a correction's reason
    names the corrector by the `directory`'s name of their role). `paragraphs`: the event's by index, when the
    caller has them (`decide` indexes them once for all owners)."""
    questionnaire = load_questionnaire()
    if paragraphs is None:
        paragraphs = paragraphs_by_index(event)
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
                    reasons=list(
                        dict.fromkeys(explain(_named(r, directory), event.respondent_type) for r in routed.reasons)
                    ),
                )
            )
        sections.append(AlertSection(section_id=route.section_id, title=route.section_title, paragraphs=items))
    return sections


def paragraphs_by_index(event: ResponseClassified) -> dict[int, Paragraph]:
    """The event's paragraphs by their index (what a route's paragraphs refer to)."""
    return {p.index: p for p in event.paragraphs}


def _named(reason: Reason, directory: OwnersDirectory | None) -> Reason:
    """The reason, a correction's role replaced by the role's name (as an owner reads it)."""
    if reason.correction is None or directory is None:
        return reason
    name = role_name(reason.correction.by_role, directory)
    return reason.model_copy(update={"correction": reason.correction.model_copy(update={"by_role": name})})


def moved_by(event: ResponseClassified, directory: OwnersDirectory) -> MovedBy | None:
    """Who made the correction this routing was published for, and why: from the event's list of corrections,
    else from a `correction` reason carrying its id. None for the routing of a new revision."""
    correction_id = event.correction_id
    if correction_id is None:
        return None
    notes = [(c.by_role, c.reason, c.corrected_at) for c in event.corrections if c.correction_id == correction_id]
    notes += [
        (r.correction.by_role, r.correction.reason, r.correction.corrected_at)
        for route in event.routes
        for routed in route.paragraphs
        for r in routed.reasons
        if r.correction is not None and r.correction.correction_id == correction_id
    ]
    if not notes:
        return MovedBy(correction_id=correction_id)
    role, reason, at = notes[0]
    return MovedBy(
        correction_id=correction_id, by_role=role, by_name=role_name(role, directory), reason=reason, corrected_at=at
    )


def channels(owner: Owner) -> list[str]:
    """Where the owner's alerts and digests go."""
    return (["email"] if owner.email else []) + (["webhook"] if owner.webhook else [])


def decide(
    event: ResponseClassified,
    directory: OwnersDirectory,
    owners_per_route: list[list[str]],
    stored: Mapping[str, Snapshot],
) -> Decision:
    """What this routing of a revision means for each owner who receives it or received an earlier one
    (`stored`: their snapshots of the response): a new alert, an update, a withdrawal, paragraphs moved to them
    by a correction, nothing (unchanged, or it took paragraphs from them), or nothing again (a redelivered or
    replayed routing, or one older than what they have). Pure: the delivery log writes what it returns."""
    correction = moved_by(event, directory)
    moved = moved_paragraphs(event)
    snapshots: list[Snapshot] = []
    jobs: list[NewJob] = []
    items: list[NewDigestItem] = []
    unchanged_owners: list[str] = []
    duplicates = 0
    receivers = [owner for owners in owners_per_route for owner in owners]
    paragraphs = paragraphs_by_index(event)
    for owner_id in dict.fromkeys([*receivers, *stored]):
        owner = directory.get(owner_id)
        if owner is None:
            continue  # an owner removed from the directory since the last revision
        previous = stored.get(owner_id)
        if previous is not None and previous.is_as_new_as(event.revision, event.routing):
            duplicates += 1  # a redelivered or replayed routing, or one older than theirs: already recorded
            continue
        sections = owner_part(event, owner_id, owners_per_route, directory, paragraphs)
        if previous is None and not sections:
            continue
        snapshots.append(Snapshot(owner_id, event.revision, snapshot_of(sections), event.routing))
        gained: list[AlertSection] | None = None
        # (An owner whose snapshot is of an earlier revision missed this one's first routing: an update tells all.)
        if correction is not None and (previous is None or previous.revision == event.revision):
            gained = moved_to(previous.content if previous else {}, sections)
            if not gained:
                unchanged_owners.append(owner_id)  # it took from them or left them as they were: nothing to send
                continue
            if any((p.question, p.text) not in moved for section in gained for p in section.paragraphs):
                gained = None  # more is new to them than the correction moved (a lost snapshot): the usual alert
        if gained is not None:
            kind, shown, unchanged = "moved", gained, 0
        elif previous is None:
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
            routing=event.routing,
            correction=correction if kind == "moved" else None,
        )
        payload = alert.model_dump_json()  # stored as it is: pydantic writes JSON faster than json.dumps
        arrived = event.received_at
        if alert.correction is not None:
            # A moved paragraph reaches its new owner when it was corrected (which also decides its digest).
            arrived = alert.correction.corrected_at or event.classified_at
        if owner.mode == "digest":
            items.append(NewDigestItem(owner.id, event.response_id, event.revision, payload, arrived, event.routing))
            continue
        for channel in channels(owner):
            if alert.correction is not None:
                key = DeliveryKey.correction(owner.id, channel, alert.correction.correction_id)
            else:
                key = DeliveryKey.alert(owner.id, channel, event.response_id, event.revision)
            jobs.append(NewJob(key, kind, payload, arrived))
    return Decision(snapshots, jobs, items, unchanged_owners, duplicates)


def snapshot_of(sections: list[AlertSection]) -> dict:
    """What to remember of an owner's part, to compare the next revision with."""
    return {"sections": [s.model_dump(mode="json") for s in sections]}


def moved_paragraphs(event: ResponseClassified) -> set[tuple[int, str]]:
    """The paragraphs (question, text) this routing's correction routed somewhere: what a "moved" alert may show."""
    if event.correction_id is None:
        return set()
    indexes = {
        routed.paragraph
        for route in event.routes
        for routed in route.paragraphs
        if any(r.correction is not None and r.correction.correction_id == event.correction_id for r in routed.reasons)
    }
    return {(p.question, p.text) for p in event.paragraphs if p.index in indexes}


def moved_to(previous: dict, current: list[AlertSection]) -> list[AlertSection]:
    """Per section, the paragraphs of `current` the owner had in none of their sections before (`previous`, a
    snapshot's content): what a correction gave them. A paragraph moved between two of their own sections is
    no news to them."""
    had = {(p["question"], p["text"]) for s in previous.get("sections", []) for p in s.get("paragraphs", [])}
    result = []
    for section in current:
        gained = [p for p in section.paragraphs if (p.question, p.text) not in had]
        if gained:
            result.append(AlertSection(section_id=section.section_id, title=section.title, paragraphs=gained))
    return result


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
