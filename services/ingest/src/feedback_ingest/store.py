"""Ingest's durable store: responses, their revisions, contact data and the transactional outbox.

SQLite by default, PostgreSQL (asyncpg) when DATABASE_URL says so. Contact data live in their own table so
that erasing them leaves the statement.

Accepts are committed in groups: the accepts waiting when the writer is free go into ONE transaction, each
still decided on its own (new revision, identical repeat, conflict) against what is stored and what the
group stored before it, and every caller hears its answer only once that transaction committed.

On SQLite the hot writes (accepts, the relay marking rows sent) use the standard library's driver on one
connection of their own, with a few set-based statements per group: BEGIN IMMEDIATE and the statements run
on the event loop (they only touch SQLite's page cache), and COMMIT, which waits for the disk, runs in a
dedicated thread. One thread hop per group: a thread that ran every statement would hand the GIL back and
forth with the busy event loop, waiting up to the interpreter's switch interval each time. The rare writes
(erasure, replay) run whole in that thread; the relay reads the outbox on the event loop. On PostgreSQL every
write is one transaction of SQLAlchemy Core through the async engine (asyncpg), up to four groups at once.
The read endpoints go through the async engine on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback_contracts.events import RESPONSES_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.responses import SurveyResponse
from feedback_runtime.db import async_database_url, async_engine

log = logging.getLogger("feedback.ingest.store")
T = TypeVar("T")
metadata = MetaData()

responses = Table(
    "responses",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("survey_id", String(128), nullable=False),
    Column("latest_revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

revisions = Table(
    "revisions",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("replaces_revision", Integer, nullable=True),
    Column("source", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("event", Text, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("first_name", String(300), nullable=True),
    Column("last_name", String(300), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)


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
class RevisionState:
    response_id: str
    survey_id: str
    revision: int
    replaces_revision: int | None
    source: str
    submitted_at: datetime
    received_at: datetime
    published_at: datetime | None

    @property
    def state(self) -> str:
        return "published" if self.published_at else "accepted"


@dataclass(frozen=True)
class Contact:
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    response_id: str
    revision: int
    topic: str
    payload: str
    created_at: datetime


normalise_database_url = async_database_url


def content_hash(response: SurveyResponse) -> str:
    """Fingerprint of everything the form sent, to tell a retry from a conflicting resubmission: SHA-256 of the
    response as pydantic serialises it (fields in the model's order)."""
    return hashlib.sha256(response.__pydantic_serializer__.to_json(response)).hexdigest()  # model_dump_json's bytes


def legacy_content_hash(response: SurveyResponse) -> str:
    """The fingerprint that revisions stored before the current one carry: SHA-256 of the response's JSON with
    sorted keys. It costs three times as much; it is worked out only to recognise a retry of such a revision."""
    canonical = json.dumps(response.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class _Pending:
    """One accept waiting for the writer: what was posted and the future its request awaits."""

    response: SurveyResponse
    received_at: datetime
    digest: str
    future: asyncio.Future[AcceptResult] | None = field(default=None, repr=False)


@dataclass
class _Plan:
    """What a group of accepts decided, and the rows its transaction writes."""

    outcomes: list[AcceptResult | ConflictError] = field(default_factory=list)
    new_responses: dict[str, dict] = field(default_factory=dict)
    changed_responses: dict[str, dict] = field(default_factory=dict)
    revisions: list[dict] = field(default_factory=list)
    # Per response accepted: its last accepted revision's contact row, or None when it came without one.
    # (Responses stored before the group, those in changed_responses, lose the contact rows they had.)
    contacts: dict[str, dict | None] = field(default_factory=dict)
    outbox: list[dict] = field(default_factory=list)


# How many waiting accepts one transaction takes at most.
MAX_GROUP = 256
# PostgreSQL: how many groups may be in flight at once. A group waits on several round trips to the server,
# during each of which the event loop serves other requests; one at a time, that latency caps the rate.
POSTGRES_WRITERS = 4
# ... and the smallest share of the waiting accepts one of them takes when the others could take the rest.
POSTGRES_MIN_SHARE = 16
# How long a write waits for another process (e.g. `feedback replay`) to release SQLite's write lock.
SQLITE_BUSY_TIMEOUT_S = 30.0
# How long the relay's reads, which run on the event loop, may wait for a lock: a wait there stops every
# request, so a busy file fails the read at once and the relay tries again after its backoff.
SQLITE_RELAY_READ_TIMEOUT_S = 0.1
# The relay's lease on PostgreSQL: a session-level advisory lock (database-local) under this key, and the
# channel each accepting transaction notifies, so that the relay holding the lease hears of every replica's
# accepts at once rather than at its next poll.
RELAY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"feedback-ingest outbox relay").digest()[:8], "big", signed=True)
OUTBOX_CHANNEL = "feedback_ingest_outbox"


