"""Escalation with a controllable clock, on SQLite and PostgreSQL: an item still new after N working days gets one
reminder to its owner, and still new M working days after that the strategy office is told once; items read
meanwhile, withdrawn ones, and days off are left out; what the broker did not take is published later, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from feedback_contracts.events import (
    ItemsOverdue,
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.respondents import RespondentType
from feedback_workspace.escalation import MAX_LISTED, Candidate, EscalationWorker, Policy, office_owner, plan
from feedback_workspace.items import State
from feedback_workspace.metrics import WorkspaceMetrics
from feedback_workspace.store import WorkspaceStore
from feedback_workspace.working_days import HELSINKI

OFFICE = "strategiatoimisto"
POLICY = Policy(reminder_days=5, escalation_days=3, office_owner=OFFICE, workspace_url="https://tyotila.example.org/")
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=HELSINKI)  # an ordinary week: no holidays until Easter


def at(*parts: int) -> datetime:
    """A Helsinki time, as the UTC the service's clock gives."""
    return datetime(*parts, tzinfo=HELSINKI).astimezone(UTC)


def statement(response_id: str, routes: dict[str, tuple[str, ...]], *, revision: int = 1, text: str = "") -> ResponseClassified:  # fmt: skip
    """A classified statement with one paragraph per section, routed to the given owners."""
    now = MONDAY.astimezone(UTC)
    paragraphs, routed = [], []
    for index, (section_id, owners) in enumerate(routes.items()):
        paragraphs.append(Paragraph(index=index, question=27, text=f"Luvussa {section_id} on kehitettävää. {text}"))
        routed.append(
            SectionRoute(
                section_id=section_id, section_title=f"Luku {section_id}", owners=owners,
                paragraphs=(RoutedParagraph(paragraph=index, score=0.9, reasons=(
                    Reason(kind="reference", match=f"Luvussa {section_id}", span=(0, 9 + len(section_id))),)),),
            )
        )  # fmt: skip
    return ResponseClassified(
        survey_id="palvelustrategia-2026", response_id=response_id, revision=revision, received_at=now,
        classified_at=now, respondent=PublicRespondent(organization=f"Järjestö {response_id}", title=None),
        respondent_type=RespondentType.ORGANIZATION_OR_PARISH, paragraphs=tuple(paragraphs), routes=tuple(routed),
    )  # fmt: skip


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)


class Broker:
    """What the broker acknowledged; while `away`, every publish fails as an unreachable broker's does."""

    def __init__(self) -> None:
        self.acknowledged: list[ItemsOverdue] = []
        self.away = False

    async def __call__(self, event: ItemsOverdue) -> None:
        if self.away:
            raise ConnectionError("the broker is not reachable")
        self.acknowledged.append(event)

    def take(self) -> list[ItemsOverdue]:
        taken, self.acknowledged = self.acknowledged, []
        return taken


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[WorkspaceStore]:
    store = WorkspaceStore(database_url)
    await store.create()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def worker(store: WorkspaceStore, broker: Broker, clock: Clock, registry: CollectorRegistry) -> EscalationWorker:
    return EscalationWorker(store, broker, lambda: POLICY, WorkspaceMetrics(registry), clock, interval=0.01)


async def item_ids(store: WorkspaceStore, response_id: str) -> dict[str, int]:
    """The statement's items by owner."""
    found = await store.statement(response_id)
    assert found is not None
    return {item["owner_id"]: item["id"] for item in found["items"]}


async def history(store: WorkspaceStore, item_id: int) -> list[str]:
    return [h["kind"] for h in (await store.item(item_id))["history"]]


def escalations(registry: CollectorRegistry, kind: str) -> float:
    return registry.get_sample_value("feedback_workspace_escalations_total", {"kind": kind}) or 0


