"""The one dead-letter policy of feedback_runtime.consumer, with a fake broker: what is parked, what is retried."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
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


@dataclass
class FakeMessage:
    raw_message: FakeRecord
    outcome: list[str] = field(default_factory=list)

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

    def subscriber(self, topic: str, **_: object):  # noqa: ANN201
        self.subscribed.append(topic)
        return lambda handler: handler


def _consumer(handle, broker: FakeBroker, registry: CollectorRegistry, parked: list[int] | None = None):  # noqa: ANN001, ANN202
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
    assert msg.outcome == ["ack"]
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
    await _consumer(refuse, broker, registry).consume(msg)  # type: ignore[arg-type]
    assert msg.outcome == ["ack"]
    assert DeadLetter.model_validate_json(broker.dead_letters.published[0][0]).error_type == "KeyError"
    assert _parked_count(registry) == 1


async def test_any_other_failure_of_the_handler_is_retried_not_parked_and_not_committed() -> None:
    async def database_away(event: Thing) -> None:
        raise OSError("connection refused")

    broker, registry = FakeBroker(), CollectorRegistry()
    msg = FakeMessage(FakeRecord(b'{"name": "fine"}'))
    await _consumer(database_away, broker, registry).consume(msg)  # type: ignore[arg-type]
    assert msg.outcome == ["nack"]
    assert broker.dead_letters.published == [] and _parked_count(registry) == 0


async def test_a_record_that_cannot_be_parked_is_retried_never_committed_unparked() -> None:
    broker, registry = FakeBroker(), CollectorRegistry()
    broker.dead_letters.broken = True
    msg = FakeMessage(FakeRecord(b"not json"))
    await _consumer(_handled, broker, registry).consume(msg)  # type: ignore[arg-type]
    assert msg.outcome == ["nack"] and _parked_count(registry) == 0


async def test_a_handled_record_is_committed_and_nothing_is_parked() -> None:
    seen: list[str] = []

    async def handle(event: Thing) -> None:
        seen.append(event.name)

    broker, registry = FakeBroker(), CollectorRegistry()
    msg = FakeMessage(FakeRecord(b'{"name": "fine"}'))
    consumer = _consumer(handle, broker, registry)
    await consumer.consume(msg)  # type: ignore[arg-type]
    assert msg.outcome == ["ack"] and seen == ["fine"] and broker.subscribed == [TOPIC]
    assert _parked_count(registry) == 0
