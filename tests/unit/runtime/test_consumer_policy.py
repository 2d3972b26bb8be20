"""The one dead-letter policy of feedback_runtime.consumer, with a fake broker: what is parked, what is retried,
and what is committed when."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from feedback_contracts.events import DeadLetter
from feedback_runtime.consumer import EventConsumer, Unprocessable
from feedback_runtime.settings import KafkaSettings

TOPIC = "feedback.things.v1"


class Thing(BaseModel):
    name: str


@dataclass
class FakeRecord:
    value: bytes
    topic: str = TOPIC
    partition: int = 3
    offset: int = 41
    key: bytes | None = b"thing-1"


class FakeConsumer:
    """aiokafka's consumer as the committer uses it: the assignment, and commits of explicit offsets."""

    def __init__(self, assigned: set[TopicPartition] | None = None) -> None:
        self.assigned = {TopicPartition(TOPIC, 3)} if assigned is None else assigned
        self.commits: list[dict[TopicPartition, int]] = []
        self.broken = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.broken:
            raise ConnectionError("broker away")
        self.commits.append(dict(offsets))


@dataclass
class FakeMessage:
    raw_message: FakeRecord
    outcome: list[str] = field(default_factory=list)
    consumer: FakeConsumer = field(default_factory=FakeConsumer)

    @property
    def body(self) -> bytes:
        return self.raw_message.value

    async def ack(self) -> None:
        self.outcome.append("ack")

    async def nack(self) -> None:
        self.outcome.append("nack")


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes | None]] = []
        self.broken = False

    async def publish(self, message: str, *, key: bytes | None, headers: dict[str, str]) -> None:
        if self.broken:
            raise ConnectionError("broker away")
        self.published.append((message, key))


class FakeBroker:
    def __init__(self) -> None:
        self.dead_letters = FakePublisher()
        self.subscribed: list[str] = []

    def publisher(self, topic: str, **_: object) -> FakePublisher:
        assert topic == f"{TOPIC}.dlq"
        return self.dead_letters

    def subscriber(self, topic: str, **_: object) -> FakeSubscriber:
        self.subscribed.append(topic)
        self.subscription = FakeSubscriber()
        return self.subscription


class FakeSubscriber:
    def __init__(self) -> None:
        self.stopped = False

    def __call__(self, handler: object, **_: object) -> object:
        return handler

    async def stop(self) -> None:
        self.stopped = True


def _consumer(  # noqa: ANN202
    handle,  # noqa: ANN001
    broker: FakeBroker,
    registry: CollectorRegistry,
    parked: list[int] | None = None,
    commit_interval: float = 0.01,
):
    return EventConsumer(
        broker,  # type: ignore[arg-type]
        KafkaSettings(),
        service="things",
        topic=TOPIC,
        group_id="things",
        event_type=Thing,
        handle=handle,
        registry=registry,
        on_parked=(lambda: parked.append(1)) if parked is not None else None,
        retry_pause=0,
        commit_interval=commit_interval,
    )


