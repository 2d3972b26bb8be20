"""The workspace's reminders in notify, on SQLite and PostgreSQL: each reminder id is delivered once per channel
however often it comes, in polite Finnish with links to the items, and what a respondent wrote stays text."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from prometheus_client import CollectorRegistry

from feedback_contracts.events import ItemsOverdue, OverdueItem
from feedback_contracts.owners import parse_owners
from feedback_notify.email_wire import OutgoingEmail
from feedback_notify.keys import DeliveryKey
from feedback_notify.reminders import ReminderIntake, ReminderRenderer, reminder_webhook_payload
from feedback_notify.render import Renderer, message_id
from feedback_notify.service import Dispatcher, NotifyMetrics
from feedback_notify.store import NotifyStore
from feedback_runtime.signin import SignInLinks

T0 = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
SECRET = "secret-of-the-workspace-for-tests"
OWNERS = parse_owners(
    """
default_owner: toimisto
owners:
  - {id: toimisto, name: Strategiatoimisto, email: [toimisto@example.org]}
  - {id: turvallisuus, name: Turvallisuuden vastuuhenkilö, chapters: ["5.2.2"], email: [turvallisuus@example.org],
     webhook: "https://chat.example.org/hook", mode: digest}
"""
)


def item(item_id: int, owner: str = "turvallisuus", organization: str = "Järjestöneuvottelukunta", **extra) -> OverdueItem:  # fmt: skip
    return OverdueItem(
        item_id=item_id, owner_id=owner, response_id=f"r-{item_id}", section_id="5.2.2",
        section_title="Turvallisuus ja kriisinkestävyys", organization=organization,
        respondent_type="organization_or_parish", paragraph_count=2, waiting_since=datetime(2026, 3, 9, 8, tzinfo=UTC),
        **extra,
    )  # fmt: skip


def reminder(*items: OverdueItem, kind: str = "reminder", recipient: str = "turvallisuus", count: int | None = None) -> ItemsOverdue:  # fmt: skip
    return ItemsOverdue(
        reminder_id=f"{kind}-0123abcd", kind=kind, recipient_owner_id=recipient, working_days=5, items=items,  # type: ignore[arg-type]
        item_count=count or len(items), workspace_url="https://tyotila.example.org", created_at=T0,
    )  # fmt: skip


class Mail:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: OutgoingEmail) -> None:
        await asyncio.sleep(0)
        self.sent.append(message_from_bytes(message.data, policy=policy.default))  # type: ignore[arg-type]


class Hooks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str]] = []

    async def send(self, url: str, payload: dict, key: str) -> None:
        self.sent.append((url, payload, key))


def plain(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


# Keys ------------------------------------------------------------------------------------------------------------


def test_a_reminders_key_keeps_its_text_and_message_id_and_reads_back() -> None:
    key = DeliveryKey.reminder("turvallisuus", "email", "reminder-0123abcd")
    assert key.text == "turvallisuus:email:reminder:reminder-0123abcd"
    assert DeliveryKey.parse(key.text) == key and key.is_reminder and not key.is_digest
    assert message_id(key, "example.org") == "<29ba6876bfd099bfc6cf01dd24888954050e17b0@example.org>"
    # An alert of a response called "reminder" is still an alert.
    assert DeliveryKey.parse("turvallisuus:email:reminder:3") == DeliveryKey.alert(
        "turvallisuus", "email", "reminder", 3
    )


@pytest.mark.parametrize("reminder_id", ["", "123", "a:b", "väärä"])
def test_what_is_not_a_reminder_id_is_refused(reminder_id: str) -> None:
    with pytest.raises(ValueError):
        DeliveryKey.reminder("turvallisuus", "email", reminder_id)


def test_a_key_names_only_one_thing() -> None:
    with pytest.raises(ValueError):
        DeliveryKey("turvallisuus", "email", digest_id="2026-03-16", reminder_id="reminder-1")


# Delivery ---------------------------------------------------------------------------------------------------------


async def test_a_reminder_published_twice_is_delivered_once_on_each_channel_even_to_a_digest_owner(
    database_url: str,
) -> None:
    store = NotifyStore(database_url)
    await store.create()
    try:
        intake = ReminderIntake(store, lambda: OWNERS)
        event = reminder(item(12), item(13))
        assert (await intake.accept(event, T0)).jobs == 2  # email and webhook, though the owner takes digests
        assert (await intake.accept(event, T0)).jobs == 0
        mail, hooks, registry = Mail(), Hooks(), CollectorRegistry()
        dispatcher = Dispatcher(
            store, lambda: OWNERS, Renderer(), mail, hooks, NotifyMetrics(registry),
            sender="Lausunnot <lausunnot@example.org>", clock=lambda: T0,
            reminders=ReminderRenderer(SignInLinks(SECRET)),
        )  # fmt: skip
        assert await dispatcher.deliver_due() == 2
        assert await dispatcher.deliver_due() == 0
        (message,) = mail.sent
        assert message["To"] == "turvallisuus@example.org"
        assert message["Subject"] == "Muistutus: 2 lausunnon kohtaa odottaa käsittelyä"
        key = DeliveryKey.reminder("turvallisuus", "email", event.reminder_id)
        assert message["Message-ID"] == message_id(key, "example.org")
        (url, payload, hook_key) = hooks.sent[0]
        assert (url, payload["type"], hook_key) == ("https://chat.example.org/hook", "feedback.reminder",
                                                     "turvallisuus:webhook:reminder:reminder-0123abcd")  # fmt: skip
        assert payload["reminder"]["item_count"] == 2
        sample = {"channel": "email", "mode": "reminder", "outcome": "delivered"}
        assert registry.get_sample_value("feedback_notify_deliveries_total", sample) == 1
    finally:
        await store.close()


async def test_a_reminder_for_a_role_no_longer_in_the_directory_goes_to_the_default_owner(database_url: str) -> None:
    store = NotifyStore(database_url)
    await store.create()
    try:
        report = await ReminderIntake(store, lambda: OWNERS).accept(reminder(item(12), recipient="poistunut"), T0)
        assert (report.recipient, report.jobs) == ("toimisto", 1)
    finally:
        await store.close()


# Rendering -------------------------------------------------------------------------------------------------------


NAMES = {"turvallisuus": "Turvallisuuden vastuuhenkilö", "toimisto": "Strategiatoimisto", "hyte": "Hyte-vastaava"}


def test_the_reminder_asks_politely_and_links_each_item_with_a_personal_sign_in_link() -> None:
    links = SignInLinks(SECRET)
    rendered = ReminderRenderer(links).render(reminder(item(12), count=3), "turvallisuus", NAMES)
    assert rendered.subject == "Muistutus: 3 lausunnon kohtaa odottaa käsittelyä"
    assert "sinulle (Turvallisuuden vastuuhenkilö) ohjatuista lausuntojen kohdista 3" in rendered.text
    assert "vähintään 5 työpäivää" in rendered.text
    assert "Ehtisitkö käydä ne läpi" in rendered.text
    assert "odottanut 9.3.2026 alkaen" in rendered.text
    assert "Lisäksi 2 muuta kohtaa odottaa." in rendered.text
    link = next(line.strip() for line in rendered.text.splitlines() if "seuraava=%2Fkohteet%2F12" in line)
    token = link.split("t=", 1)[1].split("&", 1)[0]
    assert links.owner(token, 3600) == "turvallisuus"


def test_without_the_workspace_secret_the_links_open_the_pages_themselves() -> None:
    rendered = ReminderRenderer().render(reminder(item(12)), "turvallisuus", NAMES)
    assert rendered.subject == "Muistutus: 1 lausunnon kohta odottaa käsittelyä"
    assert "https://tyotila.example.org/kohteet/12" in rendered.text
    assert "https://tyotila.example.org/saapuneet?tila=uusi" in rendered.text
    assert "henkilökohtaisia" not in rendered.text


def test_the_office_hears_of_the_waiting_items_by_role_most_first() -> None:
    reminded = datetime(2026, 3, 16, 8, tzinfo=UTC)
    event = reminder(
        item(12, reminded_at=reminded), item(13, reminded_at=reminded), item(14, owner="hyte", reminded_at=reminded),
        kind="escalation", recipient="toimisto",
    )  # fmt: skip
    rendered = ReminderRenderer().render(event, "toimisto", NAMES)
    assert rendered.subject == "Käsittelemättömiä kohtia: Turvallisuuden vastuuhenkilö (2), Hyte-vastaava (1)"
    text = rendered.text
    assert text.index("Turvallisuuden vastuuhenkilö: 2 kohtaa") < text.index("Hyte-vastaava: 1 kohta")
    assert "muistutus lähetetty 16.3.2026" in text
    assert "https://tyotila.example.org/toimisto/odottavat" in text


def test_what_the_respondent_wrote_stays_text_and_never_a_link_or_a_header() -> None:
    hostile = "<script>alert(1)</script> https://evil.example.com\r\nBcc: x@evil.example.com"
    rendered = ReminderRenderer().render(
        reminder(item(12, organization=hostile), kind="escalation", recipient="toimisto"), "toimisto", NAMES
    )
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "https://evil" not in rendered.text and "https[:]//evil" in rendered.text
    assert "\nBcc:" not in rendered.text
    assert "\n" not in rendered.subject


def test_slack_and_teams_get_their_own_shapes_and_the_products_json_names_the_kind() -> None:
    event = reminder(item(12), kind="escalation", recipient="toimisto")
    rendered = ReminderRenderer().render(event, "toimisto", NAMES)
    payload = event.model_dump(mode="json")
    assert reminder_webhook_payload(rendered, payload, "json")["type"] == "feedback.escalation"
    assert set(reminder_webhook_payload(rendered, payload, "slack")) == {"text"}
    assert reminder_webhook_payload(rendered, payload, "teams")["title"] == rendered.subject
