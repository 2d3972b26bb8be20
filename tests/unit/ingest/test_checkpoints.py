"""SQLite's checkpoints run beside the accepts, not inside their COMMITs: accepted responses still reach the
database file itself (not only its write-ahead log) while ingest runs."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from feedback_contracts.responses import SurveyResponse
from feedback_ingest.checkpoints import CHECKPOINT_EVERY
from feedback_ingest.migrations import migrate
from feedback_ingest.store import IngestStore


def test_accepted_responses_are_checkpointed_into_the_database_file_while_ingest_runs(
    tmp_path: Path, seed002_response: dict
) -> None:
    path = tmp_path / "ingest.sqlite3"
    migrate(f"sqlite:///{path}")
    commits = CHECKPOINT_EVERY * 2

    async def scenario() -> tuple[int, int]:
        store = IngestStore(f"sqlite:///{path}")
        try:
            before = path.stat().st_size
            for n in range(commits):  # one at a time: a COMMIT each, into the write-ahead log
                body = copy.deepcopy(seed002_response)
                body["response_id"] = f"checkpoint-{n}"
                await store.accept(SurveyResponse.model_validate(body), datetime.now(UTC))
            for _ in range(200):  # a checkpoint copies the log's pages into the file, beside the accepts
                if path.stat().st_size > before:
                    break
                await asyncio.sleep(0.05)
            return before, path.stat().st_size  # while the store is open: no checkpoint on closing yet
        finally:
            await store.close()

    before, during = asyncio.run(scenario())
    # Each full-size response takes a few pages; SQLite's own checkpoint would wait for 1,000 of them.
    assert during > before
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM responses").fetchone()[0] == commits