def _parked_count(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("feedback_dead_letters_total", {"service": "things", "topic": TOPIC}) or 0


async def _handled(event: Thing) -> None:
    return None


@pytest.mark.parametrize("body", [b"\xff not json", b'{"name": 5}', b"[]"])
async def test_a_record_that_is_not_the_event_is_parked_with_its_reason_and_committed(body: bytes) -> None:
    broker, registry, parked = FakeBroker(), CollectorRegistry(), []
    consumer = _consumer(_handled, broker, registry, parked)
    msg = FakeMessage(FakeRecord(body))
    await consumer.consume(msg)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert msg.outcome == [] and msg.consumer.commits == [{TopicPartition(TOPIC, 3): 42}]
    (letter_json, key) = broker.dead_letters.published[0]
    letter = DeadLetter.model_validate_json(letter_json)
    assert (letter.original_topic, letter.partition, letter.offset, key) == (TOPIC, 3, 41, b"thing-1")
    assert letter.service == "things" and letter.error_type == "ValidationError"
    assert _parked_count(registry) == 1 and parked == [1]


async def test_a_handler_that_calls_the_record_unprocessable_has_it_parked_with_the_cause() -> None:
    async def refuse(event: Thing) -> None:
        try:
            raise KeyError(event.name)
        except KeyError as exc:
            raise Unprocessable("cannot route") from exc

    broker, registry = FakeBroker(), CollectorRegistry()
    msg = FakeMessage(FakeRecord(b'{"name": "odd"}'))
    consumer = _consumer(refuse, broker, registry)
    await consumer.consume(msg)  # type: ignore[arg-type]
    await consumer.committer.flush()
    assert msg.outcome == [] and msg.consumer.commits == [{TopicPartition(TOPIC, 3): 42}]
    assert DeadLetter.model_validate_json(broker.dead_letters.published[0][0]).error_type == "KeyError"
    assert _parked_count(registry) == 1


async def test_any_other_failure_of_the_handler_is_retried_not_parked_and_not_committed() -> None:
    async def database_away(event: Thing) -> None:
        raise OSError("connection refused")

    broker, registry = FakeBroker(), CollectorRegistry()
    msg = FakeMessage(FakeRecord(b'{"name": "fine"}'))
    consumer = _consumer(database_away, broker, registry)
    await consumer.consume(msg)  # type: ignore[arg-type]
    await consumer.committer.flush()
    assert msg.outcome == ["nack"] and msg.consumer.commits == []
    assert broker.dead_letters.published == [] and _parked_count(registry) == 0


async def test_a_record_that_cannot_be_parked_is_retried_never_committed_unparked() -> None:
    broker, registry = FakeBroker(), CollectorRegistry()
    broker.dead_letters.broken = True
    msg = FakeMessage(FakeRecord(b"not json"))
    consumer = _consumer(_handled, broker, registry)
    await consumer.consume(msg)  # type: ignore[arg-type]
    await consumer.committer.flush()
    assert msg.outcome == ["nack"] and msg.consumer.commits == [] and _parked_count(registry) == 0


async def test_a_handled_record_is_committed_and_nothing_is_parked() -> None:
    seen: list[str] = []

    async def handle(event: Thing) -> None:
        seen.append(event.name)

    broker, registry = FakeBroker(), CollectorRegistry()
    msg = FakeMessage(FakeRecord(b'{"name": "fine"}'))
    consumer = _consumer(handle, broker, registry)
    await consumer.consume(msg)  # type: ignore[arg-type]
    await consumer.committer.flush()
    assert msg.consumer.commits == [{TopicPartition(TOPIC, 3): 42}]
    assert msg.outcome == [] and seen == ["fine"] and broker.subscribed == [TOPIC]
    assert _parked_count(registry) == 0


def _records(consumer: FakeConsumer, offsets: range, partition: int = 3) -> list[FakeMessage]:
    return [
        FakeMessage(FakeRecord(b'{"name": "fine"}', partition=partition, offset=o), consumer=consumer) for o in offsets
    ]


async def test_handled_records_are_committed_together_at_the_interval_up_to_the_last_one() -> None:
    broker, kafka = FakeBroker(), FakeConsumer()
    consumer = _consumer(_handled, broker, CollectorRegistry(), commit_interval=0.05)
    for msg in _records(kafka, range(10, 20)):
        await consumer.consume(msg)  # type: ignore[arg-type]
    assert kafka.commits == []  # not one round trip per record
    await asyncio.sleep(0.1)
    assert kafka.commits == [{TopicPartition(TOPIC, 3): 20}]


async def test_a_failed_record_holds_its_partition_back_to_the_last_handled_one() -> None:
    failing = {"bad"}

    async def handle(event: Thing) -> None:
        if event.name in failing:
            raise OSError("database away")

    broker, kafka = FakeBroker(), FakeConsumer()
    consumer = _consumer(handle, broker, CollectorRegistry(), commit_interval=60)
    await consumer.consume(FakeMessage(FakeRecord(b'{"name": "fine"}', offset=5), consumer=kafka))  # type: ignore[arg-type]
    bad = FakeMessage(FakeRecord(b'{"name": "bad"}', offset=6), consumer=kafka)
    await consumer.consume(bad)  # type: ignore[arg-type]
    await consumer.committer.flush()
    assert bad.outcome == ["nack"] and kafka.commits == [{TopicPartition(TOPIC, 3): 6}]


async def test_stopping_commits_what_is_pending_and_then_each_record_at_once() -> None:
    broker, kafka = FakeBroker(), FakeConsumer()
    consumer = _consumer(_handled, broker, CollectorRegistry(), commit_interval=60)
    for msg in _records(kafka, range(0, 3)):
        await consumer.consume(msg)  # type: ignore[arg-type]
    await broker.subscription.stop()
    assert broker.subscription.stopped and kafka.commits == [{TopicPartition(TOPIC, 3): 3}]
    await consumer.consume(_records(kafka, range(3, 4))[0])  # type: ignore[arg-type]
    assert kafka.commits[-1] == {TopicPartition(TOPIC, 3): 4}


async def test_revoked_partitions_are_committed_first_and_never_after() -> None:
    broker, kafka = FakeBroker(), FakeConsumer({TopicPartition(TOPIC, 3), TopicPartition(TOPIC, 4)})
    consumer = _consumer(_handled, broker, CollectorRegistry(), commit_interval=60)
    for msg in [*_records(kafka, range(0, 2)), *_records(kafka, range(7, 9), partition=4)]:
        await consumer.consume(msg)  # type: ignore[arg-type]
    await consumer.committer.on_partitions_revoked({TopicPartition(TOPIC, 4)})
    assert kafka.commits == [{TopicPartition(TOPIC, 4): 9}]
    kafka.assigned = {TopicPartition(TOPIC, 3)}
    await consumer.consume(_records(kafka, range(9, 10), partition=4)[0])  # type: ignore[arg-type]  # in flight
    await consumer.committer.flush()
    assert kafka.commits[-1] == {TopicPartition(TOPIC, 3): 2}


async def test_a_commit_that_fails_is_tried_again() -> None:
    broker, kafka = FakeBroker(), FakeConsumer()
    consumer = _consumer(_handled, broker, CollectorRegistry(), commit_interval=0.01)
    kafka.broken = True
    await consumer.consume(_records(kafka, range(0, 1))[0])  # type: ignore[arg-type]
    await asyncio.sleep(0.03)
    assert kafka.commits == []
    kafka.broken = False
    await asyncio.sleep(0.05)
    assert kafka.commits == [{TopicPartition(TOPIC, 3): 1}]