class IngestStore:
    """Accepts revisions atomically with their outbox rows, and serves the relay and the read endpoints."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: AsyncEngine = async_engine(self.url)
        self._sqlite_path = _sqlite_path(self.url) if self.is_sqlite else ""
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_reads: sqlite3.Connection | None = None
        self._sqlite_engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        # SQLite has one writer at a time: the writes of this process take turns here.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._waiting: list[_Pending] = []
        self._writers = 0
        self._max_writers = 1 if self.is_sqlite else POSTGRES_WRITERS
        # The relay's lease while this process holds it: SQLite, the locked file's descriptor; PostgreSQL,
        # the connection whose session holds the advisory lock.
        self._lease: int | AsyncConnection | None = None

    async def close(self) -> None:
        deadline = time.monotonic() + 30
        while self._writers and time.monotonic() < deadline:  # answer what was accepted before closing
            await asyncio.sleep(0.01)
        await self.release_relay_lease()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        for connection in (self._sqlite, self._sqlite_reads):
            if connection is not None:
                connection.close()
        self._sqlite = self._sqlite_reads = None
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(1))
            return True
        except Exception:
            return False

    # Writing ------------------------------------------------------------------------------------

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite-commit")
        return self._thread

    async def _write(self, work: Callable[[Connection], T]) -> T:
        """A rare write: `work(connection)` in one transaction of SQLAlchemy Core (SQLite: in the writer thread)."""
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        if self._sqlite_engine is None:
            self._sqlite_engine = _sqlite_sync_engine(self._sqlite_path)
        engine = self._sqlite_engine

        def in_thread() -> T:
            with engine.begin() as conn:
                return work(conn)

        assert self._write_lock is not None
        async with self._write_lock:
            return await asyncio.get_running_loop().run_in_executor(self._writer_thread(), in_thread)

    async def _write_sqlite(self, work: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """A hot write on SQLite: `work(connection)` between BEGIN IMMEDIATE and a COMMIT in the writer thread.

        Not `durable`: the COMMIT does not wait for the disk (synchronous=NORMAL: a power cut may undo it, a
        crash of the process does not); the next durable commit writes it out with its own.
        """
        assert self._write_lock is not None
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            if self._sqlite is None:
                self._sqlite = await loop.run_in_executor(self._writer_thread(), _sqlite_connection, self._sqlite_path)
            connection = self._sqlite
            # Set for every transaction, so that no durable one ever depends on a reset after a lighter one.
            connection.execute("PRAGMA synchronous = FULL" if durable else "PRAGMA synchronous = NORMAL")
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                # Another process holds the write lock: wait for it in the thread, not on the event loop.
                await loop.run_in_executor(self._writer_thread(), _begin_waiting, connection)
            try:
                result = work(connection)
            except BaseException:
                if connection.in_transaction:  # some errors (a full disk, for one) end the transaction themselves
                    connection.execute("ROLLBACK")
                raise
            commit = loop.run_in_executor(self._writer_thread(), _commit, connection)
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                # The commit goes on in the thread: keep the connection to it until it is over.
                await asyncio.wait({commit})
                raise
            return result

    # Accepting ----------------------------------------------------------------------------------

    async def accept(self, response: SurveyResponse, received_at: datetime) -> AcceptResult:
        """Store a revision and its outbox row durably, or say why it is a duplicate or a conflict.

        Returns once the transaction holding it committed; raises ConflictError, or the database's error
        when that transaction failed (then nothing of it was stored).
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(response, received_at, content_hash(response), loop.create_future())
        self._waiting.append(pending)
        self._spawn_writer(loop)
        assert pending.future is not None
        return await pending.future

    def _spawn_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiting and self._writers < self._max_writers:
            self._writers += 1
            loop.create_task(self._write_waiting(), name="ingest-group-commit")

    async def _write_waiting(self) -> None:
        """Commit what waits, a group per transaction, until nothing does.

        PostgreSQL: a few of these run at once, each on a connection of its own that it keeps while there is
        work (row locks and unique keys keep concurrent groups correct); SQLite: one.
        """
        try:
            if self.is_sqlite:
                while self._waiting:
                    await self._commit_group(self._take())
                return
            if not self._waiting:  # another writer took it all meanwhile
                return
            try:
                conn = await self.engine.connect()
            except Exception as exc:
                # The database cannot be reached: this share's requests hear so (503) rather than wait.
                log.warning("cannot reach the database to store accepts (%s)", _describe(exc))
                for pending in self._take():
                    _answer(pending, exc)
                return
            try:
                while self._waiting:
                    if not await self._commit_group(self._take(), conn):
                        break  # the connection may be broken: the next writer takes a fresh one
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
        except Exception as exc:
            log.error("the group commit writer failed (%s)", _describe(exc))
        finally:
            self._writers -= 1
            self._spawn_writer(asyncio.get_running_loop())

    def _take(self) -> list[_Pending]:
        """The next group. PostgreSQL: a share of what waits, so the other writers take the rest at the same time
        (in a closed loop, requests come in waves: one writer taking a whole wave leaves the rest idle)."""
        size = MAX_GROUP
        if not self.is_sqlite:
            size = min(MAX_GROUP, max(POSTGRES_MIN_SHARE, -(-len(self._waiting) // self._max_writers)))
        group = self._waiting[:size]
        del self._waiting[:size]
        self._spawn_writer(asyncio.get_running_loop())
        return group

    async def _commit_group(self, group: list[_Pending], conn: AsyncConnection | None = None) -> bool:
        """Store a group and answer each of its requests; False when its transaction failed."""
        try:
            outcomes = await self._accept_group(group, conn)
        except Exception as exc:
            if len(group) == 1:
                _answer(group[0], exc)
                return False
            # What one request sent must not fail the others: each again, on its own.
            log.warning("a group of %d accepts failed (%s); retrying them one by one", len(group), _describe(exc))
            for pending in group:
                try:
                    (outcome,) = await self._accept_group([pending], None)
                except Exception as single:
                    outcome = single
                _answer(pending, outcome)
            return False
        for pending, outcome in zip(group, outcomes, strict=True):
            _answer(pending, outcome)
        return True

    async def _accept_group(
        self, group: list[_Pending], conn: AsyncConnection | None
    ) -> list[AcceptResult | ConflictError]:
        for attempt in range(3):
            try:
                if self.is_sqlite:
                    return await self._write_sqlite(lambda connection: _accept_sqlite(connection, group))
                if conn is None:
                    return await self._write(lambda sync: _accept_core(sync, group))
                async with conn.begin():
                    return await conn.run_sync(_accept_core, group)
            except (IntegrityError, sqlite3.IntegrityError):
                # Another transaction stored a first revision of one of these responses meanwhile: read again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # The relay's side -------------------------------------------------------------------------

    async def take_relay_lease(self, on_accepted: Callable[[], None]) -> bool:
        """Try to become the one relay that publishes this database's outbox; False when another holds it.

        Several replicas (or a second process on one SQLite file) share one outbox. Were each to publish it,
        every event would go out once per relay and two relays could publish one response's revisions out of
        order. The lease ends with the process (or, on PostgreSQL, its session), so a standby takes over.
        On PostgreSQL `on_accepted` is called whenever any replica commits accepts or a replay.
        """
        if self._lease is not None:
            return True
        if self.is_sqlite:
            descriptor = os.open(self._sqlite_path + ".relay-lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                os.close(descriptor)
                if isinstance(exc, BlockingIOError):
                    return False
                raise
            self._lease = descriptor
            return True
        conn = await self.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            held = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": RELAY_LOCK_KEY})).scalar()
            if not held:
                await conn.close()
                return False
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(OUTBOX_CHANNEL, lambda *_: on_accepted())  # type: ignore[union-attr]
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # end the session: it may hold the lock already
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._lease = conn
        return True

    async def relay_lease_held(self) -> bool:
        """Whether the lease is still this process's. On PostgreSQL a lost connection took the lock with it."""
        if self._lease is None:
            return False
        if isinstance(self._lease, int):
            return True
        try:
            await self._lease.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("the relay's lease connection failed (%s)", _describe(exc))
            await self.release_relay_lease()
            return False
        return True

    async def release_relay_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        if isinstance(lease, int):
            os.close(lease)  # closing the descriptor releases the lock
            return
        # Closing would return the connection to the pool with its session, and the lock and the LISTEN with
        # it: invalidate closes the session itself, which releases both.
        with contextlib.suppress(Exception):
            await lease.invalidate()
        with contextlib.suppress(Exception):
            await lease.close()

    def _relay_reads(self) -> sqlite3.Connection:
        """SQLite: the relay's reads, on the event loop (a WAL reader waits for no writer; the rows it reads were
        just written, so they come from the page cache). Through aiosqlite each read took several thread hops."""
        if self._sqlite_reads is None:
            self._sqlite_reads = sqlite3.connect(
                self._sqlite_path, timeout=SQLITE_RELAY_READ_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        return self._sqlite_reads

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest unsent outbox rows, in the order they were accepted."""
        if self.is_sqlite:
            found = self._relay_reads().execute(
                "SELECT id, response_id, revision, topic, payload, created_at FROM outbox "
                "WHERE sent_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            )
            return [
                OutboxRow(id_, rid, rev, topic, payload, _utc(datetime.fromisoformat(created)))  # type: ignore[arg-type]
                for id_, rid, rev, topic, payload, created in found
            ]
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit)
            )
            return [
                OutboxRow(r.id, r.response_id, r.revision, r.topic, r.payload, _utc(r.created_at))  # type: ignore[arg-type]
                for r in rows
            ]

    async def mark_sent(self, rows: list[OutboxRow], sent_at: datetime) -> None:
        """Mark rows sent (after the broker acknowledged them) and their revisions published: one UPDATE each."""
        if not rows:
            return
        ids = [r.id for r in rows]
        keys = list(dict.fromkeys((r.response_id, r.revision) for r in rows))
        if self.is_sqlite:
            at = _sqlite_time(sent_at)

            def mark_sqlite(connection: sqlite3.Connection) -> None:
                connection.execute(f"UPDATE outbox SET sent_at = ? WHERE id IN ({_marks(len(ids))})", [at, *ids])
                # One statement for every revision, each found through the primary key (a row-value IN list
                # would scan the table).
                connection.executemany(
                    "UPDATE revisions SET published_at = ? WHERE response_id = ? AND revision = ? "
                    "AND published_at IS NULL",
                    [(at, rid, rev) for rid, rev in keys],
                )

            # A mark lost to a power cut only means the rows are published again (consumers are idempotent):
            # its commit need not wait for the disk, nor hold up the accepts behind it meanwhile.
            await self._write_sqlite(mark_sqlite, durable=False)
            return

        def mark(conn: Connection) -> None:
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=sent_at))
            conn.execute(
                update(revisions)
                .where(
                    revisions.c.response_id == bindparam("b_response_id"),
                    revisions.c.revision == bindparam("b_revision"),
                    revisions.c.published_at.is_(None),
                )
                .values(published_at=sent_at),
                [{"b_response_id": rid, "b_revision": rev} for rid, rev in keys],
            )

        await self._write(mark)

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many outbox rows wait, and when the oldest of them was accepted."""
        if self.is_sqlite:
            count, oldest = (
                self._relay_reads()
                .execute("SELECT count(id), min(created_at) FROM outbox WHERE sent_at IS NULL")
                .fetchone()
            )
            return int(count), _utc(datetime.fromisoformat(oldest)) if oldest else None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(outbox.c.id), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
                )
            ).one()
        return int(row[0]), _utc(row[1])

    # Reads, erasure and replay ----------------------------------------------------------------

    async def revisions_of(self, response_id: str) -> list[RevisionState]:
        """Every stored revision of a response, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(revisions, responses.c.survey_id)
                .join(responses, responses.c.response_id == revisions.c.response_id)
                .where(revisions.c.response_id == response_id)
                .order_by(revisions.c.revision)
            )
            return [
                RevisionState(
                    response_id=r.response_id,
                    survey_id=r.survey_id,
                    revision=r.revision,
                    replaces_revision=r.replaces_revision,
                    source=r.source,
                    submitted_at=_utc(r.submitted_at),  # type: ignore[arg-type]
                    received_at=_utc(r.received_at),  # type: ignore[arg-type]
                    published_at=_utc(r.published_at),
                )
                for r in rows
            ]

    async def contact(self, response_id: str) -> Contact | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(contacts).where(contacts.c.response_id == response_id))).first()
        return Contact(row.first_name, row.last_name, row.email, row.phone) if row else None

    async def erase_contact(self, response_id: str) -> bool:
        """Delete a response's contact data; the statement stays. False when there was none."""
        return await self._write(
            lambda conn: bool(conn.execute(contacts.delete().where(contacts.c.response_id == response_id)).rowcount)
        )

    async def exists(self, response_id: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(responses.c.response_id).where(responses.c.response_id == response_id))
            return found.first() is not None

    async def latest_revisions(self) -> dict[str, int]:
        """Every response's latest accepted revision."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(responses.c.response_id, responses.c.latest_revision))
            return {r.response_id: r.latest_revision for r in rows}

    async def enqueue_latest(self, response_ids: list[str]) -> int:
        """Queue the latest revision of each response for publishing again; returns how many."""
        latest = (responses.c.response_id == revisions.c.response_id) & (
            responses.c.latest_revision == revisions.c.revision
        )
        query = (
            select(revisions.c.response_id, revisions.c.revision, revisions.c.event)
            .join(responses, latest)
            .where(revisions.c.response_id.in_(response_ids))
            .order_by(revisions.c.received_at)
        )
        return await self._requeue(query)

    async def enqueue_replay(self, *, since: datetime | None = None, response_id: str | None = None) -> int:
        """Queue stored revisions for publishing again, in their original order; returns how many."""
        query = select(revisions.c.response_id, revisions.c.revision, revisions.c.event).order_by(
            revisions.c.received_at, revisions.c.response_id, revisions.c.revision
        )
        if since is not None:
            query = query.where(revisions.c.received_at >= since)
        if response_id is not None:
            query = query.where(revisions.c.response_id == response_id)
        return await self._requeue(query)

    async def _requeue(self, query: Select) -> int:
        """Copy the stored events that `query` selects into the outbox, in its order."""
        now = datetime.now(UTC)

        def requeue(conn: Connection) -> int:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    outbox.insert(),
                    [
                        dict(
                            response_id=r.response_id,
                            revision=r.revision,
                            topic=RESPONSES_TOPIC,
                            payload=r.event,
                            created_at=now,
                        )
                        for r in rows
                    ],
                )
                if conn.dialect.name == "postgresql":
                    _notify_relay(conn)
            return len(rows)

        return await self._write(requeue)


class StoreError(Exception):
    """A write failed in the database. The message names the error, not the values written."""


def _describe(exc: BaseException) -> str:
    """An error, without what SQLAlchemy adds to its message: the statement's parameters, contact data among them."""
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return f"{type(exc).__name__} from {type(exc.orig).__name__}" + (f", SQLSTATE {code}" if code else "")
    return f"{type(exc).__name__}: {exc}"


def _answer(pending: _Pending, outcome: AcceptResult | Exception) -> None:
    if pending.future is None or pending.future.done():  # the request went away; what it sent is kept all the same
        return
    if isinstance(outcome, DBAPIError):
        outcome = StoreError(_describe(outcome))  # the request's handler logs what it gets
    if isinstance(outcome, Exception):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)


def _plan(
    group: Sequence[_Pending], latest: dict[str, int], stored: dict[tuple[str, int], tuple[str, int | None]]
) -> _Plan:
    """Decide each accept of a group, in the order they came, and collect the rows to write.

    `latest` holds the latest stored revision of each of the group's responses that exist, `stored` the
    content hash and replaced revision of each stored (response, revision) the group names. Each accept
    is decided as if alone, after the group's earlier ones: a new revision is accepted, the same revision
    with the same content is a duplicate, the same revision with other content or an older one a conflict.
    """
    plan = _Plan()
    existing = set(latest)
    latest = dict(latest)
    stored = dict(stored)
    for pending in group:
        response, received_at = pending.response, pending.received_at
        rid, rev = response.response_id, response.revision
        current = latest.get(rid)
        if current is not None:
            seen = stored.get((rid, rev))
            if seen is not None:
                if seen[0] == pending.digest or seen[0] == legacy_content_hash(response):
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
        payload = _event(response, received_at, current).model_dump_json()
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
                content_hash=pending.digest,
                replaces_revision=current,
                source=response.source,
                submitted_at=response.submitted_at,
                received_at=received_at,
                event=payload,
            )
        )
        plan.contacts[rid] = _contact_row(response, received_at)
        plan.outbox.append(
            dict(response_id=rid, revision=rev, topic=RESPONSES_TOPIC, payload=payload, created_at=received_at)
        )
        latest[rid] = rev
        stored[(rid, rev)] = (pending.digest, current)
        plan.outcomes.append(AcceptResult(Outcome.ACCEPTED, rid, rev, current))
    return plan


