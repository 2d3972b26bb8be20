"""The outbox relay tells a database problem from a broker problem: only the broker's drops the connection."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from feedback_ingest.relay import OutboxRelay, RelayMetrics
from feedback_ingest.store import OutboxRow

ROW = OutboxRow(1, "r-1", 1, "feedback.responses.v1", "{}", datetime.now(UTC))


class FakeStore:
    """The outbox as the relay sees it; `locked` makes the next reads fail as a busy SQLite file does."""

    def __init__(self, locked: int = 0) -> None:
        self.rows = [ROW]
        self.locked = locked
        self.sent: list[int] = []

    async def backlog(self) -> tuple[int, datetime | None]:
        return len(self.rows), (self.rows[0].created_at if self.rows else None)

    async def unsent(self, limit: int) -> list[OutboxRow]:
        if self.locked:
            self.locked -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.rows[:limit]

    async def mark_sent(self, rows: list[OutboxRow], now: datetime) -> None:
        self.sent.extend(row.id for row in rows)
        self.rows = [row for row in self.rows if row not in rows]


class FakePublisher:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[str] = []

    async def enqueue(self, row: OutboxRow):  # noqa: ANN201
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker went away")
        self.published.append(row.response_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _run(store: FakeStore, publisher: FakePublisher) -> int:
    """Run the relay until the row is marked sent; how many times it connected to the broker."""
    registry = CollectorRegistry()
    connects = 0

    async def connect() -> FakePublisher:
        nonlocal connects
        connects += 1
        return publisher

    async def disconnect() -> None:
        pass

    relay = OutboxRelay(
        store,
        connect,
        disconnect,
        RelayMetrics(registry),
        poll_interval=0.01,
        max_backoff=0.02,  # type: ignore[arg-type]
    )

    async def scenario() -> None:
        task = asyncio.create_task(relay.run())
        for _ in range(500):
            if store.sent:
                break
            await asyncio.sleep(0.01)
        relay.stop()
        await task

    asyncio.run(scenario())
    return connects


def test_a_locked_database_neither_drops_the_broker_connection_nor_loses_the_row() -> None:
    store, publisher = FakeStore(locked=3), FakePublisher()
    connects = _run(store, publisher)
    assert store.sent == [1] and publisher.published == ["r-1"]
    assert connects == 1


def test_a_failed_publish_reconnects_and_the_row_still_goes_out_once() -> None:
    store, publisher = FakeStore(), FakePublisher(failures=1)
    connects = _run(store, publisher)
    assert store.sent == [1] and publisher.published == ["r-1"]
    assert connects == 2
