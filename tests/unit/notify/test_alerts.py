"""What owners receive: Finnish alerts with exactly their paragraphs, once, edit-aware, in digests on time,
retried when the channel is down, and never carrying a respondent's markup, headers or links."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_contracts.events import PublicRespondent, ResponseClassified, ResponseReceived
from feedback_contracts.owners import OwnersDirectory, load_owners, parse_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.adapters import PermanentDeliveryError, TransientDeliveryError
from feedback_notify.email_wire import OutgoingEmail
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import Renderer, defang
from feedback_notify.service import Dispatcher, Intake, NotifyMetrics
from feedback_notify.store import NotifyStore

OWNERS_FILE = Path(__file__).parents[3] / "config" / "owners.example.yaml"
T0 = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)  # 12:00 in Helsinki
# The email alert of tyohame-1's first revision to turvallisuus, which several tests below have refused.
REFUSED = DeliveryKey("turvallisuus", "email", "tyohame-1", 1)


class FakeMail:
    """Records messages as a mail reader parses what would go over the wire; fails for chosen recipients."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.wire: list[bytes] = []
        self.failures: dict[str, Exception] = {}

    async def send(self, message: OutgoingEmail) -> None:
        parsed = message_from_bytes(message.data, policy=policy.default)
        error = self.failures.get(parsed["To"])
        if error:
            raise error
        self.sent.append(parsed)  # type: ignore[arg-type]
        self.wire.append(message.data)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"] == address]


class FakeHooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []

    async def send(self, url: str, payload: dict, key: str) -> None:
        self.calls.append((url, payload, key))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Harness:
    def __init__(self, database_url: str, owners: OwnersDirectory, max_chars: int = 100_000) -> None:
        self.clock = Clock(T0)
        self.mail, self.hooks = FakeMail(), FakeHooks()
        self.registry = CollectorRegistry()
        self.metrics = NotifyMetrics(self.registry)
        self.owners = owners
        self.store = NotifyStore(database_url)
        self.intake = Intake(self.store, lambda: self.owners, self.metrics)
        self.dispatcher = Dispatcher(
            self.store, lambda: self.owners, Renderer(max_chars, "https://lausunnot.example.org/r"), self.mail,
            self.hooks, self.metrics, sender="Lausunnot <lausunnot@example.org>", clock=self.clock,
        )  # fmt: skip

    async def __aenter__(self) -> Harness:
        await self.store.create()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()

    async def handle(self, event: ResponseClassified) -> None:
        await self.intake.accept(event, self.clock())
        await self.dispatcher.schedule_digests()
        await self.dispatcher.deliver_due()


