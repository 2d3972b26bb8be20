"""Broker loss: what was accepted but never reached notify is found and replayed by `feedback reconcile`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from feedback_cli.devstack import SmtpSink, create_topics, free_port, start_tansu, stop_process

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FORM, ADMIN = "form-token", "admin-token"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 204)
    except httpx.HTTPError:
        return False


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_after_the_broker_lost_its_data_reconcile_restores_completeness_without_duplicates(
    tmp_path: Path, seed002_response: dict, unique: str, eventually
) -> None:
    kafka_port = free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    broker = start_tansu(kafka_port, log_file=tmp_path / "tansu.log")
    create_topics(bootstrap, partitions=3)
    sink = SmtpSink(tmp_path / "mail", free_port()).start()
    ports = {name: free_port() for name in ("ingest", "classify", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "INGEST_API_TOKENS": FORM,
        "ADMIN_API_TOKENS": ADMIN,
        "OWNERS_FILE": str(REPO / "config" / "owners.example.yaml"),
        "SMTP_PORT": str(sink.port),
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "INGEST_RELAY_MAX_BACKOFF_SECONDS": "1",
    }
    databases = {
        "ingest": f"sqlite:///{tmp_path}/ingest.sqlite3",
        "notify": f"sqlite:///{tmp_path}/notify.sqlite3",
        "classify": "",
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", f"feedback_{name}.app:create_app",
                   "--host", "127.0.0.1", "--port", str(ports[name])]  # fmt: skip
        service_env = {**env, "DATABASE_URL": databases[name]} if databases[name] else env
        log = (tmp_path / f"{name}.log").open("ab")
        processes[name] = subprocess.Popen(command, env=service_env, stdout=log, stderr=subprocess.STDOUT)
        eventually(lambda: _ready(f"{urls[name]}/readyz"), timeout=60, what=f"{name} to start")

    def post(response_id: str) -> None:
        body = {**seed002_response, "response_id": response_id}
        answer = httpx.post(f"{urls['ingest']}/v1/responses", json=body, headers={"Authorization": f"Bearer {FORM}"})
        assert answer.status_code == 202, answer.text

    def alerted(response_id: str) -> list:
        return [m for m in sink.messages() if response_id in m.get_body(("plain",)).get_content()]

    try:
        for name in ("ingest", "classify", "notify"):
            start(name)
        before = [f"rec-{unique}-a{n}" for n in range(2)]
        for rid in before:
            post(rid)
        eventually(lambda: all(alerted(rid) for rid in before), timeout=90, what="the first statements' alerts")

        # notify is down while more statements are classified; then the broker loses everything it held.
        processes["notify"].send_signal(signal.SIGKILL)
        processes["notify"].wait(10)
        lost = [f"rec-{unique}-b{n}" for n in range(2)]
        classified = _metric(urls["classify"], "feedback_classify_responses_total")
        for rid in lost:
            post(rid)
        eventually(
            lambda: _metric(urls["classify"], "feedback_classify_responses_total") >= classified + len(lost),
            timeout=90,
            what="the new statements to be classified",
        )
        stop_process(broker)
        broker = start_tansu(kafka_port, log_file=tmp_path / "tansu-2.log")
        create_topics(bootstrap, partitions=3)
        start("notify")
        assert not any(alerted(rid) for rid in lost)

        command = [sys.executable, "-m", "feedback_cli.main", "reconcile",
                   "--ingest-url", urls["ingest"], "--notify-url", urls["notify"]]  # fmt: skip
        dry = subprocess.run(
            [*command, "--dry-run"],
            env={**env, "FEEDBACK_ADMIN_TOKEN": ADMIN},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 0, dry.stderr
        assert "missing 2" in dry.stdout and all(rid in dry.stdout for rid in lost)
        result = subprocess.run(
            command, env={**env, "FEEDBACK_ADMIN_TOKEN": ADMIN}, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and "replay queued for 2 revision(s)" in result.stdout, (
            result.stdout + result.stderr
        )

        eventually(lambda: all(alerted(rid) for rid in lost), timeout=120, what="the replayed statements' alerts")
        again = subprocess.run(
            [*command, "--dry-run"],
            env={**env, "FEEDBACK_ADMIN_TOKEN": ADMIN},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "missing 0" in again.stdout
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
    ids = [
        m["Message-ID"]
        for m in sink.messages()
        if any(rid in m.get_body(("plain",)).get_content() for rid in before + lost)
    ]
    assert len(ids) == len(set(ids))  # nothing twice
