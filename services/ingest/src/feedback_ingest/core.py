"""The store's SQL, once, in SQLAlchemy Core: statements as functions of a (synchronous) connection, and
`CoreRepository`, which runs them on the async engine. The PostgreSQL adapter is CoreRepository with its
transactions; the SQLite adapter runs the same functions in its writer thread or on the event loop, and only
its accepts and marks take the standard library's driver (see sqlite.py)."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Insert, Select, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.events import RESPONSES_TOPIC
from feedback_runtime.db import answers, async_engine

from .repository import Contact, OutboxRow, RelayLeaseLost, RevisionState, StoreError
from .rules import AcceptResult, ConflictError, PostedRevision, decide, named_revisions, stored_responses
from .tables import RELAY_LEASE_ROW, contacts, outbox, publications, relay_lease, responses, revisions

T = TypeVar("T")
# PostgreSQL: the channel each accepting transaction notifies, so that the relay holding the lease hears of
# every replica's accepts at once rather than at its next poll.
OUTBOX_CHANNEL = "feedback_ingest_outbox"


def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def describe(exc: BaseException) -> str:
    """An error, without what SQLAlchemy adds to its message: the statement's parameters, contact data among them."""
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return f"{type(exc).__name__} from {type(exc.orig).__name__}" + (f", SQLSTATE {code}" if code else "")
    return f"{type(exc).__name__}: {exc}"


async def accepting(write: Callable[[], Awaitable[T]]) -> T:
    """Run an accepting transaction, again when another one stored a first revision of one of its responses
    meanwhile (a unique key failed: read again); the database's errors come out as StoreError."""
    failure: DBAPIError
    for attempt in range(3):
        try:
            return await write()
        except IntegrityError as exc:
            if attempt < 2:
                continue
            failure = exc
        except sqlite3.IntegrityError:
            if attempt < 2:
                continue
            raise
        except DBAPIError as exc:
            failure = exc
        break
    raise StoreError(describe(failure))  # raised out here, it carries no context holding the parameters


def notify_relay(conn: Connection) -> None:
    """PostgreSQL: wake the relay holding the lease, whichever replica runs it (delivered at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})


def accept_group(conn: Connection, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
    """Decide a group (rules.decide) and write its rows, in the caller's transaction."""
    ids = sorted({s.response.response_id for s in group})
    # Lock the stored responses (in key order) against other writers until this transaction ends.
    query = (
        select(responses.c.response_id, responses.c.latest_revision)
        .where(responses.c.response_id.in_(ids))
        .order_by(responses.c.response_id)
        .with_for_update()
    )
    latest: dict[str, int] = {r.response_id: r.latest_revision for r in conn.execute(query)}
    stored = {}
    if known := stored_responses(group, latest):
        rows = conn.execute(
            select(
                revisions.c.response_id, revisions.c.revision, revisions.c.content_hash, revisions.c.replaces_revision
            ).where(revisions.c.response_id.in_(known))
        )
        stored = named_revisions(group, rows)
    plan = decide(group, latest, stored)
    if plan.new_responses:
        # In key order, as the locks above: two groups inserting the same new responses wait, never deadlock.
        conn.execute(insert(responses), [plan.new_responses[rid] for rid in sorted(plan.new_responses)])
    if plan.changed_responses:
        conn.execute(
            update(responses).where(responses.c.response_id == bindparam("b_response_id")),
            list(plan.changed_responses.values()),
        )
    if plan.revisions:
        conn.execute(insert(revisions), [{**row, "event": row["event"].decode()} for row in plan.revisions])
        # A revision's contact data replace the previous revision's (or none, if it came without).
        if plan.changed_responses:
            conn.execute(contacts.delete().where(contacts.c.response_id.in_(list(plan.changed_responses))))
        if kept := [row for row in plan.contacts.values() if row is not None]:
            conn.execute(insert(contacts), kept)
        conn.execute(insert(outbox), plan.outbox)
        notify_relay(conn)
    return plan.outcomes


def check_epoch(conn: Connection, epoch: int) -> None:
    """The relay lease's fence: RelayLeaseLost unless `epoch` is still the lease's. The row stays locked (shared)
    until the caller's transaction ends, so a takeover (which adds one to the epoch) waits for it."""
    query = select(relay_lease.c.epoch).where(relay_lease.c.id == RELAY_LEASE_ROW).with_for_update(read=True)
    current = conn.execute(query).scalar()
    if current != epoch:
        raise RelayLeaseLost(f"the relay lease's epoch is {current}, this relay's {epoch}: another relay took over")


