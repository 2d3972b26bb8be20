"""Delivering one classified response to its owners, each exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

from feedback_contracts.events import ResponseClassified
from feedback_contracts.owners import OwnersDirectory

from .adapters import PermanentDeliveryError, TransientDeliveryError
from .deliveries import DeliveryLog, delivery_key
from .render import email_alert, routes_for

log = logging.getLogger("feedback.notify")


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass
class DeliveryReport:
    """What handling one event did, per owner id."""

    delivered: list[str] = field(default_factory=list)
    already_delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Notifier:
    """Sends each owner of a classified response one alert, recorded in the delivery log."""

    def __init__(self, owners: OwnersDirectory, deliveries: DeliveryLog, mail: MailSender, sender: str) -> None:
        self.owners = owners
        self.deliveries = deliveries
        self.mail = mail
        self.sender = sender
        self.domain = parseaddr(sender)[1].partition("@")[2] or "feedback.invalid"

    async def deliver(self, event: ResponseClassified) -> DeliveryReport:
        """Alert every owner of the event who has not been alerted about this revision yet.

        A transient failure does not hold back the other owners; it is raised once they have been
        served, so the event is redelivered and only the owners still pending are tried again. A
        permanent failure is recorded and not retried.
        """
        report = DeliveryReport()
        transient: list[str] = []
        for owner_id in event.owners():
            owner = self.owners.get(owner_id) or self.owners.owners_for(None)[0]
            key = delivery_key(owner.id, "email", event.response_id, event.revision)
            if await self.deliveries.outcome(key) is not None:
                report.already_delivered.append(owner.id)
                continue
            if not owner.email:
                log.warning("owner %s has no email address; webhook delivery is not available yet", owner.id)
                continue
            routes = routes_for(event, owner_id)
            message = email_alert(event, owner, routes, sender=self.sender, key=key, domain=self.domain)
            record = dict(owner_id=owner.id, channel="email", response_id=event.response_id, revision=event.revision)
            try:
                await self.mail.send(message)
            except TransientDeliveryError as exc:
                log.warning("alert to owner %s failed transiently: %s", owner.id, exc)
                transient.append(f"{owner.id}: {exc}")
                continue
            except PermanentDeliveryError as exc:
                log.error("alert to owner %s refused permanently: %s", owner.id, exc)
                await self.deliveries.record(key, outcome="failed", detail=str(exc), **record)  # type: ignore[arg-type]
                report.failed.append(owner.id)
                continue
            await self.deliveries.record(key, outcome="delivered", message_id=message["Message-ID"], **record)  # type: ignore[arg-type]
            report.delivered.append(owner.id)
            log.info(
                "alerted owner %s about response %s revision %d",
                owner.id,
                event.response_id,
                event.revision,
                extra={"owner": owner.id, "response_id": event.response_id, "revision": event.revision},
            )
        if transient:
            raise TransientDeliveryError("; ".join(transient), report)
        return report
