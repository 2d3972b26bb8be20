"""The relay lease on SQLite: a lock on `<database file>.relay-lock`, one holder at a time."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from feedback_ingest.lease import FileLease


def test_on_sqlite_a_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    async def scenario() -> list[bool]:
        first, second = FileLease(str(tmp_path / "ingest.sqlite3")), FileLease(str(tmp_path / "ingest.sqlite3"))
        seen = [await first.take(lambda: None), await second.take(lambda: None), await first.held()]
        await first.release()
        seen += [await first.held(), await second.take(lambda: None)]
        await second.close()
        return seen

    assert asyncio.run(scenario()) == [True, False, True, False, True]


def test_on_sqlite_a_holder_whose_lock_file_was_removed_knows_it_lost_the_lease(tmp_path: Path) -> None:
    """Were the file removed, another process could lock a new one at that path: the holder steps down."""

    async def scenario() -> list[bool]:
        first, second = FileLease(str(tmp_path / "ingest.sqlite3")), FileLease(str(tmp_path / "ingest.sqlite3"))
        seen = [await first.take(lambda: None)]
        os.remove(tmp_path / "ingest.sqlite3.relay-lock")
        seen += [await second.take(lambda: None), await first.held(), await second.held()]
        await second.close()
        return seen

    assert asyncio.run(scenario()) == [True, True, False, True]


def test_on_sqlite_marks_carry_no_fencing_token(tmp_path: Path) -> None:
    """The kernel's lock cannot pass to another process while its holder lives: nothing to check per mark."""
    lease = FileLease(str(tmp_path / "ingest.sqlite3"))
    assert lease.fencing_token() is None
