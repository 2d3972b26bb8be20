"""Nothing accepted is lost: while statements are being posted, each service is killed (-9) once at a random
moment and restarted; every accepted statement still reaches exactly its owners, each alert once by Message-ID.

`make test` and `make reliability` run it with 500 statements (RELIABILITY_RESPONSES sets another number).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import SmtpSink, create_topics, free_port, start_tansu, stop_process
from feedback_contracts.events import PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.responses import SurveyResponse
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import message_id

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[2]
OWNERS = REPO / "config" / "owners.example.yaml"
FORM = "form-token"


def _expected_owners(seed: dict) -> list[str]:
    """Whom the statement concerns, by the same routing the pipeline runs."""
    response = SurveyResponse.model_validate(seed)
    event = ResponseReceived(
        survey_id=response.survey_id, response_id=response.response_id, revision=1, submitted_at=response.submitted_at,
        received_at=datetime.now(UTC), source="form",
        respondent=PublicRespondent(organization=response.respondent.organization, title=response.respondent.title),
        respondent_type=response.respondent_type, answers=tuple(response.answers),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(OWNERS), shared_classifier()).route(event).owners()


def test_every_accepted_statement_reaches_exactly_its_owners_while_each_service_is_killed_once(
    tmp_path: Path, seed002_response: dict, unique: str, eventually
) -> None:
    total = int(os.environ.get("RELIABILITY_RESPONSES", "500"))
    rng = random.Random(os.environ.get("RELIABILITY_SEED", unique))
    kafka_port = free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    broker = start_tansu(kafka_port, log_file=tmp_path / "tansu.log")
    create_topics(bootstrap, partitions=6)
    sink = SmtpSink(tmp_path / "mail", free_port()).start()
    ports = {name: free_port() for name in ("ingest", "classify", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INGEST_API_TOKENS": FORM, "OWNERS_FILE": str(OWNERS),
        "SMTP_PORT": str(sink.port), "SMTP_TIMEOUT_SECONDS": "5", "WEBHOOK_TIMEOUT_SECONDS": "5",
        "KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500", "INGEST_RELAY_MAX_BACKOFF_SECONDS": "1",
        "NOTIFY_RETRY_BASE_SECONDS": "1",
    }  # fmt: skip
    databases = {"ingest": f"sqlite:///{tmp_path}/ingest.sqlite3", "notify": f"sqlite:///{tmp_path}/notify.sqlite3"}
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", f"feedback_{name}.app:create_app",
                   "--host", "127.0.0.1", "--port", str(ports[name])]  # fmt: skip
        service_env = {**env, "DATABASE_URL": databases[name]} if name in databases else env
        processes[name] = subprocess.Popen(
            command, env=service_env, stdout=(tmp_path / f"{name}.log").open("ab"), stderr=subprocess.STDOUT
        )

    def ready(name: str) -> bool:
        try:
            return httpx.get(f"{urls[name]}/readyz", timeout=2).status_code in (200, 204)
        except httpx.HTTPError:
            return False

    accepted: list[str] = []
    posting_done = threading.Event()

    def post_all() -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(total):
                body = {**seed002_response, "response_id": f"chaos-{unique}-{n}"}
                for _ in range(50):  # the form retries while ingest is being restarted
                    try:
                        answer = client.post(
                            f"{urls['ingest']}/v1/responses", json=body, headers={"Authorization": f"Bearer {FORM}"}
                        )
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    if answer.status_code in (200, 202):
                        accepted.append(body["response_id"])
                        break
                    time.sleep(0.2)
                time.sleep(0.05)
        posting_done.set()

    owners = _expected_owners(seed002_response)
    try:
        for name in ("ingest", "classify", "notify"):
            start(name)
        for name in ("ingest", "classify", "notify"):
            eventually(lambda name=name: ready(name), timeout=60, what=f"{name} to start")
        poster = threading.Thread(target=post_all, daemon=True)
        poster.start()
        for name in rng.sample(["ingest", "classify", "notify"], 3):
            time.sleep(rng.uniform(0.5, 2.5))
            processes[name].send_signal(signal.SIGKILL)
            processes[name].wait(10)
            time.sleep(rng.uniform(0.2, 1.5))
            start(name)
            eventually(lambda name=name: ready(name), timeout=60, what=f"{name} to restart")
        assert posting_done.wait(600), "posting did not finish"
        expected = {
            message_id(DeliveryKey(owner, "email", rid, 1), "example.org") for rid in accepted for owner in owners
        }

        def delivered() -> set[str]:
            return {m["Message-ID"] for m in sink.messages()}

        eventually(lambda: expected <= delivered(), timeout=600, what=f"{len(expected)} alerts")
        time.sleep(2)
        got = delivered()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.stop()
        stop_process(broker)
    assert len(accepted) == total
    assert got == expected  # zero missing, and nothing that should not have been sent
