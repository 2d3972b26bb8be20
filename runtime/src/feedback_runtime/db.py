"""Databases as the services use them: URLs as operators write them, async engines for SQLite files and
PostgreSQL, and the SQLite settings every connection gets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# PostgreSQL: connections an engine keeps, and how many more it opens under load.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 10
# SQLite: how long a statement waits for another connection's write lock before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
T = TypeVar("T")


def async_database_url(url: str) -> str:
    """postgres://, postgresql:// -> postgresql+asyncpg://; sqlite:/// -> sqlite+aiosqlite:///."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def is_sqlite(url: str) -> bool:
    return async_database_url(url).startswith("sqlite")


def sqlite_file(url: str) -> str:
    """The file of a SQLite URL; an in-memory database is refused (the services' stores must survive them)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ValueError("a SQLite file is needed (sqlite:///path), not an in-memory database")
    return path.split("?", 1)[0]


def configure_sqlite(dbapi_connection: Any, _record: object = None) -> None:
    """WAL, synchronous=FULL (a commit is on disk before anyone hears of it), foreign keys on."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def async_engine(url: str) -> AsyncEngine:
    """An async SQLAlchemy engine for a SQLite file (its folder created, `configure_sqlite` on every
    connection) or PostgreSQL (a pooled connection set, checked before use)."""
    url = async_database_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(
            url, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_MAX_OVERFLOW, pool_pre_ping=True
        )
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path.split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(engine.sync_engine, "connect", configure_sqlite)
    return engine


def sqlite_writer_engine(url: str) -> Engine:
    """A synchronous engine for a store's own thread on a SQLite file: one connection, `configure_sqlite`, and
    transactions that take the write lock when they begin (BEGIN IMMEDIATE), so two that read, decide and write
    run one after the other instead of one failing at its first write. Running each transaction in one hop to
    that thread costs far less than aiosqlite's thread round trip per statement, cursor and commit."""
    path = sqlite_file(url)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's
        configure_sqlite(dbapi_connection, record)

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def answers(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query (readiness)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(select(1))
        return True
    except Exception:
        return False


class Transactions:
    """Runs a store's operations, each a plain function of a Connection, as one transaction each: on a SQLite
    file in one hop to the store's own thread, which holds the one connection that writes
    (`sqlite_writer_engine`); on PostgreSQL through the async driver. Committed when the function returns,
    rolled back when it raises."""

    def __init__(self, url: str, thread_name: str) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: AsyncEngine | None = None
        self.sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._connection: Connection | None = None  # the SQLite thread's own, kept between transactions
        if self.is_sqlite:
            self.sqlite = sqlite_writer_engine(self.url)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        else:
            self.engine = async_engine(self.url)

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self.sqlite is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite_run, work)
        assert self.engine is not None
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    def _sqlite_run(self, work: Callable[[Connection], T]) -> T:
        # The thread keeps its one connection checked out between transactions: the pool's checkout and
        # checkin around each one (a ROLLBACK to reset it included) cost more than a small transaction's SQL.
        assert self.sqlite is not None
        conn = self._connection
        if conn is None or conn.closed:
            conn = self._connection = self.sqlite.connect()
        try:
            with conn.begin():
                return work(conn)
        except BaseException:
            # Back to the pool (reset there), as before: the next transaction starts on a clean connection.
            self._connection = None
            with contextlib.suppress(Exception):  # the transaction's own error is the one to report
                conn.close()
            raise

    def _sqlite_close(self) -> None:
        assert self.sqlite is not None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.sqlite.dispose()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (readiness)."""
        try:
            await self.run(lambda conn: conn.execute(select(1)).scalar())
            return True
        except Exception:
            return False

    async def close(self) -> None:
        if self.sqlite is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite_close)
            self._thread.shutdown(wait=False)
        if self.engine is not None:
            await self.engine.dispose()
