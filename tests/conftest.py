"""Fixtures shared by every test tier: a real Kafka-protocol broker, a real SMTP sink, the seed statements."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedback_cli.devstack import SmtpSink, create_topics, free_port, start_tansu, stop_process

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[1]


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