def classified(answers: list[tuple[int, str]], revision: int = 1, organization: str = "TyöHäme") -> ResponseClassified:
    event = ResponseReceived(
        survey_id="palvelustrategia-2026", response_id="tyohame-1", revision=revision,
        replaces_revision=revision - 1 if revision > 1 else None, submitted_at=T0, received_at=T0, source="form",
        respondent=PublicRespondent(organization=organization, title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=tuple(Answer(question=q, text=t) for q, t in answers),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(OWNERS_FILE), shared_classifier()).route(event, now=T0)


FIRST = [
    (71, "Nuorten työllisyyspalveluissa yhteistyö toimii hyvin.\n\nLuvussa 5.2.2 varautuminen on tärkeää."),
    (72, "Luku 5.1.5 asiakasmaksuista on selkeä."),
]


@pytest.fixture
def owners() -> OwnersDirectory:
    return load_owners(OWNERS_FILE)


async def test_each_owner_gets_one_alert_with_exactly_their_paragraphs_in_finnish(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        await h.handle(classified(FIRST))
        (security,) = h.mail.to("turvallisuus@example.org")
        assert security["Subject"] == "Lausunto: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys"
        body = security.get_body(("plain",)).get_content()
        assert "Luvussa 5.2.2 varautuminen on tärkeää." in body
        assert "Nuorten työllisyyspalveluissa" not in body and "asiakasmaksuista" not in body
        assert "Miksi sinulle: mainitsee luvun: ”Luvussa 5.2.2”" in body
        assert "Vastaaja: TyöHäme" in body and "Titteli: johtaja" in body and "Vastaajaryhmä: työllisyysalue" in body
        assert "Kysymys 71" in body and "Koko lausunto: https://lausunnot.example.org/r/tyohame-1" in body
        html = security.get_body(("html",)).get_content()
        assert "<h2>5.2.2 Turvallisuus ja kriisinkestävyys</h2>" in html
        (partner,) = h.mail.to("tyollisyysalueet@example.org")
        assert (
            "Nuorten työllisyyspalveluissa yhteistyö toimii hyvin." in partner.get_content()
            if not partner.is_multipart()
            else partner.get_body(("plain",)).get_content()
        )
        assert h.registry.get_sample_value(
            "feedback_notify_deliveries_total", {"channel": "email", "mode": "immediate", "outcome": "delivered"}
        ) == len(h.mail.sent)
        assert h.registry.get_sample_value(
            "feedback_end_to_end_latency_seconds_count", {"channel": "email", "mode": "immediate"}
        ) == len(h.mail.sent)


async def test_a_redelivered_or_replayed_event_sends_nothing_twice(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        event = classified(FIRST)
        await h.handle(event)
        sent = len(h.mail.sent)
        await h.handle(event)
        await h.handle(event)
        assert len(h.mail.sent) == sent
        ids = [m["Message-ID"] for m in h.mail.sent]
        assert len(set(ids)) == len(ids) and all(i.endswith("@example.org>") for i in ids)


async def test_an_edit_alerts_only_owners_whose_paragraphs_changed_and_marks_the_changes(
    database_url: str, owners
) -> None:
    async with Harness(database_url, owners) as h:
        await h.handle(classified(FIRST))
        before = {m["To"]: 1 for m in h.mail.sent}
        edited = [
            (
                71,
                "Nuorten työllisyyspalveluissa yhteistyö toimii hyvin.\n\nLuvussa 5.2.2 varautuminen on erittäin tärkeää.",
            ),
            (72, "Luku 5.2.2 koskee myös tätä."),
        ]
        await h.handle(classified(edited, revision=2))
        (update,) = h.mail.to("turvallisuus@example.org")[1:]
        assert "[uusi kappale]" in update.get_body(("plain",)).get_content()
        assert update["Subject"].startswith("Päivitetty lausunto: TyöHäme")
        body = update.get_body(("plain",)).get_content()
        assert "[muutettu kappale]" in body and "varautuminen on erittäin tärkeää" in body
        (withdrawn,) = h.mail.to("asiakasmaksut@example.org")[1:]
        assert "ei enää sinulle ohjattuja kohtia" in withdrawn["Subject"]
        # The partner section's paragraph did not change: its owner gets nothing new.
        assert len(h.mail.to("tyollisyysalueet@example.org")) == before["tyollisyysalueet@example.org"]


DIGEST_OWNERS = """
default_owner: office
owners:
  - {id: office, name: Strategiatoimisto, email: [office@example.org]}
  - id: security
    name: Turvallisuuden vastuuhenkilö
    chapters: ["5.2.2"]
    email: [turvallisuus@example.org]
    mode: digest
    digest_time: "16:00"
"""


async def test_a_digest_comes_at_the_owners_time_with_everything_since_the_last_and_never_empty(
    database_url: str,
) -> None:
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        await h.handle(classified(FIRST))
        await h.handle(classified(FIRST, organization="Toinen järjestö").model_copy(update={"response_id": "toinen-1"}))
        assert h.mail.to("turvallisuus@example.org") == []
        assert h.registry.get_sample_value("feedback_notify_pending_digest_items") in (None, 0.0)
        await h.dispatcher.refresh_gauges()
        assert h.registry.get_sample_value("feedback_notify_pending_digest_items") == 2

    # A restart in between loses nothing: the items are in the store.
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        h.clock.now = T0 + timedelta(hours=3, minutes=59)  # 15:59 in Helsinki
        await h.handle(classified([(71, "Tyhjä.")], revision=9).model_copy(update={"response_id": "kolmas"}))
        assert h.mail.to("turvallisuus@example.org") == []
        h.clock.now = T0 + timedelta(hours=4)  # 16:00
        await h.dispatcher.schedule_digests()
        await h.dispatcher.deliver_due()
        (digest,) = h.mail.to("turvallisuus@example.org")
        assert digest["Subject"] == "Lausuntokoonti: 2 lausuntoa – Turvallisuuden vastuuhenkilö"
        body = digest.get_body(("plain",)).get_content()
        assert body.count("5.2.2 Turvallisuus ja kriisinkestävyys") == 1  # grouped by section
        assert "--- TyöHäme (työllisyysalue)" in body and "--- Toinen järjestö (työllisyysalue)" in body
        assert "Luvussa 5.2.2 varautuminen on tärkeää." in body
        # Nothing new: no second digest that day, and none the next day either (never empty).
        h.clock.now = T0 + timedelta(days=1, hours=5)
        await h.dispatcher.schedule_digests()
        await h.dispatcher.deliver_due()
        assert len(h.mail.to("turvallisuus@example.org")) == 1


async def test_what_arrives_after_the_days_digest_time_waits_for_the_next_days_digest(database_url: str) -> None:
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        h.clock.now = T0 + timedelta(hours=7)  # 19:00 in Helsinki, after the owner's 16:00
        await h.handle(classified(FIRST).model_copy(update={"received_at": h.clock.now}))
        await h.dispatcher.schedule_digests()
        await h.dispatcher.deliver_due()
        assert h.mail.to("turvallisuus@example.org") == []
        h.clock.now = T0 + timedelta(days=1, hours=3, minutes=59)  # 15:59 the next day
        await h.dispatcher.schedule_digests()
        assert h.mail.to("turvallisuus@example.org") == []
        h.clock.now = T0 + timedelta(days=1, hours=4)  # 16:00 the next day
        await h.dispatcher.schedule_digests()
        await h.dispatcher.deliver_due()
        assert len(h.mail.to("turvallisuus@example.org")) == 1


async def test_a_statement_that_arrived_before_the_digest_time_is_in_that_days_digest_even_if_recorded_after(
    database_url: str,
) -> None:
    # notify was down from before 16:00 until 21:00: the statement ingest received at 13:00 belongs to that
    # day's 16:00 digest, which goes out as soon as notify records it.
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        h.clock.now = T0 + timedelta(hours=9)  # 21:00 in Helsinki
        await h.handle(classified(FIRST).model_copy(update={"received_at": T0 + timedelta(hours=1)}))  # 13:00
        assert len(h.mail.to("turvallisuus@example.org")) == 1


async def test_a_digest_missed_while_the_service_was_down_goes_out_when_it_is_back(database_url: str) -> None:
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        await h.handle(classified(FIRST))  # 12:00
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        h.clock.now = T0 + timedelta(hours=9)  # back at 21:00, the 16:00 digest not sent
        await h.dispatcher.schedule_digests()
        await h.dispatcher.deliver_due()
        assert len(h.mail.to("turvallisuus@example.org")) == 1


async def test_flush_sends_pending_digests_now(database_url: str) -> None:
    async with Harness(database_url, parse_owners(DIGEST_OWNERS)) as h:
        await h.handle(classified(FIRST))
        assert await h.dispatcher.flush_digests("security") == {"security": 1}
        await h.dispatcher.deliver_due()
        assert len(h.mail.to("turvallisuus@example.org")) == 1
        assert await h.dispatcher.flush_digests() == {}


async def test_a_transient_failure_is_retried_later_without_holding_back_other_owners(
    database_url: str, owners
) -> None:
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = TransientDeliveryError("451 try later")
        await h.handle(classified(FIRST))
        assert h.mail.to("turvallisuus@example.org") == [] and len(h.mail.to("tyollisyysalueet@example.org")) == 1
        assert h.registry.get_sample_value("feedback_notify_retries_total", {"channel": "email"}) == 1
        await h.dispatcher.deliver_due()  # not due yet: nothing is tried again at once
        assert h.registry.get_sample_value("feedback_notify_retries_total", {"channel": "email"}) == 1
        # The server stays down for an hour; then everything pending goes out.
        for minute in range(1, 61):
            h.clock.now = T0 + timedelta(minutes=minute)
            await h.dispatcher.deliver_due()
        del h.mail.failures["turvallisuus@example.org"]
        h.clock.now = T0 + timedelta(minutes=70)
        await h.dispatcher.deliver_due()
        assert len(h.mail.to("turvallisuus@example.org")) == 1


async def test_a_permanent_failure_is_a_dead_letter_and_others_still_get_theirs(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = PermanentDeliveryError("550 no such user")
        await h.handle(classified(FIRST))
        assert len(h.mail.to("tyollisyysalueet@example.org")) == 1
        assert h.registry.get_sample_value("feedback_notify_dead_letters_total", {"channel": "email"}) == 1
        assert await h.store.status(REFUSED) == "dead"


async def test_a_dead_delivery_is_sent_once_when_requeued_after_the_fix_and_only_that_one(
    database_url: str, owners
) -> None:
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = PermanentDeliveryError("550 mailbox full")
        await h.handle(classified(FIRST))
        assert await h.store.status(REFUSED) == "dead"
        delivered_before = len(h.mail.sent)
        del h.mail.failures["turvallisuus@example.org"]  # the mailbox was emptied
        assert await h.dispatcher.retry_dead("tyollisyysalueet") == 0  # another owner's: nothing dead
        assert await h.dispatcher.retry_dead("turvallisuus") == 1
        await h.dispatcher.deliver_due()
        assert await h.store.status(REFUSED) == "delivered"
        assert len(h.mail.to("turvallisuus@example.org")) == 1
        assert len(h.mail.sent) == delivered_before + 1  # nobody else got anything again
        assert await h.dispatcher.retry_dead() == 0


async def test_requeueing_dead_deliveries_since_a_time_in_any_zone_takes_only_newer_ones(
    database_url: str, owners
) -> None:
    helsinki = ZoneInfo("Europe/Helsinki")
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = PermanentDeliveryError("550 no such user")
        await h.handle(classified(FIRST))  # at T0, 12:00 in Helsinki
        assert await h.dispatcher.retry_dead(since=(T0 + timedelta(minutes=1)).astimezone(helsinki)) == 0
        assert await h.store.status(REFUSED) == "dead"
        assert await h.dispatcher.retry_dead(since=(T0 - timedelta(minutes=1)).astimezone(helsinki)) == 1


async def test_a_delivery_sent_again_long_after_it_was_made_still_gets_its_retries(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = PermanentDeliveryError("550 mailbox full")
        await h.handle(classified(FIRST))
        h.clock.now = T0 + timedelta(days=5)  # fixed days later; the server now greylists first
        h.mail.failures["turvallisuus@example.org"] = TransientDeliveryError("451 greylisted, try again")
        assert await h.dispatcher.retry_dead("turvallisuus") == 1
        await h.dispatcher.deliver_due()
        assert await h.store.status(REFUSED) == "pending"  # retried, not dead again
        del h.mail.failures["turvallisuus@example.org"]
        h.clock.now += timedelta(minutes=10)
        await h.dispatcher.deliver_due()
        assert await h.store.status(REFUSED) == "delivered"


async def test_retries_are_given_up_after_the_configured_time(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        h.mail.failures["turvallisuus@example.org"] = TransientDeliveryError("connection refused")
        await h.handle(classified(FIRST))
        h.clock.now = T0 + timedelta(hours=49)
        await h.dispatcher.deliver_due()
        assert await h.store.status(REFUSED) == "dead"


async def test_an_owner_with_a_webhook_gets_a_signed_json_post_too(database_url: str) -> None:
    directory = parse_owners(
        DIGEST_OWNERS.replace("mode: digest", "webhook: https://chat.example.org/hook\n    webhook_format: teams")
    )
    async with Harness(database_url, directory) as h:
        await h.handle(classified(FIRST))
        ((url, payload, key),) = h.hooks.calls
        assert url == "https://chat.example.org/hook" and key == "security:webhook:tyohame-1:1"
        assert payload["@type"] == "MessageCard" and payload["title"].startswith("Lausunto: TyöHäme")


async def test_a_very_long_alert_is_cut_with_a_note_saying_how_much_and_where(database_url: str, owners) -> None:
    long = [(71, "\n\n".join(f"Luvussa 5.2.2 kohta {n}: " + "varautuminen " * 30 for n in range(40)))]
    async with Harness(database_url, owners, max_chars=5_000) as h:
        await h.handle(classified(long))
        (message,) = h.mail.to("turvallisuus@example.org")
        body = message.get_body(("plain",)).get_content()
        assert len(body) <= 5_200
        assert "Viestistä jätettiin pois" in body and "kappaletta pituusrajan vuoksi" in body
        assert "Koko lausunto: https://lausunnot.example.org/r/tyohame-1" in body


HOSTILE = [
    "Järjestö\r\nBcc: hyokkaaja@example.com",
    "Nimi\nSubject: huijaus",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "Katso https://huijaus.example.com/login ja www.huijaus.fi sekä maksu@huijaus.fi",
    "\u202eoi.elpmaxe//:sptth\u202c ja \u200bzero\u200bwidth",
    "[klikkaa](http://evil.example.org) <a href='http://evil.example.org'>linkki</a>",
]


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_respondent_text_cannot_add_headers_markup_or_links(database_url: str, owners, hostile: str) -> None:
    answers = [(71, f"Luvussa 5.2.2 {hostile}")]
    async with Harness(database_url, owners) as h:
        await h.handle(classified(answers, organization=hostile))
        assert h.mail.sent
        for message, raw in zip(h.mail.sent, h.mail.wire, strict=True):
            headers = raw.split(b"\r\n\r\n", 1)[0]
            assert b"\nBcc:" not in headers and b"\nSubject: huijaus" not in headers
            assert len(message.get_all("To")) == 1 and message.get_all("Bcc") is None
            html = message.get_body(("html",)).get_content()
            assert (
                "<script" not in html
                and "<img" not in html
                and "onerror=alert" not in html.replace("&#39;", "'").split("&lt;img")[0]
            )
            assert "<a href='http" not in html and 'href="http://evil' not in html
            for text in (html, message.get_body(("plain",)).get_content()):
                assert "https://huijaus" not in text and "http://evil" not in text and "www.huijaus" not in text
                assert "maksu@huijaus.fi" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Katso HTTPS :// kunta.fi", "Katso HTTPS[:]// kunta[.]fi"),
        ("httpſ://esimerkki.org", "httpſ[:]//esimerkki[.]org"),  # a long s is an s to the pattern
        ("data:text/html,<b>", "data[:]text/html,<b>"),
        ("Mailto:posti@kunta.fi", "Mailto[:]posti[@]kunta[.]fi"),
        ("javascript\u00a0:alert(1)", "javascript[:]alert(1)"),
        ("Kello 10:30 ja ftp:\tpalvelin", "Kello 10:30 ja ftp[:]palvelin"),
        ("mainitsee luvun: ”Luvussa 5.2.2”", "mainitsee luvun: ”Luvussa 5.2.2”"),
        ("WWW.Kunta.fi ja www.esimerkki.com", "WWW[.]Kunta[.]fi ja www[.]esimerkki[.]com"),
    ],
)
def test_defang_finds_schemes_and_www_whatever_the_case_and_spacing(text: str, expected: str) -> None:
    assert defang(text) == expected


def test_defang_keeps_text_readable() -> None:
    assert defang("Katso https://esimerkki.fi/sivu") == "Katso https[:]//esimerkki[.]fi/sivu"
    assert defang("posti@kunta.fi") == "posti[@]kunta[.]fi"
    assert defang("Luvussa 5.2.2 ja 4. sektori") == "Luvussa 5.2.2 ja 4. sektori"


async def test_two_workers_never_send_the_same_job(database_url: str, owners) -> None:
    async with Harness(database_url, owners) as h:
        await h.intake.accept(classified(FIRST), h.clock())
        other = Dispatcher(
            h.store, lambda: h.owners, Renderer(), h.mail, h.hooks, h.metrics,
            sender="Lausunnot <lausunnot@example.org>", clock=h.clock,
        )  # fmt: skip
        await asyncio.gather(h.dispatcher.deliver_due(), other.deliver_due())
        ids = [m["Message-ID"] for m in h.mail.sent]
        assert ids and len(ids) == len(set(ids))
