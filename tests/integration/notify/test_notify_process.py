"""Notify as the process operators run: killed mid-batch it loses nothing, and flush-digests works over HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import free_port
from feedback_contracts.events import CLASSIFIED_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.keys import DeliveryKey

pytestmark = pytest.mark.integration


class SlowMailbox:
    """A real SMTP server that takes its time with each message, so a kill lands mid-batch."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.messages: list = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def _events(prefix: str, owners_file: Path, count: int) -> list:
    router = Router(load_taxonomy(), load_owners(owners_file), shared_classifier())
    now = datetime.now(UTC)
    return [
        router.route(
            ResponseReceived(
                survey_id="palvelustrategia-2026",
                response_id=f"{prefix}-{n}",
                revision=1,
                submitted_at=now,
                received_at=now,
                source="form",
                respondent=PublicRespondent(organization=f"Kunta {n}", title="johtaja"),
                respondent_type=RespondentType.MUNICIPALITY,
                answers=(Answer(question=27, text="Luvussa 5.2.2 varautuminen.\n\nLuku 5.1.5 maksut."),),
            )  # fmt: skip
        )
        for n in range(count)
    ]


def _start(env: dict, port: int, log: Path, eventually) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", "feedback_notify.app:create_app",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 204
        except httpx.HTTPError:
            return False

    eventually(ready, timeout=60, what="notify to start")
    return process


CONCURRENCY = 8  # workers sending at once, so also the most sends in flight at a kill


def _env(kafka_bootstrap: str, owners_file: Path, tmp_path: Path, unique: str, smtp_port: int) -> dict:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "OWNERS_FILE": str(owners_file),
        "NOTIFY_GROUP_ID": f"notify-{unique}",
        "DATABASE_URL": f"sqlite:///{tmp_path}/notify.sqlite3",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT_SECONDS": "3",
        "WEBHOOK_TIMEOUT_SECONDS": "3",
        "ADMIN_API_TOKENS": "admin-token",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "NOTIFY_DELIVERY_CONCURRENCY": str(CONCURRENCY),
    }


def test_killed_in_the_middle_of_a_batch_notify_delivers_everything_and_any_resend_keeps_its_message_id(
    kafka_bootstrap, owners_file, producer, tmp_path: Path, unique: str, eventually
) -> None:
    mailbox = SlowMailbox(delay=0.15)
    mailbox.controller.start()
    events = _events(f"kill-{unique}", owners_file, 10)
    expected = {(owner, e.response_id) for e in events for owner in e.owners()}
    port = free_port()
    env = _env(kafka_bootstrap, owners_file, tmp_path, unique, mailbox.port)
    mine = lambda: [m for m in mailbox.messages if f"kill-{unique}-" in m.get_body(("plain",)).get_content()]  # noqa: E731
    try:
        first = _start(env, port, tmp_path / "notify.log", eventually)
        for event in events:
            producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode())
        producer.flush()
        eventually(lambda: len(mine()) >= 3, what="the batch to be under way")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        delivered_before_kill = len(mine())
        assert delivered_before_kill < len(expected), "the kill came too late to be mid-batch"
        second = _start(env, port, tmp_path / "notify.log", eventually)
        try:
            eventually(lambda: len({m["Message-ID"] for m in mine()}) >= len(expected), timeout=90, what="every alert")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    finally:
        mailbox.controller.stop()
    messages = mine()
    by_id: dict[str, set[str]] = {}
    for message in messages:
        by_id.setdefault(message["Message-ID"], set()).add(message.get_body(("plain",)).get_content())
    # Zero missing: one distinct Message-ID per expected (owner, response). A resend, if the kill fell between
    # the server's acceptance and the log's update, carries the same Message-ID and the same text.
    assert len(by_id) == len(expected)
    assert all(len(texts) == 1 for texts in by_id.values())
    assert len(messages) - len(by_id) <= CONCURRENCY  # at most the sends in flight at the kill


DIGEST_OWNERS = """
default_owner: office
owners:
  - {id: office, name: Strategiatoimisto, email: [office@example.org]}
  - {id: turvallisuus, name: Turvallisuus, chapters: ["5.2.2"], email: [turvallisuus@example.org], mode: digest, digest_time: "DIGEST_TIME"}
"""


def _digest_time_far_from_now() -> str:
    """Twelve hours from now in Helsinki: the service's own schedule must not send the digest during the test
    (a fixed 23:59 failed the test whenever it ran at that time)."""
    later = datetime.now(ZoneInfo("Europe/Helsinki")) + timedelta(hours=12)
    return f"{later:%H}:00"


