"""The delivery log under batch claims, on SQLite and PostgreSQL: every job is sent once by Message-ID, a batch
left behind by a worker that died goes out after its lease with the same Message-IDs, replicas never send
the same job, and a backlog of many jobs goes out whole."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from prometheus_client import CollectorRegistry

from feedback_contracts.owners import parse_owners
from feedback_contracts.respondents import RespondentType
from feedback_notify.adapters import PermanentDeliveryError, TransientDeliveryError
from feedback_notify.alerts import Alert, AlertParagraph, AlertSection
from feedback_notify.delivery_log import DeliveryLog, NewJob
from feedback_notify.email_wire import OutgoingEmail
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import Renderer, message_id
from feedback_notify.service import Dispatcher, NotifyMetrics
from feedback_notify.store import NotifyStore

T0 = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
OWNERS = parse_owners(
    "default_owner: office\nowners:\n  - {id: office, name: Strategiatoimisto, email: [office@example.org]}\n"
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Mail:
    """Keeps what would go over the wire, as a mail reader parses it; fails for chosen statements."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: dict[str, Exception] = {}

    async def send(self, message: OutgoingEmail) -> None:
        await asyncio.sleep(0)  # let the other workers (and dispatchers) in, as a real send does
        parsed = message_from_bytes(message.data, policy=policy.default)
        for marker, error in self.failures.items():
            if marker in parsed.get_body(("plain",)).get_content():
                raise error
        self.sent.append(parsed)  # type: ignore[arg-type]

    def ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.sent]


def dispatcher(store: NotifyStore, mail: Mail, clock: Clock, metrics: NotifyMetrics | None = None) -> Dispatcher:
    return Dispatcher(
        store, lambda: OWNERS, Renderer(), mail, None, metrics or NotifyMetrics(CollectorRegistry()),  # type: ignore[arg-type]
        sender="Lausunnot <lausunnot@example.org>", clock=clock, lease=LEASE, batch_size=25,
    )  # fmt: skip


def alert(response_id: str) -> dict:
    return Alert(
        kind="new", owner_id="office", owner_name="Strategiatoimisto", response_id=response_id, revision=1,
        organization="Kunta", title="johtaja", respondent_type=RespondentType.MUNICIPALITY, received_at=T0,
        sections=[AlertSection(section_id="5.2.2", title="Turvallisuus", paragraphs=[
            AlertParagraph(question=27, text=f"Lausunnon {response_id} kappale.", reasons=["mainitsee luvun"])])],
    ).model_dump(mode="json")  # fmt: skip


async def queue_alerts(store: NotifyStore, count: int, now: datetime = T0) -> list[DeliveryKey]:
    """`count` immediate email deliveries to the office; returns their keys."""
    jobs = [
        NewJob(DeliveryKey("office", "email", f"r{n:04d}", 1), "new", alert(f"r{n:04d}"), now) for n in range(count)
    ]
    await store.queue(jobs, now)
    return [job.key for job in jobs]


def expected_ids(keys: list[DeliveryKey]) -> set[str]:
    return {message_id(key, "example.org") for key in keys}


async def test_a_backlog_goes_out_whole_each_alert_once(database_url: str) -> None:
    store = NotifyStore(database_url)
    await store.create()
    try:
        keys = await queue_alerts(store, 230)  # more than several batches
        mail = Mail()
        assert await dispatcher(store, mail, Clock(T0)).deliver_due() == 230
        assert sorted(mail.ids()) == sorted(expected_ids(keys))
        assert {await store.status(key) for key in keys} == {"delivered"}
        assert (await store.counts())["pending"] == 0
    finally:
        await store.close()


async def test_a_batch_left_by_a_worker_that_died_goes_out_after_its_lease_with_the_same_message_ids(
    database_url: str,
) -> None:
    store = NotifyStore(database_url)
    await store.create()
    try:
        keys = await queue_alerts(store, 30)
        # A worker leases a batch and dies before sending or recording any of it.
        leased = await store.claim_due(T0, 20, LEASE)
        assert len(leased) == 20
        clock, mail = Clock(T0 + timedelta(seconds=1)), Mail()
        survivor = dispatcher(store, mail, clock)
        await survivor.deliver_due()
        assert len(mail.sent) == 10  # the leased batch waits for its lease to lapse
        clock.now = T0 + LEASE + timedelta(seconds=1)
        await survivor.deliver_due()
        assert sorted(mail.ids()) == sorted(expected_ids(keys))  # every alert once, the batch with its own IDs
    finally:
        await store.close()


async def test_replicas_delivering_at_once_never_send_the_same_job(database_url: str) -> None:
    stores = [NotifyStore(database_url) for _ in range(3)]  # each its own connections, as separate processes
    await stores[0].create()
    try:
        keys = await queue_alerts(stores[0], 120)
        mail, clock = Mail(), Clock(T0)
        await asyncio.gather(*(dispatcher(store, mail, clock).deliver_due() for store in stores))
        ids = mail.ids()
        assert len(ids) == len(set(ids)) and set(ids) == expected_ids(keys)
    finally:
        for store in stores:
            await store.close()


async def test_outcomes_in_one_batch_are_recorded_each_as_it_went(database_url: str) -> None:
    store = NotifyStore(database_url)
    await store.create()
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry)
    try:
        keys = await queue_alerts(store, 12)
        mail, clock = Mail(), Clock(T0)
        mail.failures["r0003"] = TransientDeliveryError("451 try again later")
        mail.failures["r0007"] = PermanentDeliveryError("550 no such user")
        await dispatcher(store, mail, clock, metrics).deliver_due()
        assert len(mail.sent) == 10
        assert await store.status(keys[3]) == "pending" and await store.status(keys[7]) == "dead"
        assert registry.get_sample_value("feedback_notify_retries_total", {"channel": "email"}) == 1
        assert registry.get_sample_value("feedback_notify_dead_letters_total", {"channel": "email"}) == 1
        # The retry is on its persisted schedule: not at once, and once the server is back, just that one.
        await dispatcher(store, mail, clock, metrics).deliver_due()
        assert len(mail.sent) == 10
        del mail.failures["r0003"]
        clock.now = T0 + timedelta(minutes=10)
        await dispatcher(store, mail, clock, metrics).deliver_due()
        assert len(mail.sent) == 11 and mail.sent[-1]["Message-ID"] == message_id(keys[3], "example.org")
        assert await store.status(keys[3]) == "delivered"
    finally:
        await store.close()


def test_the_store_offers_every_operation_of_the_service_layers_port_as_it_is_declared() -> None:
    declared = {name: f for name, f in vars(DeliveryLog).items() if inspect.iscoroutinefunction(f)}
    assert "record_revision" in declared and "claim_due" in declared
    for name, operation in declared.items():
        implemented = getattr(NotifyStore, name)
        assert inspect.iscoroutinefunction(implemented), name
        assert list(inspect.signature(implemented).parameters) == list(inspect.signature(operation).parameters), name
