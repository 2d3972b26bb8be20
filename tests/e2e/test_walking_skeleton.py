"""The whole path as a user runs it: `feedback dev up`, the form posts a statement, owners receive email."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from devstack_support import DevStack, StartDevUp

from feedback_cli.devstack import read_mailbox
from feedback_contracts.events import RESPONSES_TOPIC

pytestmark = pytest.mark.e2e
TOKEN = "e2e-form-token"
EXPECTED_SECTIONS = {
    "5.3.1.3": "jarjestoyhteistyo@example.org",
    "5.1.5": "asiakasmaksut@example.org",
    "5.2.1": "hyte@example.org",
    "5.1.4": "monikanavaisuus@example.org",
    "5.2.2": "turvallisuus@example.org",
    "5.3.1.1": "yritysyhteistyo@example.org",
    "5.3": "kumppanuudet@example.org",
    "5.2": "ennaltaehkaisy@example.org",
}


@pytest.fixture
def stack(dev_up: StartDevUp) -> DevStack:
    return dev_up(env={"INGEST_API_TOKENS": TOKEN})


def _plain(message) -> str:  # noqa: ANN001
    return message.get_body(("plain",)).get_content()


def _alerts_for(mail: Path, response_id: str) -> list:
    return [m for m in read_mailbox(mail) if response_id in _plain(m)]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_ngo_councils_statement_reaches_every_owner_it_concerns_once(
    stack: DevStack, seed002_response: dict, unique: str, topics
) -> None:
    response_id = f"e2e-{unique}"
    seed002_response["response_id"] = response_id
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{stack.ingest}/v1/responses", json=seed002_response, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text

    def recipients() -> set[str]:
        return {m["To"] for m in _alerts_for(stack.mail, response_id)}

    deadline = time.monotonic() + 60
    while not set(EXPECTED_SECTIONS.values()) <= recipients() and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1)  # let the rest of this revision's alerts land before counting
    alerts = _alerts_for(stack.mail, response_id)
    by_recipient: dict[str, list] = {}
    for message in alerts:
        by_recipient.setdefault(message["To"], []).append(message)
    assert set(EXPECTED_SECTIONS.values()) <= set(by_recipient)
    assert all(len(messages) == 1 for messages in by_recipient.values())  # one alert per owner per revision
    for section_id, address in EXPECTED_SECTIONS.items():
        (message,) = by_recipient[address]  # exactly one email each
        body = _plain(message)
        assert "mainitsee luvun: ”" in body and section_id in message["Subject"]
        named = [
            line
            for line in body.splitlines()
            if re.search(
                rf"[Ll]uvu\w* {re.escape(section_id)}\b|[Ll]uku {re.escape(section_id)}\b|sekä {re.escape(section_id)}\b",
                line,
            )
        ]
        assert named, f"the alert to {address} lacks the paragraph naming {section_id}"
        assert "Kanta-Hämeen järjestöneuvottelukunta" in message["Subject"]
    raw = b"".join(path.read_bytes() for path in stack.mail.glob("*.eml"))
    assert seed002_response["respondent"]["email"].encode() not in raw
    assert seed002_response["respondent"]["phone"].encode() not in raw

    # The form retries the same revision: ingest recognises it, publishes nothing, and nobody gets mail.
    again = httpx.post(f"{stack.ingest}/v1/responses", json=seed002_response, headers=headers, timeout=30)
    assert again.status_code == 200, again.text
    time.sleep(2)
    published = [r for r in topics.read(RESPONSES_TOPIC) if r.key == response_id.encode()]
    assert len(published) == 1
    assert len(_alerts_for(stack.mail, response_id)) == len(alerts)


def test_ctrl_c_stops_everything_dev_up_started(stack: DevStack) -> None:
    assert all(_port_open(port) for port in stack.ports.values())
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(60) == 0
    assert not any(_port_open(port) for port in stack.ports.values())
    assert stack.output[-1].strip() == "stopped"


def test_a_statement_that_came_as_a_document_is_imported_and_reaches_its_owners(stack: DevStack) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "seed000_hameenlinna.txt"
    command = [sys.executable, "-m", "feedback_cli.main", "import", str(fixture), "--respondent-type", "municipality",
               "--response-id", f"hml-{time.time_ns()}", "--submit", "--url", stack.ingest, "--token", TOKEN]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    response_id = json.loads(result.stdout)["response_id"]

    def partner_alert() -> list:
        return [m for m in _alerts_for(stack.mail, response_id) if m["To"] == "kuntayhteistyo@example.org"]

    deadline = time.monotonic() + 60
    while not partner_alert() and time.monotonic() < deadline:
        time.sleep(0.3)
    (alert,) = partner_alert()
    assert alert["Subject"].startswith("Lausunto: Hämeenlinnan kaupunki (kunta tai kaupunki) – ")
    body = _plain(alert)
    assert "Kysymys 27: Miltä luvun 5 painopisteiden sisällöt näyttävät kunnan näkökulmasta?" in body
    assert "vastaajaryhmä: kunta tai kaupunki" in body
