"""The relay lease on PostgreSQL is fenced: a leader whose session dies in the middle of a batch neither marks
that batch sent once a standby took over, nor gets a record onto the topic after the standby's; every revision
is published, and none of a response after a later one."""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from feedback_contracts.events import EVENT_TYPE_HEADER, RESPONSES_TOPIC, ResponseReceived
from feedback_contracts.responses import SurveyResponse
from feedback_ingest.migrations import migrate
from feedback_ingest.relay import OutboxRelay, RelayMetrics
from feedback_ingest.store import IngestStore, OutboxRow, RelayLeaseLost

pytestmark = pytest.mark.integration

LEASE_HOLDERS = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class PausingPublisher:
    """Publishes through aiokafka as the service does; holds the record numbered `pause_at` (0-based, counted
    over everything it publishes) until `resume` is set, with `paused` set meanwhile."""

    def __init__(self, bootstrap: str, pause_at: int | None = None) -> None:
        self.bootstrap = bootstrap
        self.pause_at = pause_at
        self.paused, self.resume = asyncio.Event(), asyncio.Event()
        self.sent = 0
        self.producer: AIOKafkaProducer | None = None

    async def connect(self) -> PausingPublisher:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self.producer.start()
        return self

    async def disconnect(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()

    async def enqueue(self, row: OutboxRow):  # noqa: ANN201
        if self.sent == self.pause_at:
            self.pause_at = None
            self.paused.set()
            await self.resume.wait()
        assert self.producer is not None
        self.sent += 1
        headers = [(EVENT_TYPE_HEADER, b"ResponseReceived")]
        return await self.producer.send(row.topic, row.payload, key=row.response_id.encode(), headers=headers)


def _revision(template: dict, response_id: str, revision: int) -> SurveyResponse:
    body = copy.deepcopy(template)
    body["response_id"], body["revision"] = response_id, revision
    body["answers"][0]["text"] += f" Versio {revision}."
    return SurveyResponse.model_validate(body)


async def _until(condition, timeout: float = 30.0, what: str = "condition") -> None:  # noqa: ANN001
    """Wait until `condition()` (a bool, or an awaitable of one) holds."""
    deadline = time.monotonic() + timeout
    while not (await result if inspect.isawaitable(result := condition()) else result):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)


def _active(registry: CollectorRegistry) -> bool:
    return registry.get_sample_value("feedback_ingest_relay_active") == 1


