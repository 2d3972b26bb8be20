"""Fixtures shared by every test tier: a real Kafka-protocol broker, a real SMTP sink, the seed statements."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from feedback_cli.devstack import SmtpSink, create_topics, free_port, start_tansu, stop_process

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[1]
# The PostgreSQL server the store tests use (a fresh database per test is made on it).
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _docker_engine_available() -> bool:
    # A `docker` client exists on machines with no engine behind it: ask the engine itself.
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers' Kafka, else Tansu."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        create_topics(configured, partitions=6)
        yield configured
        return
    if _docker_engine_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            bootstrap = kafka.get_bootstrap_server()
            create_topics(bootstrap, partitions=6)
            yield bootstrap
        return
    port = free_port()
    broker = start_tansu(port, log_file=tmp_path_factory.mktemp("tansu") / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    try:
        create_topics(bootstrap, partitions=6)
        yield bootstrap
    finally:
        stop_process(broker)


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for a service's store: a SQLite file, or a new database on the PostgreSQL server
    at TEST_POSTGRES_URL. Every test that takes it runs on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.sqlite3"
        return
    name = f"feedback_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A real SMTP server on a free port that keeps each message as a .eml file."""
    sink = SmtpSink(tmp_path / "mail", free_port()).start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing a broker never read each other's messages."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def seed002_response() -> dict:
    """The NGO council's statement (seed 002) as the survey form would post it; contact data are placeholders."""
    return json.loads((FIXTURES / "seed002_response.json").read_text(encoding="utf-8"))


@pytest.fixture
def owners_file() -> Path:
    return REPO_ROOT / "config" / "owners.example.yaml"


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

    def read(self, topic: str, timeout: float = 10.0) -> list[Record]:
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        end = self.consumer.end_offsets(partitions)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.consumer.poll(timeout_ms=200)
            for messages in batch.values():
                records.extend(
                    Record(m.key, m.value, {k: v for k, v in m.headers}, m.partition, m.offset) for m in messages
                )
            # Stop once every partition is read up to its end offset and the broker has nothing more.
            if not batch and all(self.consumer.position(tp) >= end[tp] for tp in partitions):
                break
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
