"""Notify's SMTP connections against a real server (aiosmtpd): many alerts go over one connection, a refusal
concerns only its own message, a server that hangs up mid-batch gets everything exactly once over new
connections, idle connections are closed, and the dev sink stores what it is sent."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from feedback_cli.devstack import SmtpSink, free_port
from feedback_contracts.owners import parse_owners
from feedback_contracts.respondents import RespondentType
from feedback_notify.adapters import PermanentDeliveryError, SmtpSender, TransientDeliveryError
from feedback_notify.alerts import Alert, AlertParagraph, AlertSection
from feedback_notify.delivery_log import NewJob
from feedback_notify.email_wire import compose_email
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import Rendered, Renderer, message_id
from feedback_notify.service import Dispatcher, NotifyMetrics
from feedback_notify.store import NotifyStore

SENDER = "Oma Hämeen lausuntopalvelu <lausunnot@example.org>"
OWNERS = parse_owners(
    "default_owner: office\nowners:\n  - {id: office, name: Strategiatoimisto, email: [office@example.org]}\n"
)


class Mailbox:
    """A real SMTP server that notes which connection brought each message, and refuses or hangs up on cue."""

    def __init__(self) -> None:
        self.messages: list[tuple[tuple, object]] = []  # (the client's address and port, the parsed message)
        self.refused_recipients: dict[str, str] = {}  # address -> reply to RCPT
        self.refused_data: dict[str, str] = {}  # text in the message -> reply to its DATA
        self.hang_up_every: int | None = None  # close the connection after every n-th message on it
        self.closing_every: int | None = None  # answer "421" to MAIL after n messages on a connection
        self.quits = 0
        self.per_connection: Counter = Counter()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802, ANN001, ANN201
        if self.closing_every and self.per_connection[session.peer] >= self.closing_every:
            return "421 4.7.0 too many messages on this connection, closing"
        envelope.mail_from, envelope.mail_options = address, mail_options
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001, ANN201
        if address in self.refused_recipients:
            return self.refused_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        text = message.get_body(("plain",)).get_content()
        for marker, reply in self.refused_data.items():
            if marker in text:
                return reply
        self.messages.append((session.peer, message))
        self.per_connection[session.peer] += 1
        if self.hang_up_every and self.per_connection[session.peer] % self.hang_up_every == 0:
            asyncio.get_running_loop().call_soon(server.transport.close)  # right after this answer goes out
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        self.quits += 1
        return "221 Bye"

    def connections(self) -> int:
        return len({peer for peer, _ in self.messages})

    def ids(self) -> list[str]:
        return [message["Message-ID"] for _, message in self.messages]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


def email(n: int, to: str = "office@example.org") -> object:
    text = f"Lausunto {n}: Hämeenlinnan järjestöneuvottelukunta.\n\nKappale, jossa on ääkkösiä ja € -merkki.\n"
    return compose_email(
        Rendered(f"Lausunto {n}: TyöHäme – 5.2.2 Turvallisuus", text, f"<p>{text}</p>"),
        sender=SENDER, recipients=(to,), key=DeliveryKey("office", "email", f"r{n}", 1), domain="example.org", date=datetime.now(UTC),
    )  # fmt: skip


async def test_many_alerts_go_over_one_connection(mailbox: Mailbox) -> None:
    sender = SmtpSender("127.0.0.1", mailbox.port, 10)
    try:
        for n in range(25):
            await sender.send(email(n))
    finally:
        await sender.close()
    assert len(mailbox.messages) == 25 and len(set(mailbox.ids())) == 25
    assert mailbox.connections() == 1
    first = mailbox.messages[0][1]
    assert first["Subject"] == "Lausunto 0: TyöHäme – 5.2.2 Turvallisuus"
    assert "Hämeenlinnan järjestöneuvottelukunta" in first.get_body(("plain",)).get_content()
    assert first["From"] == SENDER and first["Content-Language"] == "fi"


async def test_a_refused_message_concerns_only_itself_and_the_connection_carries_on(mailbox: Mailbox) -> None:
    mailbox.refused_recipients["nobody@example.org"] = "550 5.1.1 no such user"
    mailbox.refused_data["Lausunto 3:"] = "554 5.6.0 message refused"
    mailbox.refused_data["Lausunto 5:"] = "451 4.3.0 try again later"
    sender = SmtpSender("127.0.0.1", mailbox.port, 10)
    outcomes = []
    try:
        for n in range(8):
            try:
                await sender.send(email(n, "nobody@example.org" if n == 1 else "office@example.org"))
                outcomes.append("delivered")
            except PermanentDeliveryError:
                outcomes.append("permanent")
            except TransientDeliveryError:
                outcomes.append("transient")
    finally:
        await sender.close()
    assert (
        outcomes == ["delivered", "permanent", "delivered", "permanent", "delivered", "transient"] + ["delivered"] * 2
    )
    delivered = [message.get_body(("plain",)).get_content().split(":")[0] for _, message in mailbox.messages]
    assert delivered == ["Lausunto 0", "Lausunto 2", "Lausunto 4", "Lausunto 6", "Lausunto 7"]
    assert mailbox.connections() == 1  # the refusals did not cost the connection


def _job(n: int) -> NewJob:
    payload = Alert(
        kind="new", owner_id="office", owner_name="Strategiatoimisto", response_id=f"r{n:03d}", revision=1,
        organization="Kunta", title="johtaja", respondent_type=RespondentType.MUNICIPALITY,
        received_at=datetime.now(UTC),
        sections=[AlertSection(section_id="5.2.2", title="Turvallisuus", paragraphs=[
            AlertParagraph(question=27, text=f"Lausunnon r{n:03d} kappale.", reasons=["mainitsee luvun"])])],
    ).model_dump(mode="json")  # fmt: skip
    return NewJob(DeliveryKey("office", "email", f"r{n:03d}", 1), "new", payload, None)


async def _deliver(
    tmp_path: Path, mailbox: Mailbox, count: int, **sender_options: float
) -> tuple[list[DeliveryKey], dict]:
    """Queue `count` alerts in a real delivery log and let the dispatcher send them; returns their keys and
    the log's counts."""
    store = NotifyStore(f"sqlite:///{tmp_path}/notify.sqlite3")
    await store.create()
    registry = CollectorRegistry()
    sender = SmtpSender("127.0.0.1", mailbox.port, 10, **sender_options)  # type: ignore[arg-type]
    try:
        jobs = [_job(n) for n in range(count)]
        now = datetime.now(UTC)
        await store.queue(jobs, now)
        dispatcher = Dispatcher(
            store, lambda: OWNERS, Renderer(), sender, None, NotifyMetrics(registry),  # type: ignore[arg-type]
            sender=SENDER, lease=timedelta(seconds=60),
        )  # fmt: skip
        await dispatcher.deliver_due()
        counts = await store.counts()
        counts["retries"] = registry.get_sample_value("feedback_notify_retries_total", {"channel": "email"}) or 0
        return [job.key for job in jobs], counts
    finally:
        await sender.close()
        await store.close()