def _standing_by(registry: CollectorRegistry) -> bool:
    return (
        registry.get_sample_value("feedback_ingest_relay_active") == 0
        and registry.get_sample_value("feedback_ingest_broker_connected") == 1
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("leader", ["resumes", "stalls"])
def test_a_leader_whose_session_dies_mid_batch_loses_nothing_and_publishes_nothing_after_a_later_revision(
    leader: str, database_url, kafka_bootstrap, topics, seed002_response, unique, caplog
) -> None:
    """`resumes`: the leader's batch goes on soon after a standby took the lease; its mark is fenced off.
    `stalls`: it does not go on within the relay's publish timeout, and the leader gives the batch up."""
    caplog.set_level(logging.INFO, logger="feedback.ingest")
    migrate(database_url)
    ids = [f"fenced-{leader}-{unique}-{n}" for n in range(10)]

    async def scenario() -> tuple[int, int, int]:
        admin = await asyncpg.connect(database_url)
        writer, first, second = IngestStore(database_url), IngestStore(database_url), IngestStore(database_url)
        first_metrics, second_metrics = CollectorRegistry(), CollectorRegistry()
        first_publisher, second_publisher = PausingPublisher(kafka_bootstrap, 4), PausingPublisher(kafka_bootstrap)
        relays = [
            OutboxRelay(store, publisher.connect, publisher.disconnect, RelayMetrics(metrics), poll_interval=0.2)
            for store, publisher, metrics in (
                (first, first_publisher, first_metrics),
                (second, second_publisher, second_metrics),
            )
        ]
        tasks: list[asyncio.Task] = []
        try:
            # First revisions of ten responses; the first relay leads, publishes four and holds the fifth.
            now = datetime.now(UTC)
            await asyncio.gather(*(writer.accept(_revision(seed002_response, rid, 1), now) for rid in ids))
            tasks.append(asyncio.create_task(relays[0].run()))
            await asyncio.wait_for(first_publisher.paused.wait(), 30)
            assert _active(first_metrics)
            tasks.append(asyncio.create_task(relays[1].run()))
            await _until(lambda: _standing_by(second_metrics), what="the second relay to stand by")

            # The leader's session dies in the middle of its batch; the standby takes the lock.
            (leader_pid,) = [row["pid"] for row in await admin.fetch(LEASE_HOLDERS)]
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", leader_pid)

            async def taken_over() -> bool:
                return any(row["pid"] != leader_pid for row in await admin.fetch(LEASE_HOLDERS))

            await _until(taken_over, what="the standby to take the lease")
            # Edits of every response, while the old leader still has their first revisions in hand.
            for rid in ids:
                await writer.accept(_revision(seed002_response, rid, 2), datetime.now(UTC))
            if leader == "resumes":
                await asyncio.sleep(1.0)
                first_publisher.resume.set()

            async def all_published() -> bool:
                states = [await writer.revisions_of(rid) for rid in ids]
                return all([s.published_at is not None for s in revisions] == [True, True] for revisions in states)

            await _until(all_published, timeout=60, what="every revision to be published")
            await _until(lambda: _standing_by(first_metrics), what="the old leader to stand by")
            assert _active(second_metrics)
            backlog, _ = await writer.backlog()
            return backlog, await admin.fetchval("SELECT epoch FROM relay_lease"), first_publisher.sent
        finally:
            first_publisher.resume.set()
            for relay in relays:
                relay.stop()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            for store in (writer, first, second):
                await store.close()
            await admin.close()

    backlog, epoch, first_sent = asyncio.run(scenario())
    assert backlog == 0 and epoch == 2

    published: dict[str, list[int]] = {}
    for record in topics.read(RESPONSES_TOPIC):
        if record.key.decode() in ids:
            event = ResponseReceived.model_validate_json(record.value)
            published.setdefault(event.response_id, []).append(event.revision)
    assert set(published) == set(ids)
    for rid, seen in published.items():
        assert {1, 2} <= set(seen), f"{rid}: {seen}"
        assert seen == sorted(seen), f"{rid} was published out of order: {seen}"

    logged = caplog.text
    if leader == "resumes":
        assert first_sent == 10  # the whole batch went out ...
        assert "relay lost the outbox lease before marking its batch sent" in logged  # ... and was not marked
    else:
        assert first_sent == 4
        assert "relay cannot publish (TimeoutError" in logged
    assert "waiting" in logged and "for the previous holder's last batch" in logged


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_relay_whose_lease_was_taken_over_marks_nothing_and_holds_the_lease_no_more(
    database_url, seed002_response, unique
) -> None:
    migrate(database_url)
    rid = f"fence-{unique}"

    async def scenario() -> tuple[BaseException | None, bool, int, list]:
        store = IngestStore(database_url)
        admin = await asyncpg.connect(database_url)
        try:
            await store.accept(_revision(seed002_response, rid, 1), datetime.now(UTC))
            assert await store.take_relay_lease(lambda: None)
            rows = await store.unsent(10)
            # As a relay taking over does (it could, had this relay's session ended meanwhile).
            await admin.execute("UPDATE relay_lease SET epoch = epoch + 1")
            try:
                await store.mark_sent(rows, datetime.now(UTC))
                failure = None
            except RelayLeaseLost as exc:
                failure = exc
            held = await store.relay_lease_held()
            unsent = len(await store.unsent(10))
            return failure, held, unsent, await store.revisions_of(rid)
        finally:
            await store.close()
            await admin.close()

    failure, held, unsent, stored = asyncio.run(scenario())
    assert isinstance(failure, RelayLeaseLost)
    assert not held
    assert unsent == 1 and stored[0].published_at is None  # nothing marked


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lease_whose_holder_went_without_handing_it_back_is_taken_only_after_the_holders_window(
    database_url,
) -> None:
    migrate(database_url)

    async def scenario() -> tuple[float, float]:
        first, second, third = IngestStore(database_url), IngestStore(database_url), IngestStore(database_url)
        try:
            assert await first.take_relay_lease(lambda: None)
            await first.close()  # as a process ending mid-batch: the lease is not handed back
            started = time.monotonic()
            assert await second.take_relay_lease(lambda: None)
            waited = time.monotonic() - started
            await second.release_relay_lease()  # handed back between batches
            started = time.monotonic()
            assert await third.take_relay_lease(lambda: None)
            return waited, time.monotonic() - started
        finally:
            for store in (second, third):
                await store.close()

    waited, then = asyncio.run(scenario())
    assert 5.0 < waited < 12.0  # the rest of the first holder's 10 s window
    assert then < 2.0
