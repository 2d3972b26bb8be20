"""Helpers for tests that talk to the real broker: produce, and read a topic back without joining a group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


class TopicReader:
    """Reads whole topics from the beginning (no consumer group, so no join delay)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=200)

    def read(self, topic: str) -> list[Record]:
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        records = []
        while batch := self.consumer.poll(timeout_ms=300):
            for messages in batch.values():
                records.extend(
                    Record(m.key, m.value, {k: v for k, v in m.headers}, m.partition, m.offset) for m in messages
                )
        return records

    def wait_for(
        self, topic: str, predicate: Callable[[Record], bool], count: int = 1, timeout: float = 30.0
    ) -> list[Record]:
        """The topic's records matching `predicate`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [r for r in self.read(topic) if predicate(r)]
            if len(matching) >= count or time.monotonic() > deadline:
                assert len(matching) >= count, f"{len(matching)} of {count} records on {topic} after {timeout}s"
                return matching
            time.sleep(0.2)


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[TopicReader]:
    reader = TopicReader(kafka_bootstrap)
    yield reader
    reader.consumer.close()


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    yield producer
    producer.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def eventually() -> Callable[..., None]:
    return wait_until