async def test_a_server_hanging_up_mid_batch_gets_every_alert_exactly_once(tmp_path: Path, mailbox: Mailbox) -> None:
    mailbox.hang_up_every = 3
    keys, counts = await _deliver(tmp_path, mailbox, 40)
    assert sorted(mailbox.ids()) == sorted(message_id(key, "example.org") for key in keys)  # each once
    assert counts["pending"] == 0 and counts["retries"] == 0  # nothing needed a second attempt
    assert mailbox.connections() > 8  # the dispatcher's connections were replaced as the server hung up


async def test_a_server_closing_connections_with_421_gets_every_alert_exactly_once(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    mailbox.closing_every = 4
    keys, counts = await _deliver(tmp_path, mailbox, 40)
    assert sorted(mailbox.ids()) == sorted(message_id(key, "example.org") for key in keys)
    assert counts["pending"] == 0 and counts["retries"] == 0


async def test_the_dispatcher_sends_a_backlog_over_a_few_connections(tmp_path: Path, mailbox: Mailbox) -> None:
    keys, counts = await _deliver(tmp_path, mailbox, 120)
    assert sorted(mailbox.ids()) == sorted(message_id(key, "example.org") for key in keys)
    assert counts["pending"] == 0
    assert mailbox.connections() <= 8  # one per worker at most, not one per alert


async def test_an_idle_connection_is_closed(mailbox: Mailbox) -> None:
    sender = SmtpSender("127.0.0.1", mailbox.port, 10, idle_seconds=0.2)
    try:
        await sender.send(email(1))
        await asyncio.sleep(0.3)
        await sender.close_idle()  # the dispatcher calls this whenever it has nothing to send
        assert mailbox.quits == 1
        await sender.send(email(2))  # and the next alert opens a new one
    finally:
        await sender.close()
    assert len(mailbox.messages) == 2 and mailbox.connections() == 2


async def test_the_dev_sink_stores_every_message_it_is_sent_over_one_connection(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "mail", free_port()).start()
    sender = SmtpSender("127.0.0.1", sink.port, 10)
    try:
        for n in range(10):
            await sender.send(email(n))
        # An address the sink's plain-path shortcut does not cover goes through aiosmtpd's own parser
        # (and this one needs SMTPUTF8, which the sink offers).
        await sender.send(email(10, "käyttäjä@example.org"))
    finally:
        await sender.close()
        sink.stop()
    stored = sink.messages()
    assert sorted(m["Message-ID"] for m in stored) == sorted(
        message_id(DeliveryKey("office", "email", f"r{n}", 1), "example.org") for n in range(11)
    )
    assert all("Hämeenlinnan järjestöneuvottelukunta" in m.get_body(("plain",)).get_content() for m in stored)
