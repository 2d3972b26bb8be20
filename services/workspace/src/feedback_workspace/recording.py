"""Recording one classified revision in the store: the statement, the revision and the owners' items, in the
caller's transaction (the decisions themselves are items.decide's and items.decide_rerouting's, without I/O).

Events are ordered by (revision, routing): a new revision replaces the stored one; a higher routing of the stored
revision (a correction applied) re-routes it; anything else was seen before, or is older, and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from feedback_contracts.events import ResponseClassified

from .items import ItemChanges, State, StoredItem, decide, decide_rerouting, paragraph_ids, search_text
from .tables import item_events, items, paragraph_owners, revisions, statements

SYSTEM = "system"


@dataclass(frozen=True)
class Recorded:
    """What recording one revision did."""

    revision: int
    applied: bool
    routing: int = 1
    created: int = 0
    carried: int = 0
    changed: int = 0
    withdrawn: int = 0


def record_revision(conn: Connection, event: ResponseClassified, now: datetime) -> Recorded:
    stored = conn.execute(
        select(statements.c.latest_revision).where(statements.c.response_id == event.response_id).with_for_update()
    ).scalar()
    stored_routing = None
    if stored is not None:
        stored_routing = conn.execute(
            select(revisions.c.routing).where(
                revisions.c.response_id == event.response_id, revisions.c.revision == stored
            )
        ).scalar()
        if (stored, stored_routing or 1) >= (event.revision, event.routing):
            return Recorded(event.revision, applied=False, routing=event.routing)
    rerouting = stored == event.revision
    organization = event.respondent.organization
    values = dict(
        survey_id=event.survey_id, latest_revision=event.revision, organization=organization,
        respondent_type=event.respondent_type.value, received_at=event.received_at,
    )  # fmt: skip
    if stored is None:
        conn.execute(
            insert(statements), dict(response_id=event.response_id, first_received_at=event.received_at, **values)
        )
    else:
        conn.execute(update(statements).where(statements.c.response_id == event.response_id).values(**values))
    stored_event = dict(classified_at=event.classified_at, routing=event.routing, event=event.model_dump_json())
    if rerouting:
        conn.execute(
            update(revisions)
            .where(revisions.c.response_id == event.response_id, revisions.c.revision == event.revision)
            .values(**stored_event)
        )
    else:
        conn.execute(
            insert(revisions),
            dict(response_id=event.response_id, revision=event.revision, received_at=event.received_at, **stored_event),
        )
    _remember_paragraph_owners(conn, event)
    columns = [items.c.id, items.c.owner_id, items.c.section_id, items.c.paragraphs_digest, items.c.state]
    rows = conn.execute(
        select(*columns, items.c.withdrawn, *([items.c.paragraphs] if rerouting else [])).where(
            items.c.response_id == event.response_id
        )
    )
    existing = [
        StoredItem(
            r.id, r.owner_id, r.section_id, r.paragraphs_digest, State(r.state), r.withdrawn,
            paragraph_ids(json.loads(r.paragraphs)) if rerouting else frozenset(),
        )
        for r in rows
    ]  # fmt: skip
    changes = decide_rerouting(event, existing) if rerouting else decide(event, existing)
    _apply(conn, event, changes, now)
    return Recorded(
        event.revision, applied=True, routing=event.routing, created=len(changes.created),
        carried=len(changes.carried), changed=len(changes.changed) + len(changes.shrunk),
        withdrawn=len(changes.withdrawn),
    )  # fmt: skip


def _remember_paragraph_owners(conn: Connection, event: ResponseClassified) -> None:
    """Every owner each paragraph is routed to, kept for good: an owner may correct those paragraphs only."""
    ids = {p.index: p.paragraph_id for p in event.paragraphs}
    routed = {(ids[rp.paragraph], owner) for route in event.routes for rp in route.paragraphs for owner in route.owners}
    known = conn.execute(
        select(paragraph_owners.c.paragraph_id, paragraph_owners.c.owner_id).where(
            paragraph_owners.c.response_id == event.response_id
        )
    )
    new = routed - {(row.paragraph_id, row.owner_id) for row in known}
    if new:
        conn.execute(
            insert(paragraph_owners),
            [{"response_id": event.response_id, "paragraph_id": p, "owner_id": o} for p, o in sorted(new)],
        )


def _apply(conn: Connection, event: ResponseClassified, changes: ItemChanges, now: datetime) -> None:
    organization, rtype = event.respondent.organization, event.respondent_type.value
    moved = _Moved.of(event, changes)
    if changes.created:
        # One INSERT ... RETURNING for all of them (a statement's ten or so items), the ids in the rows' order;
        # the values go as parameters, so the compiled statement is SQLAlchemy's cached one.
        created = conn.execute(
            insert(items).returning(items.c.id, sort_by_parameter_order=True),
            [
                dict(
                    owner_id=content.owner_id, response_id=event.response_id, section_id=content.section_id,
                    section_title=content.section_title, revision=event.revision, respondent_type=rtype,
                    organization=organization, paragraphs=json.dumps(content.paragraphs, ensure_ascii=False),
                    paragraphs_digest=content.digest, paragraph_count=len(content.paragraphs),
                    search_text=search_text(organization, content),
                    state=State.NEW.value, withdrawn=False, created_at=now, updated_at=now, state_changed_at=now,
                )
                for content in changes.created
            ],
        ).scalars().all()  # fmt: skip
        if moved:
            moved.history(conn, created, now, "moved_in", to_state=State.NEW.value)
        else:
            _history(conn, created, now, "routed", event.revision, to_state=State.NEW.value)
    for item, content in changes.carried:
        conn.execute(
            update(items).where(items.c.id == item.id).values(
                revision=event.revision, paragraphs=json.dumps(content.paragraphs, ensure_ascii=False),
                section_title=content.section_title, organization=organization, respondent_type=rtype,
            )
        )  # fmt: skip
    for item, content in changes.changed:
        conn.execute(
            update(items).where(items.c.id == item.id).values(
                revision=event.revision, paragraphs=json.dumps(content.paragraphs, ensure_ascii=False),
                paragraphs_digest=content.digest, paragraph_count=len(content.paragraphs),
                search_text=search_text(organization, content),
                section_title=content.section_title, organization=organization, respondent_type=rtype,
                state=State.NEW.value, withdrawn=False, updated_at=now, state_changed_at=now,
            )
        )  # fmt: skip
        if moved:
            moved.history(conn, [item.id], now, "moved_in", from_state=item.state.value, to_state=State.NEW.value)
        else:
            _history(conn, [item.id], now, "changed", event.revision, from_state=item.state.value, to_state=State.NEW.value)  # fmt: skip
    for item, content in changes.shrunk:
        # Paragraphs were moved away: what is left was read before, so the state stays.
        conn.execute(
            update(items).where(items.c.id == item.id).values(
                revision=event.revision, paragraphs=json.dumps(content.paragraphs, ensure_ascii=False),
                paragraphs_digest=content.digest, paragraph_count=len(content.paragraphs),
                search_text=search_text(organization, content), section_title=content.section_title,
            )
        )  # fmt: skip
    if changes.shrunk and moved:
        moved.history(conn, [item.id for item, _ in changes.shrunk], now, "moved_out")
    if changes.withdrawn:
        ids = [item.id for item in changes.withdrawn]
        conn.execute(update(items).where(items.c.id.in_(ids)).values(withdrawn=True, updated_at=now))
        if moved:
            moved.history(conn, ids, now, "moved_out")
        else:
            _history(conn, ids, now, "withdrawn", event.revision)


@dataclass(frozen=True)
class _Moved:
    """A re-routing's history entries: who moved the paragraphs (the correction's role), why, and by which
    correction."""

    revision: int
    correction_id: str
    actor: str
    reason: str | None

    @classmethod
    def of(cls, event: ResponseClassified, changes: ItemChanges) -> _Moved | None:
        if changes.correction_id is None:
            return None
        note = next((c for c in event.corrections if c.correction_id == changes.correction_id), None)
        actor, reason = (note.by_role, note.reason) if note is not None else (SYSTEM, None)
        return cls(event.revision, changes.correction_id, actor, reason)

    def history(
        self, conn: Connection, item_ids: Iterable[int], now: datetime, kind: str, *,
        from_state: str | None = None, to_state: str | None = None,
    ) -> None:  # fmt: skip
        _history(
            conn, item_ids, now, kind, self.revision, from_state=from_state, to_state=to_state,
            actor=self.actor, note=self.reason, correction_id=self.correction_id,
        )  # fmt: skip


def _history(
    conn: Connection, item_ids: Iterable[int], now: datetime, kind: str, revision: int, *,
    from_state: str | None = None, to_state: str | None = None, actor: str = SYSTEM, note: str | None = None,
    correction_id: str | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(item_events),
        [
            dict(
                item_id=i, at=now, actor=actor, kind=kind, from_state=from_state, to_state=to_state, note=note,
                revision=revision, correction_id=correction_id,
            )
            for i in item_ids
        ],
    )  # fmt: skip
