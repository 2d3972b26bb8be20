"""SQLite's checkpoints (the write-ahead log copied into the database file), off the accepts' path.

By default the COMMIT that takes the log past 1,000 pages also copies the log into the database file and waits
for the disk once more, and the accepts of that group wait for all of it: measured on this project's 2-core
machine, a group's COMMIT took 3.4 ms on average without checkpoints and 4-5 ms with them, at most 16 ms
against 26-29 ms. The hot connection (sqlite.py) turns automatic checkpoints off, and `Checkpointer` runs a
PASSIVE checkpoint (which waits for no writer, and no writer for it) on a connection and a thread of its own
after every CHECKPOINT_EVERY commits. The pages copied are the same; who waits for them is not.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from feedback_runtime.db import SQLITE_BUSY_TIMEOUT_SECONDS, configure_sqlite

log = logging.getLogger("feedback.ingest.store")

# Commits of the hot connection between two checkpoints: about a thousand pages of the log at groups of 64
# full-size responses, as SQLite's own default waits for.
CHECKPOINT_EVERY = 8


class Checkpointer:
    def __init__(self, path: str, every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.every = every
        self._commits = 0
        self._running: asyncio.Future[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    def committed(self) -> None:
        """A commit of the hot connection is over (on the event loop): start a checkpoint when it is time and
        none is running."""
        self._commits += 1
        if self._commits < self.every or (self._running is not None and not self._running.done()):
            return
        self._commits = 0
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite-checkpoint")
        self._running = asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                # Used in the checkpoint thread only; closed by `close` once that thread has stopped.
                self._connection = sqlite3.connect(
                    self.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
                )
                configure_sqlite(self._connection)
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            # The next one copies what this one could not; a log that keeps growing shows in the file's size.
            log.warning("checkpoint of %s failed (%s)", self.path, exc)

    async def close(self) -> None:
        if self._running is not None:
            await self._running
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