def _stored_ids(group: Sequence[_Pending], latest: dict[str, int]) -> list[str]:
    """The group's responses that are stored: whose revisions to look up."""
    return list(dict.fromkeys(p.response.response_id for p in group if p.response.response_id in latest))


def _named(group: Sequence[_Pending], rows: Iterable[Sequence]) -> dict[tuple[str, int], tuple[str, int | None]]:
    """Of the rows (response id, revision, content hash, replaced revision) those of revisions the group names."""
    named = {(p.response.response_id, p.response.revision) for p in group}
    return {(rid, rev): (digest, replaces) for rid, rev, digest, replaces in rows if (rid, rev) in named}


def _accept_core(conn: Connection, group: Sequence[_Pending]) -> list[AcceptResult | ConflictError]:
    """A group of accepts in SQLAlchemy Core, in the caller's transaction (PostgreSQL)."""
    ids = sorted({p.response.response_id for p in group})
    # Lock the stored responses (in key order) against other writers until this transaction ends.
    query = (
        select(responses.c.response_id, responses.c.latest_revision)
        .where(responses.c.response_id.in_(ids))
        .order_by(responses.c.response_id)
        .with_for_update()
    )
    latest: dict[str, int] = {r.response_id: r.latest_revision for r in conn.execute(query)}
    stored: dict[tuple[str, int], tuple[str, int | None]] = {}
    if known := _stored_ids(group, latest):
        rows = conn.execute(
            select(
                revisions.c.response_id, revisions.c.revision, revisions.c.content_hash, revisions.c.replaces_revision
            ).where(revisions.c.response_id.in_(known))
        )
        stored = _named(group, rows)
    plan = _plan(group, latest, stored)
    if plan.new_responses:
        # In key order, as the locks above: two groups inserting the same new responses wait, never deadlock.
        conn.execute(insert(responses), [plan.new_responses[rid] for rid in sorted(plan.new_responses)])
    if plan.changed_responses:
        conn.execute(
            update(responses).where(responses.c.response_id == bindparam("b_response_id")),
            list(plan.changed_responses.values()),
        )
    if plan.revisions:
        conn.execute(insert(revisions), plan.revisions)
        # A revision's contact data replace the previous revision's (or none, if it came without).
        if plan.changed_responses:
            conn.execute(contacts.delete().where(contacts.c.response_id.in_(list(plan.changed_responses))))
        if kept := [row for row in plan.contacts.values() if row is not None]:
            conn.execute(insert(contacts), kept)
        conn.execute(insert(outbox), plan.outbox)
        _notify_relay(conn)
    return plan.outcomes


