"""What an owner receives: Finnish alerts with exactly their paragraphs, once, and nothing of the respondent's contact data."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_contracts.events import PublicRespondent, ResponseClassified, ResponseReceived
from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.adapters import PermanentDeliveryError, TransientDeliveryError
from feedback_notify.deliveries import DeliveryLog
from feedback_notify.render import subject
from feedback_notify.service import Notifier

OWNERS_FILE = Path(__file__).parents[3] / "config" / "owners.example.yaml"


class FakeMail:
    """Records messages; can be told to fail for some recipients."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: dict[str, Exception] = {}

    async def send(self, message: EmailMessage) -> None:
        error = self.failures.get(message["To"])
        if error:
            raise error
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"] == address]


@pytest.fixture
def owners() -> OwnersDirectory:
    return load_owners(OWNERS_FILE)


@pytest.fixture
def classified(owners: OwnersDirectory) -> ResponseClassified:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    event = ResponseReceived(
        survey_id="palvelustrategia-2026",
        response_id="tyohame-1",
        revision=1,
        submitted_at=now,
        received_at=now,
        source="form",
        respondent=PublicRespondent(organization="TyöHäme", title="johtaja"),
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        answers=(
            Answer(
                question=71,
                text="Nuorten työllisyyspalveluissa yhteistyö toimii.\n\nLuvussa 5.2.2 varautuminen on tärkeää.",
            ),
            Answer(question=72, text="Työkyvyn arviointia tulee kehittää."),
        ),
    )
    return Router(load_taxonomy(), owners, shared_classifier()).classify(event, now=now)


@pytest.fixture
def notifier(owners: OwnersDirectory, tmp_path: Path) -> tuple[Notifier, FakeMail]:
    mail = FakeMail()
    return Notifier(
        owners, DeliveryLog(tmp_path / "deliveries.sqlite3"), mail, "Lausunnot <lausunnot@example.org>"
    ), mail


def test_subject_names_the_organisation_its_type_and_the_section(classified: ResponseClassified) -> None:
    routes = [r for r in classified.routes if r.section_id == "5.3.1.6"]
    assert subject(classified, routes) == "Lausunto: TyöHäme (työllisyysalue) – 5.3.1.6 Työllisyysalueet kumppanina"


async def test_each_owner_gets_one_alert_with_exactly_their_paragraphs(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified
) -> None:
    service, mail = notifier
    report = await service.deliver(classified)
    assert sorted(report.delivered) == ["turvallisuus", "tyollisyysalueet"]
    (security,) = mail.to("turvallisuus@example.org")
    body = security.get_content()
    assert "Luvussa 5.2.2 varautuminen on tärkeää." in body
    assert "Nuorten työllisyyspalveluissa" not in body
    assert "Miksi sinulle: mainitsee luvun: ”Luvussa 5.2.2”" in body
    (partner,) = mail.to("tyollisyysalueet@example.org")
    body = partner.get_content()
    assert "Nuorten työllisyyspalveluissa yhteistyö toimii." in body and "Työkyvyn arviointia tulee kehittää." in body
    assert "Miksi sinulle: aihe: työllisyys" in body
    assert "Vastaaja: TyöHäme" in body and "Titteli: johtaja" in body and "Kysymys 71" in body


async def test_a_redelivered_event_sends_nothing_twice(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified
) -> None:
    service, mail = notifier
    await service.deliver(classified)
    report = await service.deliver(classified)
    assert report.delivered == [] and sorted(report.already_delivered) == ["turvallisuus", "tyollisyysalueet"]
    assert len(mail.sent) == 2


async def test_message_ids_are_derived_from_the_delivery_key(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified, tmp_path: Path, owners: OwnersDirectory
) -> None:
    service, mail = notifier
    await service.deliver(classified)
    other_mail = FakeMail()
    other = Notifier(owners, DeliveryLog(tmp_path / "other.sqlite3"), other_mail, "Lausunnot <lausunnot@example.org>")
    await other.deliver(classified)
    assert sorted(m["Message-ID"] for m in mail.sent) == sorted(m["Message-ID"] for m in other_mail.sent)
    assert all(m["Message-ID"].endswith("@example.org>") for m in mail.sent)


async def test_a_transient_failure_propagates_and_the_retry_skips_owners_already_alerted(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified
) -> None:
    service, mail = notifier
    mail.failures["turvallisuus@example.org"] = TransientDeliveryError("connection refused")
    with pytest.raises(TransientDeliveryError, match="turvallisuus: connection refused"):
        await service.deliver(classified)
    assert len(mail.to("tyollisyysalueet@example.org")) == 1  # not held back by the other owner's failure
    del mail.failures["turvallisuus@example.org"]
    report = await service.deliver(classified)
    assert report.delivered == ["turvallisuus"] and report.already_delivered == ["tyollisyysalueet"]
    assert len(mail.to("tyollisyysalueet@example.org")) == 1


async def test_a_permanent_failure_is_recorded_and_other_owners_still_get_theirs(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified
) -> None:
    service, mail = notifier
    mail.failures["turvallisuus@example.org"] = PermanentDeliveryError("550 no such user")
    report = await service.deliver(classified)
    assert report.failed == ["turvallisuus"] and report.delivered == ["tyollisyysalueet"]
    again = await service.deliver(classified)
    assert again.delivered == [] and again.failed == []


async def test_a_respondent_cannot_add_a_header_through_the_organisation_name(
    notifier: tuple[Notifier, FakeMail], classified: ResponseClassified
) -> None:
    service, mail = notifier
    hostile = classified.model_copy(
        update={
            "respondent": PublicRespondent(organization="X\r\nBcc: hyokkaaja@example.com", title="t\nTo: x@example.com")
        }
    )
    await service.deliver(hostile)
    for message in mail.sent:
        headers, _, body = message.as_bytes().partition(b"\r\n\r\n")
        assert b"\nBcc:" not in headers and b"\nTo: x@" not in headers
        assert "Vastaaja: X Bcc: hyokkaaja@example.com" in message.get_content()
        assert message.get_all("Bcc") is None and len(message.get_all("To")) == 1