async def test_one_reminder_after_n_working_days_and_one_office_notice_m_days_later_for_items_still_new(
    store: WorkspaceStore, registry: CollectorRegistry
) -> None:
    clock, broker = Clock(MONDAY), Broker()
    await store.record(statement("s1", {"5.2.2": ("turvallisuus",), "5.1.5": ("asiakasmaksut",)}), clock())
    await store.record(statement("s2", {"5.2.2": ("turvallisuus",)}), clock() + timedelta(minutes=5))
    s1, s2 = await item_ids(store, "s1"), await item_ids(store, "s2")
    escalation = worker(store, broker, clock, registry)

    # Four working days, and the fifth not yet over: nothing.
    for moment in (at(2026, 3, 13, 10, 0), at(2026, 3, 14, 12, 0), at(2026, 3, 16, 9, 59)):
        clock.set(moment)
        await escalation.run_once()
    assert broker.take() == []

    # Monday 16.3. 10.00, five working days later: the first statement's owners are reminded, one event each.
    clock.set(at(2026, 3, 16, 10, 0))
    await escalation.run_once()
    first = {event.recipient_owner_id: event for event in broker.take()}
    assert set(first) == {"turvallisuus", "asiakasmaksut"}
    assert all(e.kind == "reminder" and e.working_days == 5 for e in first.values())
    assert [i.item_id for i in first["turvallisuus"].items] == [s1["turvallisuus"]]
    assert first["turvallisuus"].workspace_url == "https://tyotila.example.org"

    # Five minutes later the second statement's item is due too: its own reminder; the first ones are not repeated.
    clock.set(at(2026, 3, 16, 10, 5))
    await escalation.run_once()
    (second,) = broker.take()
    assert (second.recipient_owner_id, [i.item_id for i in second.items]) == ("turvallisuus", [s2["turvallisuus"]])
    for moment in (at(2026, 3, 16, 12, 0), at(2026, 3, 18, 9, 0)):
        clock.set(moment)
        await escalation.run_once()
    assert broker.take() == []
    assert await history(store, s1["turvallisuus"]) == ["routed", "reminder"]

    # The payments owner reads theirs meanwhile; the security owner does not.
    await store.set_state(s1["asiakasmaksut"], "asiakasmaksut", State.READ, None, at(2026, 3, 18, 11, 0))

    # Three working days after the reminders: the office is told of the security owner's first item, once.
    clock.set(at(2026, 3, 19, 9, 59))
    await escalation.run_once()
    assert broker.take() == []
    clock.set(at(2026, 3, 19, 10, 0))
    await escalation.run_once()
    (notice,) = broker.take()
    assert (notice.kind, notice.recipient_owner_id, notice.working_days) == ("escalation", OFFICE, 3)
    assert [(i.item_id, i.owner_id) for i in notice.items] == [(s1["turvallisuus"], "turvallisuus")]
    assert notice.items[0].reminded_at == at(2026, 3, 16, 10, 0)
    assert notice.items[0].waiting_since == MONDAY

    clock.set(at(2026, 3, 19, 10, 5))
    await escalation.run_once()
    (later,) = broker.take()  # the second statement's item, reminded five minutes later
    assert [i.item_id for i in later.items] == [s2["turvallisuus"]]
    for moment in (at(2026, 3, 20, 10, 0), at(2026, 4, 30, 10, 0)):
        clock.set(moment)
        await escalation.run_once()
    assert broker.take() == []

    assert await history(store, s1["turvallisuus"]) == ["routed", "reminder", "escalation"]
    assert await history(store, s1["asiakasmaksut"]) == ["routed", "reminder", "state"]
    item = await store.item(s1["turvallisuus"])
    assert (item["reminded_at"], item["escalated_at"]) == (at(2026, 3, 16, 10, 0), at(2026, 3, 19, 10, 0))
    assert escalations(registry, "reminder") == 3
    assert escalations(registry, "escalation") == 2