def _notify_relay(conn: Connection) -> None:
    """PostgreSQL: wake the relay holding the lease, whichever replica runs it (delivered at commit)."""
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})


_REVISION_COLUMNS = tuple(c.name for c in revisions.columns if c.name != "published_at")
_CONTACT_COLUMNS = tuple(c.name for c in contacts.columns)
_OUTBOX_COLUMNS = ("response_id", "revision", "topic", "payload", "created_at")
_RESPONSE_COLUMNS = tuple(c.name for c in responses.columns)
_TIMES = frozenset({"created_at", "updated_at", "submitted_at", "received_at"})


def _accept_sqlite(connection: sqlite3.Connection, group: Sequence[_Pending]) -> list[AcceptResult | ConflictError]:
    """A group of accepts with the standard library's driver, in the caller's transaction (SQLite).

    Times are stored as SQLAlchemy stores them in SQLite, so the reads see one format.
    """
    ids = list(dict.fromkeys(p.response.response_id for p in group))
    latest: dict[str, int] = dict(
        connection.execute(
            f"SELECT response_id, latest_revision FROM responses WHERE response_id IN ({_marks(len(ids))})", ids
        ).fetchall()
    )
    stored: dict[tuple[str, int], tuple[str, int | None]] = {}
    if known := _stored_ids(group, latest):
        rows = connection.execute(
            "SELECT response_id, revision, content_hash, replaces_revision FROM revisions "
            f"WHERE response_id IN ({_marks(len(known))})",
            known,
        )
        stored = _named(group, rows)
    plan = _plan(group, latest, stored)
    if plan.new_responses:
        connection.executemany(
            _insert_sql("responses", _RESPONSE_COLUMNS), _values(plan.new_responses.values(), _RESPONSE_COLUMNS)
        )
    if plan.changed_responses:
        connection.executemany(
            "UPDATE responses SET latest_revision = ?, updated_at = ? WHERE response_id = ?",
            [
                (r["latest_revision"], _sqlite_time(r["updated_at"]), r["b_response_id"])
                for r in plan.changed_responses.values()
            ],
        )
    if plan.revisions:
        connection.executemany(_insert_sql("revisions", _REVISION_COLUMNS), _values(plan.revisions, _REVISION_COLUMNS))
        # A revision's contact data replace the previous revision's (or none, if it came without).
        if rids := list(plan.changed_responses):
            connection.execute(f"DELETE FROM contacts WHERE response_id IN ({_marks(len(rids))})", rids)
        if kept := [row for row in plan.contacts.values() if row is not None]:
            connection.executemany(_insert_sql("contacts", _CONTACT_COLUMNS), _values(kept, _CONTACT_COLUMNS))
        connection.executemany(_insert_sql("outbox", _OUTBOX_COLUMNS), _values(plan.outbox, _OUTBOX_COLUMNS))
    return plan.outcomes


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(len(columns))})"


