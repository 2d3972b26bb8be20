"""The workspace's store (SQLite or PostgreSQL through SQLAlchemy Core): recording classified revisions as items,
and the queries the pages make."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.events import ItemsOverdue, ResponseClassified
from feedback_runtime.db import answers, async_engine
from feedback_runtime.migrations import migrate_on_start

from .escalation import Candidate, Notice, Policy
from .items import MAX_NOTE_CHARS, NO_SECTION, State
from .recording import SYSTEM, Recorded, record_revision
from .tables import item_events, items, reminders, revisions, statements

MIGRATIONS = Path(__file__).parent / "migrations"
DecideOverdue = Callable[[list[Candidate], datetime, Policy], list[Notice]]


def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        return await answers(self.engine)

    # Recording -----------------------------------------------------------------------------------

    async def record(self, event: ResponseClassified, now: datetime) -> Recorded:
        """Apply one classified revision (or re-routing of it) to its statement's items, once: an event not newer
        by (revision, routing) than the stored one (a redelivery, a replay, an older one arriving late) changes
        nothing."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(record_revision, event, now)

    # Reading -------------------------------------------------------------------------------------

    async def items(self, where: ItemFilter, limit: int, offset: int = 0) -> tuple[list[dict], int]:
        """A page of items, newest first, and how many match in all."""
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(items).where(_condition(where)))).scalar_one()
        return await self._newest_first(where, limit, offset), total

    async def _newest_first(self, where: ItemFilter, limit: int, offset: int) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(items)
                .where(_condition(where))
                .order_by(items.c.updated_at.desc(), items.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_item(r) for r in rows.mappings()]

    async def page(self, where: ItemFilter, limit: int, offset: int = 0) -> tuple[list[dict], dict[State, int], int]:
        """A page of items, newest first, the counts per state of the filter without its state, and how many
        match in all (taken from those counts: one scan of the matching items fewer)."""
        counts = await self.state_counts(where)
        total = counts[where.state] if where.state is not None else sum(counts.values())
        return await self._newest_first(where, limit, offset), counts, total

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

    # Escalation ----------------------------------------------------------------------------------

    async def record_overdue(self, now: datetime, policy: Policy, decide: DecideOverdue) -> list[Notice]:
        """In one transaction: the items still new that may be overdue to `decide` (`escalation.plan`), then
        what it decided recorded: the items marked reminded or escalated, their history, the events kept in
        the outbox for publishing. Replicas running this at once take different items (skip locked)."""
        now = now.astimezone(UTC)
        # N working days are at least N calendar days: only items that old are read; `decide` counts working days.
        not_reminded = or_(items.c.reminded_at.is_(None), items.c.reminded_at < items.c.state_changed_at)
        reminded = and_(items.c.reminded_at.is_not(None), items.c.reminded_at >= items.c.state_changed_at)
        not_escalated = or_(items.c.escalated_at.is_(None), items.c.escalated_at < items.c.reminded_at)
        query = (
            select(*_CANDIDATE_COLUMNS)
            .where(
                items.c.state == State.NEW.value,
                items.c.withdrawn.is_(False),
                or_(
                    and_(not_reminded, items.c.state_changed_at <= now - timedelta(days=policy.reminder_days)),
                    and_(reminded, not_escalated, items.c.reminded_at <= now - timedelta(days=policy.escalation_days)),
                ),
            )
            .order_by(items.c.id)
            .with_for_update(skip_locked=True)
        )

        def work(conn: Connection) -> list[Notice]:
            candidates = [
                Candidate(**{**row, **{name: utc(row[name]) for name in _CANDIDATE_TIMES}})
                for row in conn.execute(query).mappings()
            ]
            notices = decide(candidates, now, policy)
            for notice in notices:
                marked = {"reminded_at": now} if notice.kind == "reminder" else {"escalated_at": now}
                for start in range(0, len(notice.item_ids), _CHUNK):
                    chunk = notice.item_ids[start : start + _CHUNK]
                    conn.execute(update(items).where(items.c.id.in_(chunk)).values(**marked))
                    conn.execute(
                        insert(item_events),
                        [dict(item_id=i, at=now, actor=SYSTEM, kind=notice.kind, from_state=None, to_state=None,
                              note=None, revision=None) for i in chunk],
                    )  # fmt: skip
                conn.execute(
                    insert(reminders).values(
                        id=notice.event.reminder_id, kind=notice.kind, recipient_owner_id=notice.event.recipient_owner_id,
                        item_count=len(notice.item_ids), event=notice.event.model_dump_json(), created_at=now,
                    )
                )  # fmt: skip
            return notices

        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    async def unpublished_reminders(self, limit: int) -> list[ItemsOverdue]:
        """Reminders and escalations recorded but not yet acknowledged by the broker, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(reminders.c.event)
                .where(reminders.c.published_at.is_(None))
                .order_by(reminders.c.created_at, reminders.c.id)
                .limit(limit)
            )
            return [ItemsOverdue.model_validate_json(event) for event in rows.scalars()]

    async def reminder_published(self, reminder_id: str, now: datetime) -> bool:
        """Mark a reminder published; False if it already was (another replica, or a publish repeated)."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(reminders)
                .where(reminders.c.id == reminder_id, reminders.c.published_at.is_(None))
                .values(published_at=now.astimezone(UTC))
            )
            return done.rowcount == 1


# Items marked per statement when a reminder covers many.
_CHUNK = 500
_CANDIDATE_COLUMNS = (
    items.c.id, items.c.owner_id, items.c.response_id, items.c.section_id, items.c.section_title,
    items.c.organization, items.c.respondent_type, items.c.paragraph_count, items.c.state_changed_at,
    items.c.reminded_at, items.c.escalated_at,
)  # fmt: skip
_CANDIDATE_TIMES = ("state_changed_at", "reminded_at", "escalated_at")


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
            below = _like_escaped(where.section) + ".%"
            parts.append(or_(items.c.section_id == where.section, items.c.section_id.like(below, escape="\\")))
    if where.respondent_type:
        parts.append(items.c.respondent_type == where.respondent_type)
    if where.text:
        pattern = "%" + _like_escaped(where.text.casefold()) + "%"
        parts.append(items.c.search_text.like(pattern, escape="\\"))
    return and_(*parts)


def _like_escaped(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '\\' (its %, _ and \\ are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
