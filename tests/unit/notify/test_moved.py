"""When a correction moves a paragraph, its new owner hears that it was moved to them, by whom and why, once;
the owner it was taken from, and everyone else, hear nothing; a later revision that keeps the correction tells
nobody about it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_contracts.events import (
    AppliedCorrection,
    CorrectionNote,
    PublicRespondent,
    Reason,
    ResponseClassified,
    ResponseReceived,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import OwnersDirectory, load_owners, parse_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.alerts import Alert, decide, route_owners
from feedback_notify.delivery_log import Snapshot
from feedback_notify.email_wire import OutgoingEmail
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import Renderer, message_id
from feedback_notify.service import Dispatcher, Intake, NotifyMetrics
from feedback_notify.store import NotifyStore

OWNERS_FILE = Path(__file__).parents[3] / "config" / "owners.example.yaml"
T0 = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)  # 12:00 in Helsinki
CORRECTED_AT = T0 + timedelta(hours=1)
ANSWERS = [
    (71, "Nuorten työllisyyspalveluissa yhteistyö toimii hyvin.\n\nLuvussa 5.2.2 varautuminen on tärkeää."),
    (72, "Luku 5.1.5 asiakasmaksuista on selkeä."),
]
MOVED_TEXT = "Luku 5.1.5 asiakasmaksuista on selkeä."  # routed to 5.1.5 (asiakasmaksut) by its reference
REASON = "Kappale koskee varautumista, ei asiakasmaksuja."


class Mail:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: OutgoingEmail) -> None:
        self.sent.append(message_from_bytes(message.data, policy=policy.default))  # type: ignore[arg-type]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"] == address]


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []

    async def send(self, url: str, payload: dict, key: str) -> None:
        self.calls.append((url, payload, key))


class Notify:
    """Notify's intake and dispatcher on a real store, with fake mail and webhooks and a fixed clock."""

    def __init__(self, database_url: str, owners: OwnersDirectory) -> None:
        self.now = CORRECTED_AT
        self.mail, self.hooks, self.owners = Mail(), Hooks(), owners
        self.store = NotifyStore(database_url)
        metrics = NotifyMetrics(CollectorRegistry())
        self.intake = Intake(self.store, lambda: self.owners, metrics)
        self.dispatcher = Dispatcher(
            self.store, lambda: self.owners, Renderer(statement_base_url="https://lausunnot.example.org/r"),
            self.mail, self.hooks, metrics, sender="Lausunnot <lausunnot@example.org>", clock=lambda: self.now,
        )  # fmt: skip

    async def __aenter__(self) -> Notify:
        await self.store.create()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()

    async def handle(self, event: ResponseClassified) -> None:
        await self.intake.accept(event, self.now)
        await self.dispatcher.deliver_due()


