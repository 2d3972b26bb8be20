"""The workspace's store (SQLite or PostgreSQL through SQLAlchemy Core): recording classified revisions as items,
and the queries the pages make."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.events import ResponseClassified
from feedback_runtime.db import async_engine
from feedback_runtime.migrations import migrate_on_start

from .items import MAX_NOTE_CHARS, NO_SECTION, ItemChanges, State, StoredItem, decide, search_text
from .tables import item_events, items, revisions, statements

MIGRATIONS = Path(__file__).parent / "migrations"
SYSTEM = "system"


def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Recorded:
    """What recording one revision did."""

    revision: int
    applied: bool
    created: int = 0
    carried: int = 0
    changed: int = 0
    withdrawn: int = 0


@dataclass(frozen=True)
class ItemFilter:
    """What an item list shows. `owners` None: every owner's (the strategy office)."""

    owners: frozenset[str] | None
    state: State | None = None
    section: str | None = None  # a section and everything below it
    respondent_type: str | None = None
    text: str | None = None
    owner: str | None = None
    withdrawn: bool = False


class ItemNotFound(LookupError):
    pass


class WorkspaceStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = async_engine(url)

    async def create(self) -> None:
        await migrate_on_start(MIGRATIONS, self.url)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(1))
            return True
        except Exception:
            return False

    # Recording -----------------------------------------------------------------------------------

    async def record(self, event: ResponseClassified, now: datetime) -> Recorded:
        """Apply one classified revision to its statement's items, once: a revision not newer than the stored
        one (a redelivery, a replay, an older revision arriving late) changes nothing."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(_record, event, now)

    # Reading -------------------------------------------------------------------------------------

    async def items(self, where: ItemFilter, limit: int, offset: int = 0) -> tuple[list[dict], int]:
        """A page of items, newest first, and how many match in all."""
        condition = _condition(where)
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(items).where(condition))).scalar_one()
            rows = await conn.execute(
                select(items)
                .where(condition)
                .order_by(items.c.updated_at.desc(), items.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_item(r) for r in rows.mappings()], total

    async def state_counts(self, where: ItemFilter) -> dict[State, int]:
        """How many items of the filter are in each state (the filter's own state ignored)."""
        condition = _condition(ItemFilter(**{**where.__dict__, "state": None}))
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(items.c.state, func.count()).where(condition).group_by(items.c.state))
            found = {State(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in State}

    async def item(self, item_id: int) -> dict:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(items).where(items.c.id == item_id))).mappings().first()
            if row is None:
                raise ItemNotFound(item_id)
            history = await conn.execute(
                select(item_events).where(item_events.c.item_id == item_id).order_by(item_events.c.id)
            )
            item = _item(row)
            item["history"] = [{**h, "at": utc(h["at"])} for h in history.mappings()]
            return item

    async def statement(self, response_id: str) -> dict | None:
        """The statement, every revision (newest first, each with its event) and its items."""
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(statements).where(statements.c.response_id == response_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            revs = await conn.execute(
                select(revisions).where(revisions.c.response_id == response_id).order_by(revisions.c.revision.desc())
            )
            its = await conn.execute(select(items).where(items.c.response_id == response_id).order_by(items.c.id))
            return {
                **row,
                "first_received_at": utc(row["first_received_at"]),
                "received_at": utc(row["received_at"]),
                "revisions": [
                    {
                        "revision": r["revision"],
                        "received_at": utc(r["received_at"]),
                        "event": ResponseClassified.model_validate_json(r["event"]),
                    }
                    for r in revs.mappings()
                ],
                "items": [_item(i) for i in its.mappings()],
            }

    async def coverage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Per (section, respondent type): how many statements and routed paragraphs (current items only; the
        owners of one section share its paragraphs, so each statement counts once per section)."""
        shares = (
            select(items.c.section_id, items.c.respondent_type, items.c.response_id, items.c.paragraph_count)
            .where(items.c.withdrawn.is_(False))
            .distinct()
            .subquery()
        )
        query = select(
            shares.c.section_id, shares.c.respondent_type, func.count(), func.sum(shares.c.paragraph_count)
        ).group_by(shares.c.section_id, shares.c.respondent_type)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return {(section, rtype): (int(n), int(p)) for section, rtype, n, p in rows}

    async def waiting_longest(self, limit: int) -> list[dict]:
        """Items still `uusi`, longest waiting first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(items)
                .where(items.c.state == State.NEW.value, items.c.withdrawn.is_(False))
                .order_by(items.c.state_changed_at, items.c.id)
                .limit(limit)
            )
            return [_item(r) for r in rows.mappings()]

    async def counts_by_state(self) -> dict[State, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(items.c.state, func.count()).where(items.c.withdrawn.is_(False)).group_by(items.c.state)
            )
            found = {State(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in State}

    # Changing ------------------------------------------------------------------------------------

    async def set_state(self, item_id: int, actor: str, state: State, note: str | None, now: datetime) -> dict:
        """Move an item to `state` with an optional note; the change is kept in the item's history."""
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"note over {MAX_NOTE_CHARS} characters")

        def work(conn: Connection) -> None:
            row = conn.execute(select(items).where(items.c.id == item_id).with_for_update()).mappings().first()
            if row is None:
                raise ItemNotFound(item_id)
            values: dict[str, Any] = {"state": state.value, "state_changed_at": now}
            if note is not None:
                values["note"] = note
            if row["first_acknowledged_at"] is None and state is not State.NEW:
                values["first_acknowledged_at"] = now
            conn.execute(update(items).where(items.c.id == item_id).values(**values))
            conn.execute(
                insert(item_events).values(
                    item_id=item_id, at=now, actor=actor, kind="state", from_state=row["state"], to_state=state.value,
                    note=note, revision=row["revision"],
                )
            )  # fmt: skip

        async with self.engine.begin() as conn:
            await conn.run_sync(work)
        return await self.item(item_id)


def _condition(where: ItemFilter) -> Any:
    parts: list[Any] = [items.c.withdrawn.is_(where.withdrawn)]
    if where.owners is not None:
        parts.append(items.c.owner_id.in_(sorted(where.owners)))
    if where.owner:
        parts.append(items.c.owner_id == where.owner)
    if where.state is not None:
        parts.append(items.c.state == where.state.value)
    if where.section is not None:
        if where.section == NO_SECTION:
            parts.append(items.c.section_id == NO_SECTION)
        else:
            parts.append(or_(items.c.section_id == where.section, items.c.section_id.like(where.section + ".%")))
    if where.respondent_type:
        parts.append(items.c.respondent_type == where.respondent_type)
    if where.text:
        pattern = "%" + where.text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        parts.append(items.c.search_text.like(pattern, escape="\\"))
    return and_(*parts)


def _item(row: RowMapping) -> dict:
    item = dict(row)
    item["paragraphs"] = json.loads(item["paragraphs"])
    item["state"] = State(item["state"])
    for name in (
        "created_at",
        "updated_at",
        "state_changed_at",
        "first_acknowledged_at",
        "reminded_at",
        "escalated_at",
    ):
        item[name] = utc(item[name])
    item.pop("search_text", None)
    return item


def _record(conn: Connection, event: ResponseClassified, now: datetime) -> Recorded:
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