def insert_new(conn: Connection, table: Table) -> Insert:
    """INSERT that leaves rows whose key is stored already as they are (ON CONFLICT DO NOTHING)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def mark_sent(conn: Connection, rows: Sequence[OutboxRow], sent_at: datetime, epoch: int | None) -> None:
    """Mark rows sent and their revisions published (the first publication of each is kept), once the lease's
    epoch is checked."""
    if epoch is not None:
        check_epoch(conn, epoch)
    conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(sent_at=sent_at))
    keys = dict.fromkeys((r.response_id, r.revision) for r in rows)
    conn.execute(
        insert_new(conn, publications),
        [dict(response_id=rid, revision=rev, published_at=sent_at) for rid, rev in keys],
    )


# The relay's read: the oldest unsent rows, each with the event of the revision it names.
UNSENT = (
    select(outbox.c.id, outbox.c.response_id, outbox.c.revision, outbox.c.topic, revisions.c.event,
           outbox.c.created_at)
    .join(revisions, (revisions.c.response_id == outbox.c.response_id) & (revisions.c.revision == outbox.c.revision))
    .where(outbox.c.sent_at.is_(None))
    .order_by(outbox.c.id)
)  # fmt: skip


def unsent(conn: Connection, limit: int) -> list[OutboxRow]:
    """The oldest unsent outbox rows, in the order they were accepted, with their events."""
    rows = conn.execute(UNSENT.limit(limit))
    return [OutboxRow(r.id, r.response_id, r.revision, r.topic, r.event.encode(), utc(r.created_at)) for r in rows]  # type: ignore[arg-type]


def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """How many outbox rows wait, and when the oldest of them was accepted."""
    query = select(func.count(outbox.c.id), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
    count, oldest = conn.execute(query).one()
    return int(count), utc(oldest)


def requeue(conn: Connection, query: Select) -> int:
    """Queue the revisions that `query` selects (response id, revision) in the outbox, in its order."""
    now = datetime.now(UTC)
    rows = conn.execute(query).all()
    if rows:
        queued = [
            dict(response_id=r.response_id, revision=r.revision, topic=RESPONSES_TOPIC, created_at=now) for r in rows
        ]
        conn.execute(outbox.insert(), queued)
        notify_relay(conn)
    return len(rows)


class CoreRepository(ABC):
    """The port on SQLAlchemy Core: reads on the async engine, writes as `_write` runs them (in subclasses)."""

    writers = 1

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = async_engine(url)

    @abstractmethod
    async def _write(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction: the SQLite and PostgreSQL adapters each run it their way."""

    async def _read(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def _relay_read(self, work: Callable[[Connection], T]) -> T:
        return await self._read(work)

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
        return await accepting(lambda: self._write(lambda conn: accept_group(conn, group)))

    async def unsent(self, limit: int) -> list[OutboxRow]:
        return await self._relay_read(lambda conn: unsent(conn, limit))

    async def mark_sent(self, rows: Sequence[OutboxRow], sent_at: datetime, epoch: int | None) -> None:
        if rows:
            await self._write(lambda conn: mark_sent(conn, rows, sent_at, epoch))

    async def backlog(self) -> tuple[int, datetime | None]:
        return await self._relay_read(backlog)

    async def revisions_of(self, response_id: str) -> list[RevisionState]:
        published = (publications.c.response_id == revisions.c.response_id) & (
            publications.c.revision == revisions.c.revision
        )
        query = (
            select(revisions, responses.c.survey_id, publications.c.published_at)
            .join(responses, responses.c.response_id == revisions.c.response_id)
            .outerjoin(publications, published)
            .where(revisions.c.response_id == response_id)
            .order_by(revisions.c.revision)
        )

        def read(conn: Connection) -> list[RevisionState]:
            return [
                RevisionState(
                    response_id=r.response_id,
                    survey_id=r.survey_id,
                    revision=r.revision,
                    replaces_revision=r.replaces_revision,
                    source=r.source,
                    submitted_at=utc(r.submitted_at),  # type: ignore[arg-type]
                    received_at=utc(r.received_at),  # type: ignore[arg-type]
                    published_at=utc(r.published_at),
                )
                for r in conn.execute(query)
            ]

        return await self._read(read)

    async def contact(self, response_id: str) -> Contact | None:
        query = select(contacts).where(contacts.c.response_id == response_id)
        row = await self._read(lambda conn: conn.execute(query).first())
        return Contact(row.first_name, row.last_name, row.email, row.phone) if row else None

    async def erase_contact(self, response_id: str) -> bool:
        statement = contacts.delete().where(contacts.c.response_id == response_id)
        return await self._write(lambda conn: bool(conn.execute(statement).rowcount))

    async def exists(self, response_id: str) -> bool:
        query = select(responses.c.response_id).where(responses.c.response_id == response_id)
        return await self._read(lambda conn: conn.execute(query).first() is not None)

    async def latest_revisions(self) -> dict[str, int]:
        query = select(responses.c.response_id, responses.c.latest_revision)
        return await self._read(lambda conn: {r.response_id: r.latest_revision for r in conn.execute(query)})

    async def enqueue_latest(self, response_ids: Sequence[str]) -> int:
        latest = (responses.c.response_id == revisions.c.response_id) & (
            responses.c.latest_revision == revisions.c.revision
        )
        query = (
            select(revisions.c.response_id, revisions.c.revision)
            .join(responses, latest)
            .where(revisions.c.response_id.in_(list(response_ids)))
            .order_by(revisions.c.received_at)
        )
        return await self._write(lambda conn: requeue(conn, query))

    async def enqueue_replay(self, *, since: datetime | None, response_id: str | None) -> int:
        query = select(revisions.c.response_id, revisions.c.revision).order_by(
            revisions.c.received_at, revisions.c.response_id, revisions.c.revision
        )
        if since is not None:
            query = query.where(revisions.c.received_at >= since)
        if response_id is not None:
            query = query.where(revisions.c.response_id == response_id)
        return await self._write(lambda conn: requeue(conn, query))

    async def ping(self) -> bool:
        return await answers(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()