def test_flush_digests_asks_the_running_service_over_http_with_the_admin_token(
    kafka_bootstrap, producer, tmp_path: Path, unique: str, eventually
) -> None:
    owners_file = tmp_path / "owners.yaml"
    owners_file.write_text(DIGEST_OWNERS.replace("DIGEST_TIME", _digest_time_far_from_now()), encoding="utf-8")
    mailbox = SlowMailbox(delay=0)
    mailbox.controller.start()
    port = free_port()
    env = _env(kafka_bootstrap, owners_file, tmp_path, unique, mailbox.port)
    url = f"http://127.0.0.1:{port}"
    events = _events(f"digest-{unique}", owners_file, 2)
    process = _start(env, port, tmp_path / "notify.log", eventually)
    try:
        for event in events:
            producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode())
        producer.flush()

        def pending() -> float:
            text = httpx.get(f"{url}/metrics").text
            line = next((x for x in text.splitlines() if x.startswith("feedback_notify_pending_digest_items ")), "x 0")
            return float(line.split()[1])

        eventually(lambda: pending() >= 2, what="two digest items")
        command = [sys.executable, "-m", "feedback_cli.main", "notify", "flush-digests", "--url", url]
        refused = subprocess.run(
            command, env={**env, "FEEDBACK_ADMIN_TOKEN": "wrong"}, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1 and "401" in refused.stderr
        result = subprocess.run(
            [*command, "--owner", "turvallisuus"],
            env={**env, "FEEDBACK_ADMIN_TOKEN": "admin-token"}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "turvallisuus: digest with" in result.stdout
        eventually(lambda: any(m["To"] == "turvallisuus@example.org" for m in mailbox.messages), what="the digest")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        mailbox.controller.stop()
    digests = [m for m in mailbox.messages if m["To"] == "turvallisuus@example.org"]
    assert len(digests) == 1 and digests[0]["Subject"].startswith("Lausuntokoonti: ")
    body = digests[0].get_body(("plain",)).get_content()
    assert all(event.response_id in body for event in events)


class RefusingMailbox(SlowMailbox):
    """A real SMTP server that refuses some recipients for good (550)."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__(delay=0)
        self.refused = refused

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001, ANN201
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


WRONG_ADDRESS_OWNERS = """
default_owner: office
owners:
  - {id: office, name: Strategiatoimisto, email: [office@example.org]}
  - {id: turvallisuus, name: Turvallisuus, chapters: ["5.2.2"], email: [ADDRESS]}
"""


def test_a_refused_address_fixed_in_the_owners_file_gets_its_alert_with_feedback_notify_retry_dead(
    kafka_bootstrap, producer, tmp_path: Path, unique: str, eventually
) -> None:
    owners_file = tmp_path / "owners.yaml"
    owners_file.write_text(WRONG_ADDRESS_OWNERS.replace("ADDRESS", "turvalisuus@example.org"), encoding="utf-8")
    mailbox = RefusingMailbox({"turvalisuus@example.org"})
    mailbox.controller.start()
    port = free_port()
    env = {**_env(kafka_bootstrap, owners_file, tmp_path, unique, mailbox.port), "OWNERS_RELOAD_SECONDS": "0.2"}
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "notify.log"
    (event,) = _events(f"dead-{unique}", owners_file, 1)
    command = [sys.executable, "-m", "feedback_cli.main", "notify", "retry-dead", "--owner", "turvallisuus"]
    command += ["--url", url]

    def retry_dead(token: str) -> subprocess.CompletedProcess[str]:
        environment = {**env, "FEEDBACK_ADMIN_TOKEN": token}
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)

    def mine(address: str) -> list:
        return [
            m for m in mailbox.messages
            if m["To"] == address and event.response_id in m.get_body(("plain",)).get_content()
        ]  # fmt: skip

    def dead_and_office_sent() -> bool:
        # Earlier tests' events are on the topic too (this group starts at the beginning): wait for this
        # event's own refused alert to be given up on, by its delivery key in notify's log.
        refused = DeliveryKey("turvallisuus", "email", event.response_id, 1)
        given_up = f"delivery {refused} given up" in log.read_text(errors="replace")
        return given_up and len(mine("office@example.org")) == 1

    process = _start(env, port, log, eventually)
    try:
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode())
        producer.flush()
        eventually(dead_and_office_sent, what="the refused alert given up on, the other one sent")
        assert mine("turvallisuus@example.org") == []
        refused = retry_dead("wrong")
        assert refused.returncode == 1 and "401" in refused.stderr
        owners_file.write_text(WRONG_ADDRESS_OWNERS.replace("ADDRESS", "turvallisuus@example.org"), encoding="utf-8")
        eventually(lambda: "owners directory reloaded" in log.read_text(errors="replace"), what="the owners reload")
        result = retry_dead("admin-token")
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(r"[1-9]\d* dead deliveries queued to be sent again\n", result.stdout), result.stdout
        eventually(lambda: len(mine("turvallisuus@example.org")) == 1, what="the alert at the corrected address")
        eventually(lambda: "0 dead deliveries queued" in retry_dead("admin-token").stdout, what="nothing dead")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        mailbox.controller.stop()
    assert len(mine("turvallisuus@example.org")) == 1
    assert len(mine("office@example.org")) == 1  # delivered the first time, not sent again
