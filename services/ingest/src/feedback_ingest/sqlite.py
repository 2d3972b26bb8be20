"""The store on a SQLite file: core.py's statements, run where SQLite wants them, and a hot path of its own
for what carries ingest's throughput (accepts, and the relay reading the outbox and marking rows sent).

SQLite has one writer at a time: this process's writes take turns on `_write_lock`. The rare writes
(erasure, replay) run whole in a writer thread through SQLAlchemy Core on the synchronous driver, with
BEGIN IMMEDIATE. The relay's reads run on the event loop (a WAL reader waits for no writer; the rows it
reads were just written, so they come from the page cache), waiting at most SQLITE_RELAY_READ_TIMEOUT_S for
a lock. The read endpoints go through the async engine (aiosqlite). Checkpoints run beside the writes
(checkpoints.py).

Why the hot path is the standard library's driver, and where it runs: ingest is bound by the CPU of its one
event loop, and this path is where the threads meet. BEGIN IMMEDIATE and a group's few set-based statements
run on the event loop (they only touch SQLite's page cache), and COMMIT, which waits for the disk, runs in the
writer thread: one thread hop per group. A thread that ran every statement (as aiosqlite, the async engine's
driver, does) would hand the GIL back and forth with the busy event loop, waiting up to the interpreter's
switch interval each time. SQLAlchemy Core on the synchronous driver could run on the loop as well, but costs
more CPU per row (measured for this split, groups of 64 full-size responses, batches of 200: the accept's
statements 31 µs per response on the driver, 46 µs through Core; marking 13 µs per row, 23 µs through Core;
the relay's read of a row and its event about a third less on the driver). So these stay on the driver,
decided by the same rules (rules.decide) as core.accept_group and checked against it by the same tests on
both databases.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from feedback_runtime.db import SQLITE_BUSY_TIMEOUT_SECONDS, configure_sqlite, sqlite_file

from .checkpoints import Checkpointer
from .core import CoreRepository, accepting
from .repository import OutboxRow
from .rules import AcceptResult, ConflictError, PostedRevision, decide, named_revisions, stored_responses
from .tables import contacts, responses, revisions

T = TypeVar("T")
# How long the relay's reads, which run on the event loop, may wait for a lock: a wait there stops every
# request, so a busy file fails the read at once and the relay tries again after its backoff.
SQLITE_RELAY_READ_TIMEOUT_S = 0.1


class SqliteRepository(CoreRepository):
    writers = 1

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_file(url)
        self.hot: sqlite3.Connection | None = None  # the accepts' and marks' connection, once opened
        self.reader: sqlite3.Connection | None = None  # the relay's reads of the outbox, once opened
        self._rare: Engine | None = None
        self._relay: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._write_lock = asyncio.Lock()
        self.checkpoints = Checkpointer(self.path)

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite-commit")
        return self._thread

    async def _write(self, work: Callable[[Connection], T]) -> T:
        """A rare write: `work(connection)` in one transaction of SQLAlchemy Core, in the writer thread."""
        if self._rare is None:
            self._rare = _engine(self.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, immediate=True)
        engine = self._rare

        def in_thread() -> T:
            with engine.begin() as conn:
                return work(conn)

        async with self._write_lock:
            return await asyncio.get_running_loop().run_in_executor(self._writer_thread(), in_thread)

    async def _relay_read(self, work: Callable[[Connection], T]) -> T:
        """The relay's reads, on the event loop (through aiosqlite each read took several thread hops)."""
        if self._relay is None:
            self._relay = _engine(self.path, timeout=SQLITE_RELAY_READ_TIMEOUT_S, immediate=False)
        with self._relay.connect() as conn:
            return work(conn)

    async def _write_hot(self, work: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """A hot write: `work(connection)` between BEGIN IMMEDIATE and a COMMIT in the writer thread.

        Not `durable`: the COMMIT does not wait for the disk (synchronous=NORMAL: a power cut may undo it, a
        crash of the process does not); the next durable commit writes it out with its own.
        """
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            if self.hot is None:
                self.hot = await loop.run_in_executor(self._writer_thread(), hot_connection, self.path)
            connection = self.hot
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
            done = loop.run_in_executor(self._writer_thread(), commit, connection)
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                # The commit goes on in the thread: keep the connection to it until it is over.
                await asyncio.wait({done})
                raise
            self.checkpoints.committed()
            return result

    def _reader(self) -> sqlite3.Connection:
        if self.reader is None:
            self.reader = sqlite3.connect(self.path, timeout=SQLITE_RELAY_READ_TIMEOUT_S, isolation_level=None)
        return self.reader

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """core.unsent on the standard library's driver, on the event loop like the relay's other reads: the
        rows and their events as the driver hands them over, without SQLAlchemy's result processing (a third of
        the read's CPU per row)."""
        return unsent_raw(self._reader(), limit)

    async def backlog(self) -> tuple[int, datetime | None]:
        """core.backlog on the standard library's driver (the relay asks before every batch)."""
        count, oldest = self._reader().execute(_BACKLOG_SQL).fetchone()
        return count, stored_time(oldest) if oldest else None

    async def writer(self) -> _Writer:
        return _Writer(self)  # one writer, on the one hot connection

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
        return await accepting(lambda: self._write_hot(lambda connection: accept_raw(connection, group)))

    async def mark_sent(self, rows: Sequence[OutboxRow], sent_at: datetime, epoch: int | None) -> None:
        """`epoch` is not checked here: on SQLite the lease is a lock on a file, which no other process can hold
        while this one lives (lease.FileLease), so no other relay can have taken over before this mark."""
        if rows:
            # A mark lost to a power cut only means the rows are published again (consumers are idempotent):
            # its commit need not wait for the disk, nor hold up the accepts behind it meanwhile.
            await self._write_hot(lambda connection: mark_raw(connection, rows, sent_at), durable=False)

    async def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        await self.checkpoints.close()
        for connection in (self.hot, self.reader):
            if connection is not None:
                connection.close()
        self.hot = self.reader = None
        for engine in (self._rare, self._relay):
            if engine is not None:
                engine.dispose()
        self._rare = self._relay = None
        await super().close()


class _Writer:
    def __init__(self, repository: SqliteRepository) -> None:
        self.accept = repository.accept

    async def close(self) -> None:
        pass


# The hot path on the standard library's driver. Times are stored as SQLAlchemy stores them in SQLite, so
# the reads see one format.

_REVISION_COLUMNS = tuple(c.name for c in revisions.columns)
_CONTACT_COLUMNS = tuple(c.name for c in contacts.columns)
_OUTBOX_COLUMNS = ("response_id", "revision", "topic", "created_at")
_RESPONSE_COLUMNS = tuple(c.name for c in responses.columns)
_TIMES = frozenset({"created_at", "updated_at", "submitted_at", "received_at"})


def accept_raw(connection: sqlite3.Connection, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
    """core.accept_group on the standard library's driver, in the caller's transaction: a few set-based
    statements per group."""
    ids = list(dict.fromkeys(s.response.response_id for s in group))
    latest: dict[str, int] = dict(
        connection.execute(
            f"SELECT response_id, latest_revision FROM responses WHERE response_id IN ({_marks(len(ids))})", ids
        ).fetchall()
    )
    stored = {}
    if known := stored_responses(group, latest):
        rows = connection.execute(
            "SELECT response_id, revision, content_hash, replaces_revision FROM revisions "
            f"WHERE response_id IN ({_marks(len(known))})",
            known,
        )
        stored = named_revisions(group, rows)
    plan = decide(group, latest, stored)
    if plan.new_responses:
        connection.executemany(
            _insert_sql("responses", _RESPONSE_COLUMNS), _values(plan.new_responses.values(), _RESPONSE_COLUMNS)
        )
    if plan.changed_responses:
        connection.executemany(
            "UPDATE responses SET latest_revision = ?, updated_at = ? WHERE response_id = ?",
            [
                (r["latest_revision"], sqlite_time(r["updated_at"]), r["b_response_id"])
                for r in plan.changed_responses.values()
            ],
        )
    if plan.revisions:
        connection.executemany(_INSERT_REVISION_SQL, _values(plan.revisions, _REVISION_COLUMNS))
        # A revision's contact data replace the previous revision's (or none, if it came without).
        if rids := list(plan.changed_responses):
            connection.execute(f"DELETE FROM contacts WHERE response_id IN ({_marks(len(rids))})", rids)
        if kept := [row for row in plan.contacts.values() if row is not None]:
            connection.executemany(_insert_sql("contacts", _CONTACT_COLUMNS), _values(kept, _CONTACT_COLUMNS))
        connection.executemany(_insert_sql("outbox", _OUTBOX_COLUMNS), _values(plan.outbox, _OUTBOX_COLUMNS))
    return plan.outcomes


def mark_raw(connection: sqlite3.Connection, rows: Sequence[OutboxRow], sent_at: datetime) -> None:
    """core.mark_sent on the standard library's driver, in the caller's transaction."""
    at, ids = sqlite_time(sent_at), [r.id for r in rows]
    connection.execute(f"UPDATE outbox SET sent_at = ? WHERE id IN ({_marks(len(ids))})", [at, *ids])
    connection.executemany(
        "INSERT INTO publications (response_id, revision, published_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(rid, rev, at) for rid, rev in dict.fromkeys((r.response_id, r.revision) for r in rows)],
    )


_BACKLOG_SQL = "SELECT count(*), min(created_at) FROM outbox WHERE sent_at IS NULL"
# The event goes in and comes out as the bytes of its text, which SQLite stores as text all the same (CAST keeps
# the bytes, read as UTF-8, the database's encoding): for Python to decode and encode ~8 KB of it per revision
# cost a quarter of the accept's statements (bytes in, 3 µs a revision, text in 10 µs; out 2 against 6).
_INSERT_REVISION_SQL = (
    f"INSERT INTO revisions ({', '.join(_REVISION_COLUMNS)}) "
    f"VALUES ({', '.join('CAST(? AS TEXT)' if c == 'event' else '?' for c in _REVISION_COLUMNS)})"
)
_UNSENT_SQL = (
    "SELECT o.id, o.response_id, o.revision, o.topic, CAST(r.event AS BLOB), o.created_at FROM outbox AS o "
    "JOIN revisions AS r ON r.response_id = o.response_id AND r.revision = o.revision "
    "WHERE o.sent_at IS NULL ORDER BY o.id LIMIT ?"
)


def unsent_raw(connection: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    """core.unsent on the standard library's driver: the oldest unsent rows with their revisions' events."""
    return [
        OutboxRow(id_, response_id, revision, topic, event, stored_time(created_at))
        for id_, response_id, revision, topic, event, created_at in connection.execute(_UNSENT_SQL, (limit,))
    ]


def stored_time(value: str) -> datetime:
    """A time as `sqlite_time` (and SQLAlchemy) stored it, back in UTC."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(len(columns))})"


def _values(rows: Iterable[dict], columns: Sequence[str]) -> list[tuple]:
    times = [c in _TIMES for c in columns]
    return [
        tuple([sqlite_time(row[c]) if time else row[c] for c, time in zip(columns, times, strict=True)]) for row in rows
    ]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def sqlite_time(value: datetime | None) -> str | None:
    """A time exactly as SQLAlchemy's SQLite dialect stores it: "YYYY-MM-DD HH:MM:SS.ffffff", the offset dropped
    (the times ingest makes are UTC)."""
    if value is None:
        return None
    # The first 26 characters are the time without its offset (the year has four digits, the microseconds six):
    # positional arguments and no `replace(tzinfo=None)` take less than half the time, and a revision writes six.
    return value.isoformat(" ", "microseconds")[:26]


def hot_connection(path: str) -> sqlite3.Connection:
    """The hot writes' connection (opened in the writer thread): no implicit transactions, and no waiting for
    the write lock on the event loop (BEGIN IMMEDIATE fails at once when another process holds it;
    `_begin_waiting` then waits in the thread)."""
    connection = sqlite3.connect(
        path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    configure_sqlite(connection)
    connection.execute("PRAGMA busy_timeout = 0")
    connection.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints.Checkpointer copies the log, off this path
    return connection


def commit(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _begin_waiting(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _engine(path: str, *, timeout: float, immediate: bool) -> Engine:
    """SQLAlchemy on the synchronous driver. `immediate` (the rare writes, in the writer thread): the runtime's
    settings on every connection, and BEGIN IMMEDIATE, which takes the write lock at the start, so a transaction
    never fails half-way for want of it. Otherwise (the relay's reads): plain reads that begin nothing."""
    engine = create_engine("sqlite:///" + path, connect_args={"timeout": timeout, "check_same_thread": False})
    if immediate:

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:  # noqa: ANN001
            dbapi_connection.isolation_level = None  # the driver begins nothing itself; the "begin" hook does
            configure_sqlite(dbapi_connection)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