async def test_easter_is_not_counted_as_waiting(store: WorkspaceStore, registry: CollectorRegistry) -> None:
    clock, broker = Clock(at(2026, 4, 2, 10, 0)), Broker()  # Maundy Thursday
    await store.record(statement("easter", {"5.2.2": ("turvallisuus",)}), clock())
    escalation = EscalationWorker(
        store, broker, lambda: Policy(1, 1, OFFICE, "https://tyotila.example.org"), WorkspaceMetrics(registry), clock
    )
    for moment in (at(2026, 4, 3, 10, 0), at(2026, 4, 6, 23, 59), at(2026, 4, 7, 9, 59)):
        clock.set(moment)
        await escalation.run_once()
    assert broker.take() == []
    clock.set(at(2026, 4, 7, 10, 0))  # Tuesday after Easter Monday: one working day
    await escalation.run_once()
    assert [e.kind for e in broker.take()] == ["reminder"]
    clock.set(at(2026, 4, 8, 10, 0))
    await escalation.run_once()
    assert [e.kind for e in broker.take()] == ["escalation"]


async def test_withdrawn_and_acknowledged_items_are_never_reminded_of(
    store: WorkspaceStore, registry: CollectorRegistry
) -> None:
    clock, broker = Clock(MONDAY), Broker()
    await store.record(statement("w", {"5.2.2": ("turvallisuus",), "5.1.5": ("asiakasmaksut",)}), clock())
    ids = await item_ids(store, "w")
    # The respondent edits the statement: nothing for 5.1.5 any more. The security owner marks theirs handled.
    await store.record(statement("w", {"5.2.2": ("turvallisuus",)}, revision=2), clock() + timedelta(hours=1))
    await store.set_state(
        ids["turvallisuus"], "turvallisuus", State.HANDLED, "Huomioitu.", clock() + timedelta(hours=2)
    )
    clock.set(at(2026, 6, 1, 10, 0))
    await worker(store, broker, clock, registry).run_once()
    assert broker.take() == []


async def test_an_item_that_becomes_new_again_is_reminded_again_n_days_after_that(
    store: WorkspaceStore, registry: CollectorRegistry
) -> None:
    clock, broker = Clock(MONDAY), Broker()
    await store.record(statement("again", {"5.2.2": ("turvallisuus",)}), clock())
    (item_id,) = (await item_ids(store, "again")).values()
    escalation = worker(store, broker, clock, registry)
    clock.set(at(2026, 3, 16, 10, 0))
    await escalation.run_once()
    assert [e.kind for e in broker.take()] == ["reminder"]
    await store.set_state(item_id, "turvallisuus", State.READ, None, at(2026, 3, 17, 9, 0))
    # Wednesday: the respondent rewrites the paragraph; the item is new again and waits from now.
    changed = statement("again", {"5.2.2": ("turvallisuus",)}, revision=2, text="Lisäksi uusi ehdotus.")
    await store.record(changed, at(2026, 3, 18, 12, 0))
    for moment in (at(2026, 3, 19, 10, 0), at(2026, 3, 25, 11, 59)):  # no escalation of the old reminder either
        clock.set(moment)
        await escalation.run_once()
    assert broker.take() == []
    clock.set(at(2026, 3, 25, 12, 0))
    await escalation.run_once()
    (reminder,) = broker.take()
    assert (reminder.kind, reminder.items[0].waiting_since) == ("reminder", at(2026, 3, 18, 12, 0))
    assert await history(store, item_id) == ["routed", "reminder", "state", "changed", "reminder"]


async def test_what_the_broker_did_not_take_goes_out_in_a_later_round_with_the_same_id(
    store: WorkspaceStore, registry: CollectorRegistry
) -> None:
    clock, broker = Clock(MONDAY), Broker()
    await store.record(statement("away", {"5.2.2": ("turvallisuus",)}), clock())
    escalation = worker(store, broker, clock, registry)
    broker.away = True
    clock.set(at(2026, 3, 16, 10, 0))
    report = await escalation.run_once()
    assert (len(report.recorded), report.published, report.failed) == (1, 0, 1)
    recorded_id = report.recorded[0].event.reminder_id
    # The item is marked (its history says so) and the reminder waits in the outbox.
    (item_id,) = (await item_ids(store, "away")).values()
    assert await history(store, item_id) == ["routed", "reminder"]
    assert escalations(registry, "reminder") == 0

    broker.away = False
    clock.set(at(2026, 3, 16, 10, 1))
    report = await escalation.run_once()
    assert (len(report.recorded), report.published) == (0, 1)
    assert [e.reminder_id for e in broker.take()] == [recorded_id]
    await escalation.run_once()
    assert broker.take() == []
    assert escalations(registry, "reminder") == 1


