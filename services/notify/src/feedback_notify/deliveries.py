"""The delivery log: one row per delivery key, so nothing is sent twice."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def delivery_key(owner_id: str, channel: str, response_id: str, revision: int) -> str:
    """The unique key of one alert: owner, channel, response and revision."""
    return f"{owner_id}:{channel}:{response_id}:{revision}"


class DeliveryLog:
    """SQLite-backed record of delivered alerts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS deliveries (
                key TEXT PRIMARY KEY,
                owner_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                response_id TEXT NOT NULL,
                revision INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                message_id TEXT,
                detail TEXT,
                recorded_at TEXT NOT NULL
            )"""
        )
        self._lock = asyncio.Lock()

    async def outcome(self, key: str) -> str | None:
        """'delivered' or 'failed' when the key was settled before, else None."""
        async with self._lock:
            row = await asyncio.to_thread(
                lambda: self._db.execute("SELECT outcome FROM deliveries WHERE key = ?", (key,)).fetchone()
            )
        return row[0] if row else None

    async def record(
        self, key: str, *, owner_id: str, channel: str, response_id: str, revision: int, outcome: str,
        message_id: str | None = None, detail: str | None = None,
    ) -> None:  # fmt: skip
        """Settle a delivery key; the first settlement wins."""
        now = datetime.now(UTC).isoformat()
        async with self._lock:
            await asyncio.to_thread(
                self._db.execute,
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, owner_id, channel, response_id, revision, outcome, message_id, detail, now),
            )

    def close(self) -> None:
        self._db.close()
