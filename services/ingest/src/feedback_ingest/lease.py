"""The relay's lease: of the ingest processes sharing a database, only the one holding it publishes the outbox.

Were each to publish, every event would go out once per relay and two relays could publish one response's
revisions out of order. The lease ends with its holder's process (on PostgreSQL, its session), so a
standby takes over.

SQLite (`FileLease`): an exclusive flock on `<database file>.relay-lock`. The kernel holds it until the process
ends, so no other relay can take over while this one still publishes; the holder only checks that the lock
file is still the one at that path (were it deleted, another process could lock a new one).

PostgreSQL (`AdvisoryLease`): a session-level advisory lock, and a fencing token. A session can die while its
process lives on (a restarted server, `pg_terminate_backend`, a network fault), publishing a batch it read
before while a standby already holds the lock. So:
- taking the lease adds one to the epoch in the one-row table `relay_lease`; the holder remembers it, and
  marking rows sent checks it in the marking transaction (core.check_epoch): a relay that lost the lease
  marks nothing (RelayLeaseLost) and steps down; the rows stay for the new holder;
- before each batch the holder verifies the lease on its session (an UPDATE of the row that matches only
  its epoch), which sets `publishing_until` = now + LEASE_WINDOW_S, and the relay gives the batch up when it
  is not acknowledged within PUBLISH_TIMEOUT_S of that; a relay taking over a lease its holder did not hand
  back waits until `publishing_until` has passed before it publishes, so no record of the old holder's last
  batch reaches the topic after the new holder's (a later revision first, then an older one). The one gap
  left: a record the old holder gave up (its producer is stopped with the broker connection) that the
  broker still takes after the window. A lease handed back (the relay stopping between batches) is free
  at once;
- the session has a command timeout: a verification that hangs fails, and the relay stands by.
Each accepting transaction notifies OUTBOX_CHANNEL; the holder's session listens, so it publishes what any
replica accepted at once rather than at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from feedback_runtime.db import async_database_url

from .core import OUTBOX_CHANNEL, describe
from .repository import RelayLeaseLost
from .tables import RELAY_LEASE_ROW, relay_lease

log = logging.getLogger("feedback.ingest.store")

# The advisory lock's key (database-local).
RELAY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"feedback-ingest outbox relay").digest()[:8], "big", signed=True)
# How long a statement on the lease's session may take before it fails (and the lease with it).
LEASE_COMMAND_TIMEOUT_S = 2.0
LEASE_CONNECT_TIMEOUT_S = 10.0
# How long the publishing relay may take over one batch, from verifying its lease to the broker's last
# acknowledgement; the relay gives the batch up (and its broker connection) when it is not done by then.
PUBLISH_TIMEOUT_S = 5.0
# How long after a verification the holder's batch may still be publishing: PUBLISH_TIMEOUT_S, plus the
# verification's own round trip (at most LEASE_COMMAND_TIMEOUT_S), plus a margin.
LEASE_WINDOW_S = 10.0


class RelayLease(Protocol):
    async def take(self, on_accepted: Callable[[], None]) -> bool: ...

    async def held(self) -> bool: ...

    async def release(self, *, hand_back: bool = True) -> None: ...

    def fencing_token(self) -> int | None:
        """What marking rows sent must check in its transaction; None when nothing needs checking."""
        ...

    async def close(self) -> None: ...


class FileLease:
    """SQLite: an exclusive flock on a file beside the database."""

    def __init__(self, database_file: str) -> None:
        self.path = database_file + ".relay-lock"
        self._descriptor: int | None = None

    async def take(self, on_accepted: Callable[[], None]) -> bool:
        if self._descriptor is not None:
            return True
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException as exc:
            os.close(descriptor)
            if isinstance(exc, BlockingIOError):
                return False
            raise
        self._descriptor = descriptor
        return True

    async def held(self) -> bool:
        if self._descriptor is None:
            return False
        try:
            mine, there = os.fstat(self._descriptor), os.stat(self.path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                return True
        except OSError:
            pass
        log.warning("the relay's lock file %s was removed or replaced: another process may lock it now", self.path)
        await self.release()
        return False

    async def release(self, *, hand_back: bool = True) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # closing the descriptor releases the lock

    def fencing_token(self) -> int | None:
        return None  # the kernel's lock cannot pass to another process while this one lives

    async def close(self) -> None:
        await self.release(hand_back=False)


class AdvisoryLease:
    """PostgreSQL: an advisory lock held by a session of its own, fenced by `relay_lease.epoch`."""

    def __init__(self, url: str, *, window: float = LEASE_WINDOW_S) -> None:
        self.window = window
        # One connection, not pooled: closing it ends the session, and the lock and the LISTEN with it.
        self.engine = create_async_engine(
            async_database_url(url),
            poolclass=NullPool,
            connect_args={
                "command_timeout": LEASE_COMMAND_TIMEOUT_S,
                "timeout": LEASE_CONNECT_TIMEOUT_S,
                "server_settings": {"application_name": "feedback-ingest relay lease"},
            },
        )
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._conn: AsyncConnection | None = None
        self._epoch: int | None = None

    async def take(self, on_accepted: Callable[[], None]) -> bool:
        if self._conn is not None:
            return True
        conn = await self.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not (await conn.execute(select(func.pg_try_advisory_lock(RELAY_LOCK_KEY)))).scalar():
                await conn.close()
                return False
            # The new epoch, and the previous holder's window (the column is not changed here).
            took = await conn.execute(
                update(relay_lease)
                .where(relay_lease.c.id == RELAY_LEASE_ROW)
                .values(epoch=relay_lease.c.epoch + 1, holder=self.holder, taken_at=func.now())
                .returning(relay_lease.c.epoch, relay_lease.c.publishing_until, func.now())
            )
            row = took.first()
            if row is None:
                raise RuntimeError("the relay_lease table has no row: migrate ingest's database")
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(OUTBOX_CHANNEL, lambda *_: on_accepted())  # type: ignore[union-attr]
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # end the session: it may hold the lock already
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._conn = conn
        self._epoch, until, now = row
        if until is not None and until > now:
            wait = (until - now).total_seconds()
            log.info(
                "relay lease taken (epoch %d); waiting %.1fs for the previous holder's last batch", self._epoch, wait
            )
            await asyncio.sleep(wait)
        return await self.held()

    async def held(self) -> bool:
        """Verify the lease on its session, and open a new window for the holder's next batch."""
        if self._conn is None:
            return False
        try:
            renewed = await self._conn.execute(
                update(relay_lease)
                .where(relay_lease.c.id == RELAY_LEASE_ROW, relay_lease.c.epoch == self._epoch)
                .values(publishing_until=func.now() + timedelta(seconds=self.window))
            )
            if renewed.rowcount == 1:
                return True
            log.warning("the relay lease's epoch moved on from %s: another relay took over", self._epoch)
        except Exception as exc:
            log.warning("the relay's lease connection failed (%s)", describe(exc))
        await self.release(hand_back=False)
        return False

    async def release(self, *, hand_back: bool = True) -> None:
        """End the lease. `hand_back` (no batch of this relay's can still be publishing): a standby need not wait
        for its window. Closing would return the connection to a pool with its session, and the lock and the
        LISTEN with it: invalidate closes the session itself, which releases both."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if hand_back:
            with contextlib.suppress(Exception):
                await conn.execute(
                    update(relay_lease)
                    .where(relay_lease.c.id == RELAY_LEASE_ROW, relay_lease.c.epoch == self._epoch)
                    .values(publishing_until=None)
                )
        with contextlib.suppress(Exception):
            await conn.invalidate()
        with contextlib.suppress(Exception):
            await conn.close()

    def fencing_token(self) -> int | None:
        if self._conn is None:
            raise RelayLeaseLost("this relay does not hold the lease")
        return self._epoch

    async def close(self) -> None:
        await self.release(hand_back=False)
        await self.engine.dispose()