def classified(answers: list[tuple[int, str]] = ANSWERS, revision: int = 1) -> ResponseClassified:
    event = ResponseReceived(
        survey_id="palvelustrategia-2026", response_id="tyohame-1", revision=revision,
        replaces_revision=revision - 1 if revision > 1 else None, submitted_at=T0, received_at=T0, source="form",
        respondent=PublicRespondent(organization="TyöHäme", title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=tuple(Answer(question=q, text=t) for q, t in answers),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(OWNERS_FILE), shared_classifier()).route(event, now=T0)


def corrected(
    event: ResponseClassified,
    text: str = MOVED_TEXT,
    *,
    add: tuple[str, ...] = ("5.2.2",),
    remove: tuple[str, ...] = ("5.1.5",),
    by_role: str = "asiakasmaksut",
    correction_id: str = "korjaus-1",
    owners: OwnersDirectory | None = None,
    rerouting: bool = True,
) -> ResponseClassified:
    """`event` with one correction applied as classify applies it: the paragraph taken from `remove` and given
    to `add` with a `correction` reason; a re-routing (routing one higher, `correction_id` set) or, with
    `rerouting=False`, a new revision's routing that keeps the correction."""
    directory = owners or load_owners(OWNERS_FILE)
    taxonomy = load_taxonomy()
    (paragraph,) = [p for p in event.paragraphs if p.text == text]
    note = CorrectionNote(correction_id=correction_id, by_role=by_role, reason=REASON, corrected_at=CORRECTED_AT)
    routes: dict[str | None, SectionRoute] = {}
    for route in event.routes:
        kept = tuple(r for r in route.paragraphs if not (r.paragraph == paragraph.index and route.section_id in remove))
        if kept:
            routes[route.section_id] = route.model_copy(update={"paragraphs": kept})
    moved = RoutedParagraph(paragraph=paragraph.index, score=1.0, reasons=(Reason(kind="correction", correction=note),))
    for section_id in add:
        if section_id in routes:
            route = routes[section_id]
            paragraphs = sorted((*route.paragraphs, moved), key=lambda r: r.paragraph)
            routes[section_id] = route.model_copy(update={"paragraphs": tuple(paragraphs)})
        else:
            routes[section_id] = SectionRoute(
                section_id=section_id, section_title=taxonomy.get(section_id).title,  # type: ignore[union-attr]
                owners=tuple(o.id for o in directory.owners_for(section_id)), paragraphs=(moved,),
            )  # fmt: skip
    applied = AppliedCorrection(
        correction_id=correction_id, paragraph_id=paragraph.paragraph_id, revision=1, add=add, remove=remove,
        by_role=by_role, reason=REASON, corrected_at=CORRECTED_AT, status="applied",
    )  # fmt: skip
    ordered = tuple(routes[k] for k in sorted(routes, key=lambda s: [int(n) for n in s.split(".")] if s else [999]))
    return event.model_copy(
        update={
            "routes": ordered,
            "routing": event.routing + 1 if rerouting else event.routing,
            "correction_id": correction_id if rerouting else None,
            "corrections": (*event.corrections, applied),
            "classified_at": CORRECTED_AT,
        }
    )


def decided(event: ResponseClassified, stored: dict[str, Snapshot], owners: OwnersDirectory):  # noqa: ANN201
    decision = decide(event, owners, route_owners(event, owners), stored)
    return decision, {**stored, **{s.owner_id: s for s in decision.snapshots}}


@pytest.fixture
def owners() -> OwnersDirectory:
    return load_owners(OWNERS_FILE)


def test_a_rerouting_queues_one_moved_alert_for_the_owner_who_gained_and_nothing_for_the_others(owners) -> None:
    first, stored = decided(classified(), {}, owners)
    assert sorted(job.key.text for job in first.jobs) == [
        "asiakasmaksut:email:tyohame-1:1", "turvallisuus:email:tyohame-1:1", "tyollisyysalueet:email:tyohame-1:1",
    ]  # fmt: skip

    decision, stored = decided(corrected(classified()), stored, owners)

    (job,) = decision.jobs
    assert job.key == DeliveryKey.correction("turvallisuus", "email", "korjaus-1")
    assert job.key.text == "turvallisuus:email:correction:korjaus-1" and job.kind == "moved"
    assert job.received_at == CORRECTED_AT  # it reached its new owner when it was corrected
    # The losing owner (all of whose part went) and the unchanged one are only remembered.
    assert sorted(decision.unchanged) == ["asiakasmaksut", "tyollisyysalueet"]
    assert {s.owner_id: (s.revision, s.routing) for s in decision.snapshots} == {
        "asiakasmaksut": (1, 2), "turvallisuus": (1, 2), "tyollisyysalueet": (1, 2),
    }  # fmt: skip
    assert stored["asiakasmaksut"].content == {"sections": []}


def test_a_replayed_rerouting_and_an_older_routing_after_it_are_duplicates(owners) -> None:
    _, stored = decided(classified(), {}, owners)
    _, stored = decided(corrected(classified()), stored, owners)

    again, _ = decided(corrected(classified()), stored, owners)
    older, _ = decided(classified(), stored, owners)

    for decision in (again, older):
        assert decision.jobs == [] and decision.digest_items == [] and decision.snapshots == []
        assert decision.duplicates == 3


def test_a_rerouting_of_an_older_revision_after_a_newer_revision_is_a_duplicate(owners) -> None:
    _, stored = decided(classified(), {}, owners)
    _, stored = decided(classified(ANSWERS, revision=2), stored, owners)

    late, _ = decided(corrected(classified()), stored, owners)

    assert late.jobs == [] and late.duplicates == 3


def test_the_moved_alert_shows_only_the_gained_paragraph_and_who_moved_it_and_why(owners) -> None:
    _, stored = decided(classified(), {}, owners)
    decision, _ = decided(corrected(classified()), stored, owners)

    (job,) = decision.jobs
    rendered = Renderer(statement_base_url="https://lausunnot.example.org/r").alert(_alert(job.payload))

    assert rendered.subject == (
        "Sinulle siirretty lausunnon kohta: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys"
    )
    text = rendered.text
    assert text.startswith(
        "Sinulle on siirretty lausunnon kohta: kohdan ohjausta korjattiin käsin, ja se kuuluu nyt sinun vastuullesi.\n"
        "Siirron teki: Asiakasmaksujen vastuuhenkilö\n"
        f"Perustelu: ”{REASON}”\n"
    )
    assert "Kysymys 72" in text and MOVED_TEXT in text
    assert f"Miksi sinulle: siirretty tänne käsin (Asiakasmaksujen vastuuhenkilö): ”{REASON}”" in text
    assert "varautuminen on tärkeää" not in text  # the owner's paragraph that did not move
    assert "Koko lausunto: https://lausunnot.example.org/r/tyohame-1" in text
    html = rendered.html
    assert "<strong>Sinulle on siirretty lausunnon kohta:</strong>" in html
    assert '<th align="left">Siirron teki</th><td>Asiakasmaksujen vastuuhenkilö</td>' in html
    assert f'<th align="left">Perustelu</th><td>{REASON}</td>' in html
    assert MOVED_TEXT in html and 'href="https://lausunnot.example.org/r/tyohame-1"' in html


@pytest.mark.parametrize(
    ("by_role", "shown"),
    [("strategiatoimisto", "Strategiatoimisto"), ("asiakasmaksut", "Asiakasmaksujen vastuuhenkilö"),
     ("tukipalvelu", "tukipalvelu")],
)  # fmt: skip
def test_the_corrector_is_named_by_their_roles_name_or_else_its_id(owners, by_role: str, shown: str) -> None:
    _, stored = decided(classified(), {}, owners)
    decision, _ = decided(corrected(classified(), by_role=by_role), stored, owners)

    (job,) = decision.jobs
    alert = _alert(job.payload)
    assert alert.correction is not None and alert.correction.by_role == by_role and alert.correction.by_name == shown
    assert f"Siirron teki: {shown}\n" in Renderer().alert(alert).text


def test_an_owner_who_had_nothing_of_the_statement_is_told_of_what_was_added_to_their_section(owners) -> None:
    _, stored = decided(classified(), {}, owners)
    text = "Nuorten työllisyyspalveluissa yhteistyö toimii hyvin."
    office_added = corrected(classified(), text, add=("5.1.4",), remove=(), by_role="strategiatoimisto")

    decision, _ = decided(office_added, stored, owners)

    (job,) = decision.jobs
    assert job.key.text == "monikanavaisuus:email:correction:korjaus-1"
    rendered = Renderer().alert(_alert(job.payload))
    assert "5.1.4" in rendered.subject and "Siirron teki: Strategiatoimisto" in rendered.text
    assert text in rendered.text


def test_an_owner_to_whom_the_rerouting_brings_more_than_the_move_gets_the_usual_alert_of_it_all(owners) -> None:
    # Notify has no snapshot of the statement (its store was restored from an old backup, say): what reaches
    # the owners was not all moved to them, and they hear of it as of a new statement.
    decision, _ = decided(corrected(classified()), {}, owners)

    assert sorted((job.key.text, job.kind) for job in decision.jobs) == [
        ("turvallisuus:email:tyohame-1:1", "new"), ("tyollisyysalueet:email:tyohame-1:1", "new"),
    ]  # fmt: skip
    (security,) = [job for job in decision.jobs if job.owner_id == "turvallisuus"]
    (section,) = _alert(security.payload).sections
    assert [p.text for p in section.paragraphs] == ["Luvussa 5.2.2 varautuminen on tärkeää.", MOVED_TEXT]


def test_a_paragraph_moved_between_two_sections_of_one_owner_is_no_news_to_them() -> None:
    directory = parse_owners(
        "default_owner: office\nowners:\n"
        "  - {id: office, name: Strategiatoimisto, email: [office@example.org]}\n"
        "  - {id: priorities, name: Painopisteet, chapters: ['5.*'], email: [painopisteet@example.org]}\n"
    )
    first = classified()
    _, stored = decided(first, {}, directory)

    decision, _ = decided(corrected(first, owners=directory), stored, directory)

    assert decision.jobs == [] and decision.unchanged == ["priorities"]


def test_a_later_revision_that_keeps_the_correction_tells_nobody_about_the_corrected_paragraph(owners) -> None:
    _, stored = decided(classified(), {}, owners)
    _, stored = decided(corrected(classified()), stored, owners)

    kept, _ = decided(corrected(classified(ANSWERS, revision=2), rerouting=False), stored, owners)
    assert kept.jobs == [] and kept.duplicates == 0
    assert sorted(kept.unchanged) == ["asiakasmaksut", "turvallisuus", "tyollisyysalueet"]

    # An edit elsewhere in the statement reaches only the owner of the edited paragraph.
    edited = [(71, ANSWERS[0][1].replace("toimii hyvin", "toimii erinomaisesti")), ANSWERS[1]]
    decision, _ = decided(corrected(classified(edited, revision=2), rerouting=False), stored, owners)
    (job,) = decision.jobs
    assert job.key.text == "tyollisyysalueet:email:tyohame-1:2" and job.kind == "update"


async def test_the_new_owner_is_mailed_once_however_often_the_rerouting_comes_even_after_a_restart(
    database_url: str, owners
) -> None:
    async with Notify(database_url, owners) as notify:
        await notify.handle(classified())
        before = len(notify.mail.sent)
        await notify.handle(corrected(classified()))

        (moved,) = notify.mail.sent[before:]
        assert moved["To"] == "turvallisuus@example.org"
        assert moved["Subject"].startswith("Sinulle siirretty lausunnon kohta: TyöHäme")
        key = DeliveryKey.correction("turvallisuus", "email", "korjaus-1")
        assert moved["Message-ID"] == message_id(key, "example.org")
        assert await notify.store.status(key) == "delivered"
        body = moved.get_body(("plain",)).get_content()
        assert MOVED_TEXT in body and f"Perustelu: ”{REASON}”" in body

        await notify.handle(corrected(classified()))
        await notify.handle(classified())
        assert len(notify.mail.sent) == before + 1

    async with Notify(database_url, owners) as notify:
        await notify.handle(corrected(classified()))
        await notify.handle(corrected(classified(ANSWERS, revision=2), rerouting=False))
        assert notify.mail.sent == []


DIGEST_OWNERS = """
default_owner: office
owners:
  - {id: office, name: Strategiatoimisto, email: [office@example.org]}
  - {id: maksut, name: Asiakasmaksujen vastuuhenkilö, chapters: ["5.1.5"], email: [maksut@example.org]}
  - id: security
    name: Turvallisuuden vastuuhenkilö
    chapters: ["5.2.2"]
    email: [turvallisuus@example.org]
    mode: digest
    digest_time: "16:00"
"""


async def test_a_digest_owner_finds_the_moved_paragraph_in_their_next_digest(database_url: str) -> None:
    directory = parse_owners(DIGEST_OWNERS)
    async with Notify(database_url, directory) as notify:
        await notify.handle(classified())
        await notify.handle(corrected(classified(), by_role="maksut", owners=directory))
        await notify.handle(corrected(classified(), by_role="maksut", owners=directory))
        assert notify.mail.to("turvallisuus@example.org") == []
        assert len(notify.mail.to("maksut@example.org")) == 1  # its first alert; nothing about losing the paragraph

        assert await notify.dispatcher.flush_digests("security") == {"security": 2}  # the first routing, the move
        await notify.dispatcher.deliver_due()

        (digest,) = notify.mail.to("turvallisuus@example.org")
        body = digest.get_body(("plain",)).get_content()
        assert "versio 1, siirretty sinulle" in body
        assert "Siirron teki: Asiakasmaksujen vastuuhenkilö" in body and f"Perustelu: ”{REASON}”" in body
        assert MOVED_TEXT in body and "Luvussa 5.2.2 varautuminen on tärkeää." in body
        assert f"Perustelu: ”{REASON}”" in digest.get_body(("html",)).get_content()


async def test_a_webhook_names_the_move_and_the_correction(database_url: str) -> None:
    directory = parse_owners(
        DIGEST_OWNERS.replace("    mode: digest\n", "    webhook: https://chat.example.org/hook\n")
    )
    async with Notify(database_url, directory) as notify:
        await notify.handle(classified())
        notify.hooks.calls.clear()
        await notify.handle(corrected(classified(), by_role="maksut", owners=directory))

        ((url, payload, key),) = notify.hooks.calls
        assert url == "https://chat.example.org/hook" and key == "security:webhook:correction:korjaus-1"
        assert payload["type"] == "feedback.alert" and payload["kind"] == "moved"
        assert payload["alert"]["kind"] == "moved" and payload["alert"]["routing"] == 2
        correction = payload["correction"]
        assert correction["correction_id"] == "korjaus-1" and correction["by_role"] == "maksut"
        assert correction["by_name"] == "Asiakasmaksujen vastuuhenkilö" and correction["reason"] == REASON
        assert payload["subject"].startswith("Sinulle siirretty lausunnon kohta")


def test_a_correctors_words_add_no_markup_or_links_to_the_alert(owners) -> None:
    hostile = "<script>alert(1)</script> katso https://huijaus.example.com"
    _, stored = decided(classified(), {}, owners)
    event = corrected(classified())
    event = event.model_copy(
        update={"corrections": tuple(c.model_copy(update={"reason": hostile}) for c in event.corrections)}
    )
    decision, _ = decided(event, stored, owners)

    (job,) = decision.jobs
    rendered = Renderer().alert(_alert(job.payload))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "https://huijaus" not in rendered.html and "https://huijaus" not in rendered.text
    assert "katso https[:]//huijaus" in rendered.text


def _alert(payload: dict | str) -> Alert:
    return Alert.model_validate_json(payload) if isinstance(payload, str) else Alert.model_validate(payload)
