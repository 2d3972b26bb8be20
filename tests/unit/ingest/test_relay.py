"""The outbox relay tells a database problem from a broker problem (only the broker's drops the connection),
and publishes only while it holds the store's relay lease."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import sqlalchemy.exc
from prometheus_client import CollectorRegistry

from feedback_ingest.relay import OutboxRelay, RelayMetrics
from feedback_ingest.store import OutboxRow, RelayLeaseLost

ROW = OutboxRow(1, "r-1", 1, "feedback.responses.v1", b"{}", datetime.now(UTC))


class FakeStore:
    """The outbox as the relay sees it; `locked` makes the next reads fail as a busy SQLite file does."""

    def __init__(self, locked: int = 0, lease_free_after: int = 0) -> None:
        self.rows = [ROW]
        self.locked = locked
        self.sent: list[int] = []
        self.lease_free_after = lease_free_after  # refusals before the lease is granted
        self.lease_asks = 0
        self.held = False
        self.released = 0

    async def take_relay_lease(self, on_accepted) -> bool:  # noqa: ANN001
        self.lease_asks += 1
        self.held = self.lease_asks > self.lease_free_after
        return self.held

    async def relay_lease_held(self) -> bool:
        return self.held

    async def release_relay_lease(self) -> None:
        self.held = False
        self.released += 1

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


def _run(store: FakeStore, publisher: FakePublisher, registry: CollectorRegistry | None = None) -> int:
    """Run the relay until the row is marked sent; how many times it connected to the broker."""
    registry = registry or CollectorRegistry()
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


def test_a_relay_without_the_lease_stands_by_connected_and_publishes_once_it_has_it() -> None:
    store, publisher, registry = FakeStore(lease_free_after=3), FakePublisher(), CollectorRegistry()
    connects = _run(store, publisher, registry)
    # Three refusals: nothing published meanwhile; the fourth ask took the lease and the row went out once.
    assert store.lease_asks >= 4 and store.sent == [1] and publisher.published == ["r-1"]
    assert connects == 1
    # Stopped: the lease is given back, so a standby elsewhere can take it at once.
    assert store.released >= 1 and not store.held
    assert registry.get_sample_value("feedback_ingest_relay_active") == 0


def test_a_relay_that_loses_the_lease_stops_publishing_until_it_has_it_again() -> None:
    store, publisher, registry = FakeStore(), FakePublisher(), CollectorRegistry()
    store.rows = []
    seen: list[float | None] = []

    async def scenario() -> None:
        relay = OutboxRelay(store, _connector(publisher), _nothing, RelayMetrics(registry), poll_interval=0.01)
        task = asyncio.create_task(relay.run())
        await _until(lambda: store.held)
        seen.append(registry.get_sample_value("feedback_ingest_relay_active"))
        store.held, store.lease_free_after = False, store.lease_asks + 1_000_000  # lost, and another has it
        await asyncio.sleep(0.05)
        store.rows = [ROW]
        await asyncio.sleep(0.1)
        seen.append(registry.get_sample_value("feedback_ingest_relay_active"))
        assert publisher.published == []  # a standby publishes nothing
        store.lease_free_after = 0  # the other relay's process ended
        await _until(lambda: store.sent == [1])
        seen.append(registry.get_sample_value("feedback_ingest_relay_active"))
        relay.stop()
        await task

    asyncio.run(scenario())
    assert seen == [1, 0, 1]
    assert publisher.published == ["r-1"]


def _connector(publisher: FakePublisher):  # noqa: ANN202
    async def connect() -> FakePublisher:
        return publisher

    return connect


async def _nothing() -> None:
    pass


async def _until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_the_relays_read_gives_up_on_a_locked_file_instead_of_stalling_the_event_loop(tmp_path) -> None:
    """The relay reads on the event loop: a lock held elsewhere must fail the read (the relay retries after
    its backoff), not make every request wait. The lock here is released after 5 s: a read that waited
    for it would succeed, and this test would fail."""
    import threading

    from feedback_ingest.migrations import migrate
    from feedback_ingest.store import IngestStore

    url = f"sqlite:///{tmp_path}/ingest.sqlite3"
    migrate(url)
    holder = sqlite3.connect(tmp_path / "ingest.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode with exclusive locking, no other connection may read
    release = threading.Timer(5.0, holder.close)  # exclusive locking mode keeps the lock until the close
    release.start()

    async def read() -> None:
        store = IngestStore(url)
        try:
            await store.unsent(10)
        finally:
            await store.close()

    try:
        try:
            asyncio.run(read())
        except (sqlite3.OperationalError, sqlalchemy.exc.OperationalError) as exc:  # the driver's, or SQLAlchemy's
            assert "locked" in str(exc)
        else:
            raise AssertionError("the read waited for the lock instead of giving up")
    finally:
        release.cancel()
        holder.close()  # a second close does nothing


class HangingPublisher(FakePublisher):
    """The broker never acknowledges the first record."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = True

    async def enqueue(self, row: OutboxRow):  # noqa: ANN201
        if self.hang:
            self.hang = False
            self.published.append(row.response_id)
            return asyncio.get_running_loop().create_future()  # never done
        return await super().enqueue(row)


