"""Notify against the real broker, a real SMTP server (which can refuse) and a real webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import free_port
from feedback_contracts.events import CLASSIFIED_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.owners import load_owners, parse_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.app import create_app
from feedback_notify.settings import NotifySettings

pytestmark = pytest.mark.integration


class Mailbox:
    """An SMTP server that can answer 4xx for a while, or 5xx for some recipients."""

    def __init__(self) -> None:
        self.messages: list = []
        self.temporary_failures = 0
        self.refused: set[str] = set()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001, ANN201
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 try again later"
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


def _event(response_id: str, owners_file: Path):
    now = datetime.now(UTC)
    received = ResponseReceived(
        survey_id="palvelustrategia-2026", response_id=response_id, revision=1, submitted_at=now, received_at=now,
        source="form", respondent=PublicRespondent(organization="TyöHäme", title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=(Answer(question=71, text="Luvussa 5.2.2 varautuminen.\n\nLuku 5.1.5 maksut ovat selkeät."),),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(owners_file), shared_classifier()).route(received)


def _settings(
    kafka_bootstrap: str, owners_file: Path, tmp_path: Path, unique: str, smtp_port: int, **extra
) -> NotifySettings:
    return NotifySettings(
        kafka_bootstrap_servers=kafka_bootstrap, owners_file=owners_file, notify_group_id=f"notify-{unique}",
        database_url=f"sqlite:///{tmp_path}/notify.sqlite3", smtp_port=smtp_port, notify_retry_base_seconds=0.2,
        kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500, **extra,
    )  # fmt: skip


def test_each_owner_is_mailed_once_even_when_the_event_comes_twice(
    kafka_bootstrap, owners_file, producer, mailbox, tmp_path, unique, eventually
) -> None:
    event = _event(f"notify-{unique}", owners_file)
    payload = event.model_dump_json().encode()
    registry = CollectorRegistry()
    mine = lambda: [m for m in mailbox.messages if f"notify-{unique}" in m.get_body(("plain",)).get_content()]  # noqa: E731
    with TestClient(
        create_app(_settings(kafka_bootstrap, owners_file, tmp_path, unique, mailbox.port), registry=registry)
    ):
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=payload).get(timeout=10)
        eventually(lambda: len(mine()) == 2, what="two alerts")
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=payload).get(timeout=10)
        eventually(
            lambda: (registry.get_sample_value("feedback_notify_events_total", {"outcome": "duplicate"}) or 0) >= 1,
            timeout=120,
            what="the redelivered event to be recognised",
        )
    messages = mine()
    assert sorted(m["To"] for m in messages) == ["asiakasmaksut@example.org", "turvallisuus@example.org"]
    (security,) = [m for m in messages if m["To"] == "turvallisuus@example.org"]
    assert security["Subject"] == "Lausunto: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys"
    assert security.get_content_type() == "multipart/alternative"
    assert "Luku 5.1.5 maksut" not in security.get_body(("plain",)).get_content()


def test_an_edited_owners_file_applies_to_the_next_alert_without_a_restart(
    kafka_bootstrap, owners_file, producer, mailbox, tmp_path, unique, eventually, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="feedback.owners")
    edited = tmp_path / "owners.yaml"
    edited.write_text(owners_file.read_text(encoding="utf-8"), encoding="utf-8")
    settings = _settings(kafka_bootstrap, edited, tmp_path, unique, mailbox.port, owners_reload_seconds=0.2)
    registry = CollectorRegistry()
    with TestClient(create_app(settings, registry=registry)):
        edited.write_text(
            edited.read_text(encoding="utf-8").replace("turvallisuus@example.org", "varautuminen@example.org"),
            encoding="utf-8",
        )
        event = _event(f"reload-{unique}", owners_file)
        eventually(lambda: "owners directory reloaded" in caplog.text, what="the owners reload")
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode()).get(
            timeout=10
        )
        mine = lambda: [m for m in mailbox.messages if f"reload-{unique}" in m.get_body(("plain",)).get_content()]  # noqa: E731
        eventually(lambda: len(mine()) == 2, what="two alerts")
    assert sorted(m["To"] for m in mine()) == ["asiakasmaksut@example.org", "varautuminen@example.org"]


def test_a_mail_server_answering_4xx_is_retried_and_a_5xx_recipient_is_dead_lettered(
    kafka_bootstrap, owners_file, producer, mailbox, tmp_path, unique, eventually
) -> None:
    mailbox.temporary_failures = 3
    mailbox.refused.add("asiakasmaksut@example.org")
    event = _event(f"smtp-{unique}", owners_file)
    registry = CollectorRegistry()
    with TestClient(
        create_app(_settings(kafka_bootstrap, owners_file, tmp_path, unique, mailbox.port), registry=registry)
    ):
        producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode()).get(
            timeout=10
        )
        eventually(
            lambda: any(m["To"] == "turvallisuus@example.org" for m in mailbox.messages), what="delivery after 4xx"
        )
        eventually(
            lambda: (registry.get_sample_value("feedback_notify_dead_letters_total", {"channel": "email"}) or 0) >= 1,
            what="the refused recipient to be dead-lettered",
        )
    assert registry.get_sample_value("feedback_notify_retries_total", {"channel": "email"}) >= 1
    assert not any(m["To"] == "asiakasmaksut@example.org" for m in mailbox.messages)


class _Receiver(BaseHTTPRequestHandler):
    secret = b""
    calls: list[tuple[bool, dict]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Feedback-Timestamp"]
        expected = "sha256=" + hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, self.headers.get("X-Feedback-Signature", ""))
        type(self).calls.append((valid, json.loads(body)))
        self.send_response(200 if valid else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_webhook_owner_gets_a_post_whose_signature_verifies(
    kafka_bootstrap, producer, mailbox, tmp_path, unique, eventually
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.secret, _Receiver.calls = b"webhook-secret", []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    owners_path = tmp_path / "owners.yaml"
    owners_path.write_text(
        "default_owner: office\nowners:\n"
        "  - {id: office, name: Strategiatoimisto, email: [office@example.org]}\n"
        f"  - {{id: turvallisuus, name: Turvallisuus, chapters: ['5.2.2'], webhook: 'http://127.0.0.1:{server.server_port}/hook', webhook_format: slack}}\n",
        encoding="utf-8",
    )
    parse_owners(owners_path.read_text())
    event = _event(f"hook-{unique}", owners_path)
    settings = _settings(kafka_bootstrap, owners_path, tmp_path, unique, mailbox.port, webhook_secret="webhook-secret")
    try:
        with TestClient(create_app(settings)):
            producer.send(CLASSIFIED_TOPIC, key=event.response_id.encode(), value=event.model_dump_json().encode()).get(
                timeout=10
            )
            mine = lambda: [c for c in _Receiver.calls if f"hook-{unique}" in c[1]["text"]]  # noqa: E731
            eventually(lambda: len(mine()) >= 1, what="the webhook call")
    finally:
        server.shutdown()
    ((valid, payload),) = mine()
    assert valid
    assert payload["text"].startswith("*Lausunto: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys*")
