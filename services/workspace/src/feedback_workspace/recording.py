"""Recording one classified revision in the store: the statement, the revision and the owners' items, in the
caller's transaction (the decisions themselves are items.decide's, without I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from feedback_contracts.events import ResponseClassified

from .items import ItemChanges, State, StoredItem, decide, search_text
from .tables import item_events, items, revisions, statements

SYSTEM = "system"


@dataclass(frozen=True)
class Recorded:
    """What recording one revision did."""

    revision: int
    applied: bool
    created: int = 0
    carried: int = 0
    changed: int = 0
    withdrawn: int = 0


def record_revision(conn: Connection, event: ResponseClassified, now: datetime) -> Recorded:
    stored = conn.execute(
        select(statements.c.latest_revision).where(statements.c.response_id == event.response_id).with_for_update()
    ).scalar()
    if stored is not None and stored >= event.revision:
        return Recorded(event.revision, applied=False)
    organization = event.respondent.organization
    values = dict(
        survey_id=event.survey_id, latest_revision=event.revision, organization=organization,
        respondent_type=event.respondent_type.value, received_at=event.received_at,
    )  # fmt: skip
    if stored is None:
        conn.execute(
            insert(statements).values(response_id=event.response_id, first_received_at=event.received_at, **values)
        )
    else:
        conn.execute(update(statements).where(statements.c.response_id == event.response_id).values(**values))
    conn.execute(
        insert(revisions).values(
            response_id=event.response_id, revision=event.revision, received_at=event.received_at,
            classified_at=event.classified_at, event=event.model_dump_json(),
        )
    )  # fmt: skip
    rows = conn.execute(
        select(
            items.c.id,
            items.c.owner_id,
            items.c.section_id,
            items.c.paragraphs_digest,
            items.c.state,
            items.c.withdrawn,
        ).where(items.c.response_id == event.response_id)
    )
    existing = [
        StoredItem(r.id, r.owner_id, r.section_id, r.paragraphs_digest, State(r.state), r.withdrawn) for r in rows
    ]
    changes = decide(event, existing)
    _apply(conn, event, changes, now)
    return Recorded(
        event.revision, applied=True, created=len(changes.created), carried=len(changes.carried),
        changed=len(changes.changed), withdrawn=len(changes.withdrawn),
    )  # fmt: skip


def _apply(conn: Connection, event: ResponseClassified, changes: ItemChanges, now: datetime) -> None:
    organization, rtype = event.respondent.organization, event.respondent_type.value
    for content in changes.created:
        item_id = conn.execute(
            insert(items).values(
                owner_id=content.owner_id, response_id=event.response_id, section_id=content.section_id,
                section_title=content.section_title, revision=event.revision, respondent_type=rtype,
                organization=organization, paragraphs=json.dumps(content.paragraphs, ensure_ascii=False),
                paragraphs_digest=content.digest, paragraph_count=len(content.paragraphs),
                search_text=search_text(organization, content),
                state=State.NEW.value, withdrawn=False, created_at=now, updated_at=now, state_changed_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
        _history(conn, [item_id], now, "routed", event.revision, to_state=State.NEW.value)
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
        _history(conn, [item.id], now, "changed", event.revision, from_state=item.state.value, to_state=State.NEW.value)
    if changes.withdrawn:
        ids = [item.id for item in changes.withdrawn]
        conn.execute(update(items).where(items.c.id.in_(ids)).values(withdrawn=True, updated_at=now))
        _history(conn, ids, now, "withdrawn", event.revision)


def _history(
    conn: Connection, item_ids: Iterable[int], now: datetime, kind: str, revision: int, *,
    from_state: str | None = None, to_state: str | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(item_events),
        [
            dict(
                item_id=i,
                at=now,
                actor=SYSTEM,
                kind=kind,
                from_state=from_state,
                to_state=to_state,
                note=None,
                revision=revision,
            )
            for i in item_ids
        ],
    )