def _values(rows: Iterable[dict], columns: Sequence[str]) -> list[tuple]:
    times = [c in _TIMES for c in columns]
    return [
        tuple([_sqlite_time(row[c]) if time else row[c] for c, time in zip(columns, times, strict=True)])
        for row in rows
    ]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _sqlite_time(value: datetime | None) -> str | None:
    """A time exactly as SQLAlchemy's SQLite dialect stores it: "YYYY-MM-DD HH:MM:SS.ffffff", the offset dropped
    (the times ingest makes are UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _event(response: SurveyResponse, received_at: datetime, replaces: int | None) -> ResponseReceived:
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


def _contact_row(response: SurveyResponse, now: datetime) -> dict | None:
    person = response.respondent
    values = dict(first_name=person.first_name, last_name=person.last_name, email=person.email, phone=person.phone)
    return dict(response_id=response.response_id, updated_at=now, **values) if any(values.values()) else None


def _sqlite_path(url: str) -> str:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ValueError("ingest needs a SQLite file (sqlite:///path), not an in-memory database")
    return path.split("?", 1)[0]


def _configure(connection: sqlite3.Connection) -> None:
    """WAL, synchronous=FULL (a commit is on disk before anyone hears of it), foreign keys on."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_connection(path: str) -> sqlite3.Connection:
    """The hot writes' connection (opened in the writer thread): no implicit transactions, and no waiting for
    the write lock on the event loop (BEGIN IMMEDIATE fails at once when another process holds it;
    `_begin_waiting` then waits in the thread)."""
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    _configure(connection)
    connection.execute("PRAGMA busy_timeout = 0")
    return connection


def _commit(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _begin_waiting(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _sqlite_sync_engine(path: str) -> Engine:
    """SQLAlchemy on the synchronous driver, for the rare writes in the writer thread; BEGIN IMMEDIATE takes
    the write lock at the start, so a transaction never fails half-way for want of it."""
    engine = create_engine(
        "sqlite:///" + path, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # the driver begins nothing itself; the "begin" hook does
        _configure(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
