"""Nothing accepted is lost: not while the broker is down, not when ingest is killed between commit and publish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from feedback_cli.devstack import create_topics, free_port, start_tansu, stop_process
from feedback_contracts.events import RESPONSES_TOPIC, ResponseReceived
from feedback_ingest.settings import IngestSettings

pytestmark = pytest.mark.integration


def _response(template: dict, response_id: str, revision: int) -> dict:
    body = {**template, "response_id": response_id, "revision": revision}
    body["answers"] = [{**a, "text": f"{a['text']} (versio {revision})"} for a in template["answers"]]
    return body


def test_while_the_broker_is_down_responses_are_accepted_and_all_go_out_once_in_order_when_it_returns(
    database_url: str, make_client, seed002_response, unique, form_headers, eventually, tmp_path: Path
) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu(port, log_file=tmp_path / "tansu-1.log")
    create_topics(bootstrap, partitions=3)
    registry = CollectorRegistry()
    settings = IngestSettings(
        kafka_bootstrap_servers=bootstrap, ingest_api_tokens="form-token", database_url=database_url,
        ingest_relay_poll_seconds=0.2, ingest_relay_max_backoff_seconds=1.0,
    )  # fmt: skip
    client = make_client(settings, registry)
    eventually(lambda: client.get("/readyz").json()["broker"] == "connected", what="the relay to connect")
    stop_process(broker)

    ids = [f"down-{unique}-{n}" for n in range(10)]
    for revision in (1, 2):
        for rid in ids:
            answer = client.post("/v1/responses", json=_response(seed002_response, rid, revision), headers=form_headers)
            assert answer.status_code == 202, answer.text
    assert client.get("/readyz").status_code == 200
    eventually(
        lambda: registry.get_sample_value("feedback_ingest_outbox_backlog_messages") == 20, what="a backlog of 20"
    )
    assert registry.get_sample_value("feedback_ingest_outbox_oldest_age_seconds") > 0

    broker = start_tansu(port, log_file=tmp_path / "tansu-2.log")  # memory-only: it comes back empty
    try:
        create_topics(bootstrap, partitions=3)
        eventually(
            lambda: registry.get_sample_value("feedback_ingest_outbox_backlog_messages") == 0,
            timeout=60,
            what="the backlog to drain",
        )
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = [TopicPartition(RESPONSES_TOPIC, p) for p in consumer.partitions_for_topic(RESPONSES_TOPIC)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        seen: dict[str, list[int]] = defaultdict(list)
        while batch := consumer.poll(timeout_ms=1000):
            for records in batch.values():
                for record in records:
                    event = ResponseReceived.model_validate_json(record.value)
                    seen[event.response_id].append(event.revision)
        consumer.close()
    finally:
        stop_process(broker)
    assert dict(seen) == {rid: [1, 2] for rid in ids}


def test_killed_between_commit_and_publish_the_relay_publishes_on_restart_and_logs_hold_no_contact_data(
    database_url: str, seed002_response, unique, tmp_path: Path, eventually
) -> None:
    ingest_port, kafka_port = free_port(), free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",  # nothing listens yet: publishing cannot happen
        "INGEST_API_TOKENS": "form-token",
        "DATABASE_URL": database_url,
        "INGEST_RELAY_POLL_SECONDS": "0.2",
        "INGEST_RELAY_MAX_BACKOFF_SECONDS": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "feedback_ingest.app:create_app",
               "--host", "127.0.0.1", "--port", str(ingest_port)]  # fmt: skip
    url = f"http://127.0.0.1:{ingest_port}"
    logs = [tmp_path / "ingest-1.log", tmp_path / "ingest-2.log"]

    def start(log: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        eventually(lambda: _answers(f"{url}/readyz"), timeout=30, what="ingest to start")
        return process

    rid = seed002_response["response_id"] = f"killed-{unique}"
    first = start(logs[0])
    answer = httpx.post(f"{url}/v1/responses", json=seed002_response, headers={"Authorization": "Bearer form-token"})
    assert answer.status_code == 202
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    broker = start_tansu(kafka_port, log_file=tmp_path / "tansu.log")
    second = None
    try:
        create_topics(f"127.0.0.1:{kafka_port}", partitions=3)
        second = start(logs[1])
        state = lambda: httpx.get(f"{url}/v1/responses/{rid}", headers={"Authorization": "Bearer form-token"}).json()  # noqa: E731
        eventually(lambda: state()["latest"]["state"] == "published", timeout=60, what="the relay to publish")
    finally:
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        stop_process(broker)
    text = b"".join(log.read_bytes() for log in logs)
    assert f"accepted response {rid} revision 1".encode() in text
    respondent = seed002_response["respondent"]
    for personal in (respondent["email"], respondent["phone"], respondent["first_name"], respondent["last_name"]):
        assert personal.encode() not in text


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