async def test_the_worker_runs_rounds_until_stopped(store: WorkspaceStore, registry: CollectorRegistry) -> None:
    clock, broker = Clock(MONDAY), Broker()
    await store.record(statement("loop", {"5.2.2": ("turvallisuus",)}), clock())
    escalation = worker(store, broker, clock, registry)
    running = asyncio.create_task(escalation.run())
    clock.set(at(2026, 3, 16, 10, 0))
    for _ in range(500):
        if broker.acknowledged:
            break
        await asyncio.sleep(0.01)
    escalation.stop()
    await asyncio.wait_for(running, timeout=10)
    assert [e.kind for e in broker.take()] == ["reminder"]


# The decision alone ------------------------------------------------------------------------------------------


def candidate(item_id: int, owner: str, since: datetime, **times: datetime | None) -> Candidate:
    return Candidate(
        id=item_id, owner_id=owner, response_id=f"r{item_id}", section_id="" if owner == OFFICE else "5.2.2",
        section_title=None if owner == OFFICE else "Turvallisuus", organization="Järjestö", respondent_type="organization_or_parish",
        paragraph_count=2, state_changed_at=since.astimezone(UTC), reminded_at=times.get("reminded_at"),
        escalated_at=times.get("escalated_at"),
    )  # fmt: skip


def test_a_reminder_lists_its_owners_items_longest_waiting_first_and_counts_them_all() -> None:
    now = at(2026, 6, 1, 10, 0)
    items = [candidate(i, "turvallisuus", MONDAY + timedelta(minutes=MAX_LISTED + 100 - i)) for i in range(1, MAX_LISTED + 101)]  # fmt: skip
    (notice,) = plan(items, now, POLICY)
    assert notice.event.item_count == MAX_LISTED + 100 == len(notice.item_ids)
    assert len(notice.event.items) == MAX_LISTED
    assert notice.event.items[0].item_id == MAX_LISTED + 100  # the oldest
    waited = [i.waiting_since for i in notice.event.items]
    assert waited == sorted(waited)


def test_the_office_is_told_of_every_owners_items_in_one_notice_and_its_own_queue_has_no_section() -> None:
    now = at(2026, 6, 1, 10, 0)
    reminded = at(2026, 5, 20, 10, 0)
    items = [
        candidate(1, "turvallisuus", MONDAY, reminded_at=reminded),
        candidate(2, OFFICE, MONDAY, reminded_at=reminded),
        candidate(3, "asiakasmaksut", MONDAY, reminded_at=reminded, escalated_at=at(2026, 5, 26, 10, 0)),
    ]
    (notice,) = plan(items, now, POLICY, new_id=lambda kind: f"{kind}-fixed")
    assert notice.event.reminder_id == "escalation-fixed"
    assert notice.event.recipient_owner_id == OFFICE
    assert notice.item_ids == (1, 2)
    assert [i.section_id for i in notice.event.items] == ["5.2.2", None]


def test_the_office_told_is_the_first_configured_office_role_or_else_the_default_owner() -> None:
    from feedback_contracts.owners import parse_owners

    directory = parse_owners(
        "default_owner: toimisto\nowners:\n  - {id: toimisto, name: Strategiatoimisto, email: [t@example.org]}\n"
    )
    assert office_owner("", directory) == "toimisto"
    assert office_owner(" johto , toimisto", directory) == "johto"