def test_a_batch_not_acknowledged_within_the_publish_timeout_is_given_up_unmarked_and_published_again() -> None:
    """A standby taking over waits out a window after the leader's last lease check; a batch must not outlast it."""
    store, publisher, connects = FakeStore(), HangingPublisher(), 0

    async def connect() -> FakePublisher:
        nonlocal connects
        connects += 1
        return publisher

    async def scenario() -> None:
        relay = OutboxRelay(
            store, connect, _nothing, RelayMetrics(CollectorRegistry()), poll_interval=0.01, publish_timeout=0.1
        )
        task = asyncio.create_task(relay.run())
        await _until(lambda: store.sent == [1])
        relay.stop()
        await task

    asyncio.run(scenario())
    assert publisher.published == ["r-1", "r-1"] and store.sent == [1]
    assert connects == 2  # the broker connection was dropped with the batch


class FencedStore(FakeStore):
    """Another relay took the lease over while this one published: the mark is refused and the lease gone."""

    async def mark_sent(self, rows: list[OutboxRow], now: datetime) -> None:
        self.held, self.lease_free_after = False, 1_000_000
        raise RelayLeaseLost("another relay took over")


def test_a_relay_whose_mark_is_fenced_off_marks_nothing_and_stands_by() -> None:
    store, publisher, registry = FencedStore(), FakePublisher(), CollectorRegistry()

    async def scenario() -> None:
        relay = OutboxRelay(store, _connector(publisher), _nothing, RelayMetrics(registry), poll_interval=0.01)
        task = asyncio.create_task(relay.run())
        await _until(lambda: publisher.published == ["r-1"])
        await _until(lambda: registry.get_sample_value("feedback_ingest_relay_active") == 0)
        await asyncio.sleep(0.1)
        relay.stop()
        await task

    asyncio.run(scenario())
    assert publisher.published == ["r-1"] and store.sent == []  # published once, then stood by


class CountingStore(FakeStore):
    """Counts the relay's reads of the outbox (each read is a batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = []
        self.reads = 0

    async def unsent(self, limit: int) -> list[OutboxRow]:
        self.reads += 1
        return await super().unsent(limit)


def _batches_for_two_accepts(linger: float) -> tuple[int, list[str]]:
    """Two accepts a few milliseconds apart, each waking the relay: how many batches published them."""
    store, publisher = CountingStore(), FakePublisher()

    async def connect() -> FakePublisher:
        return publisher

    async def disconnect() -> None:
        pass

    relay = OutboxRelay(store, connect, disconnect, RelayMetrics(CollectorRegistry()), poll_interval=5.0, linger=linger)

    async def scenario() -> int:
        task = asyncio.create_task(relay.run())
        while not store.held or store.reads == 0:  # the relay's first (empty) round is done: it waits for work
            await asyncio.sleep(0.001)
        reads = store.reads
        for n in (1, 2):
            store.rows.append(OutboxRow(n, f"r-{n}", 1, "feedback.responses.v1", b"{}", datetime.now(UTC)))
            relay.notify()
            await asyncio.sleep(0.005)
        while len(store.sent) < 2:
            await asyncio.sleep(0.005)
        relay.stop()
        await task
        return store.reads - reads

    batches = asyncio.run(scenario())
    return batches, publisher.published


def test_after_a_wake_up_the_relay_lets_accepts_gather_so_one_batch_takes_both() -> None:
    batches, published = _batches_for_two_accepts(linger=0.5)
    assert published == ["r-1", "r-2"] and batches == 1
