"""Reminders from the owners' workspace, in Finnish: to an owner whose items have waited (kind 'reminder'),
and to the strategy office about items still waiting after the reminder (kind 'escalation').

The workspace publishes each as an `ItemsOverdue` event on `feedback.reminders.v1`; notify queues one delivery
per channel of the recipient under a key made of the reminder id (`DeliveryKey.reminder`), so a reminder
published twice is delivered once, and is retried, dead-lettered and logged like any alert.

As in alerts, what a respondent wrote (the organisation's name) is defanged and never becomes a header or
markup. With WORKSPACE_SECRET set, the links are personal sign-in links for the recipient's role.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from feedback_contracts.events import ItemsOverdue, OverdueItem
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.respondents import RespondentType
from feedback_runtime.signin import SignInLinks

from .alerts import channels
from .delivery_log import DeliveryLog, NewJob
from .keys import DeliveryKey
from .render import Rendered, defang, header_safe, webhook_payload

if TYPE_CHECKING:
    from .settings import NotifySettings

log = logging.getLogger("feedback.notify")
HELSINKI = ZoneInfo("Europe/Helsinki")
KINDS = frozenset({"reminder", "escalation"})
# Items listed in a reminder's message (the rest are a link away); per role in the office's notice.
REMINDER_ITEMS_SHOWN = 20
ESCALATION_ITEMS_SHOWN_PER_ROLE = 5
SUBJECT_ROLES_SHOWN = 2
NO_SECTION_LABEL = "Ei tunnistettua strategian lukua"


def finnish_date(moment: datetime) -> str:
    local = moment.astimezone(HELSINKI)
    return f"{local.day}.{local.month}.{local.year}"


def link_validity(days: float) -> str:
    """How long a sign-in link is valid, as the sentence needs it: "14 päivää", "1 päivän", "12 tuntia"."""
    if days >= 1 and float(days).is_integer():
        return "1 päivän" if days == 1 else f"{int(days)} päivää"
    hours = max(1, round(days * 24))
    return "1 tunnin" if hours == 1 else f"{hours} tuntia"


def items_phrase(count: int) -> str:
    return "1 lausunnon kohta" if count == 1 else f"{count} lausunnon kohtaa"


@dataclass(frozen=True)
class ShownItem:
    """One item as the message shows it."""

    section: str
    organization: str
    respondent_type: str
    paragraphs: int
    arrived: str
    reminded: str | None
    link: str


@dataclass(frozen=True)
class RoleGroup:
    """The office's notice, per role: how many items wait, the oldest of them, and where all of them are."""

    owner_id: str
    name: str
    count: int
    items: list[ShownItem]
    link: str


class ReminderRenderer:
    """Renders reminders and escalations; with `links`, every link signs the recipient's role in."""

    def __init__(self, links: SignInLinks | None = None, link_days: float = 14) -> None:
        self.links = links
        self.validity = link_validity(link_days)
        self.env = Environment(
            loader=PackageLoader("feedback_notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._templates = {
            (kind, part): self.env.get_template(f"{kind}.{part}.j2") for kind in KINDS for part in ("txt", "html")
        }

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> ReminderRenderer:
        secret = settings.workspace_secret.get_secret_value() if settings.workspace_secret else ""
        return cls(SignInLinks(secret) if secret else None, settings.workspace_link_days)

    def render(self, event: ItemsOverdue, recipient_id: str, names: Mapping[str, str]) -> Rendered:
        """The message to the role `recipient_id` (the event's, unless it left the directory); `names`: the
        owner roles' names by id."""

        def link(path: str) -> str:
            """Where `path` of the workspace opens for the recipient: a sign-in link, or the page itself."""
            if self.links is not None:
                return self.links.url(event.workspace_url, recipient_id, path)
            return event.workspace_url.rstrip("/") + path

        recipient = header_safe(names.get(recipient_id, recipient_id))
        context: dict[str, Any] = dict(
            event=event, recipient=recipient, personal=self.links is not None, link_validity=self.validity
        )
        if event.kind == "reminder":
            subject = header_safe(f"Muistutus: {items_phrase(event.item_count)} odottaa käsittelyä")
            shown = [self._shown(item, link) for item in event.items[:REMINDER_ITEMS_SHOWN]]
            context.update(
                subject=subject, items=shown, more=event.item_count - len(shown),
                inbox=link("/saapuneet?" + urlencode({"tila": "uusi"})),
            )  # fmt: skip
        else:
            groups = self._groups(event, names, link)
            subject = header_safe(f"Käsittelemättömiä kohtia: {_roles_phrase(groups)}")
            context.update(
                subject=subject, groups=groups, more=event.item_count - len(event.items),
                waiting=link("/toimisto/odottavat"),
            )  # fmt: skip
        text = self._templates[(event.kind, "txt")].render(**context)
        html = self._templates[(event.kind, "html")].render(**context)
        return Rendered(subject, text, html)

    def _shown(self, item: OverdueItem, link: Callable[[str], str]) -> ShownItem:
        section = f"{item.section_id} {item.section_title or ''}".strip() if item.section_id else NO_SECTION_LABEL
        return ShownItem(
            section=header_safe(section),
            organization=defang(header_safe(item.organization)),
            respondent_type=RespondentType(item.respondent_type).label_fi,
            paragraphs=item.paragraph_count,
            arrived=finnish_date(item.waiting_since),
            reminded=finnish_date(item.reminded_at) if item.reminded_at else None,
            link=link(f"/kohteet/{item.item_id}"),
        )

    def _groups(self, event: ItemsOverdue, names: Mapping[str, str], link: Callable[[str], str]) -> list[RoleGroup]:
        by_owner: dict[str, list[OverdueItem]] = {}
        for item in event.items:
            by_owner.setdefault(item.owner_id, []).append(item)
        groups = [
            RoleGroup(
                owner_id=owner,
                name=header_safe(names.get(owner, owner)),
                count=len(items),
                items=[self._shown(item, link) for item in items[:ESCALATION_ITEMS_SHOWN_PER_ROLE]],
                link=link("/toimisto/kohteet?" + urlencode({"omistaja": owner, "tila": "uusi"})),
            )
            for owner, items in by_owner.items()
        ]
        return sorted(groups, key=lambda g: (-g.count, g.name))


def _roles_phrase(groups: list[RoleGroup]) -> str:
    shown = ", ".join(f"{g.name} ({g.count})" for g in groups[:SUBJECT_ROLES_SHOWN])
    rest = len(groups) - SUBJECT_ROLES_SHOWN
    if rest == 1:
        shown += " ja 1 muu rooli"
    elif rest > 1:
        shown += f" ja {rest} muuta roolia"
    return shown


def reminder_webhook_payload(rendered: Rendered, payload: dict, shape: str) -> dict:
    """The webhook body: Slack's and Teams' shapes as for alerts; the product's own JSON names the event."""
    if shape in ("slack", "teams"):
        return webhook_payload(rendered, payload, shape)
    return {
        "type": f"feedback.{payload['kind']}",
        "subject": rendered.subject,
        "text": rendered.text,
        "reminder": payload,
    }


@dataclass(frozen=True)
class ReminderReport:
    jobs: int
    recipient: str | None  # None: nobody to deliver it to


class ReminderIntake:
    """Queues a reminder for delivery on each of its recipient's channels, once per reminder id."""

    def __init__(self, delivery_log: DeliveryLog, owners: Callable[[], OwnersDirectory]) -> None:
        self.delivery_log = delivery_log
        self.owners = owners

    async def accept(self, event: ItemsOverdue, now: datetime) -> ReminderReport:
        directory = self.owners()
        owner = directory.get(event.recipient_owner_id)
        if owner is None:
            # A role removed from the directory since: the default owner hears of its items instead.
            owner = directory.owners_for(None)[0]
            log.warning(
                "%s %s is for %s, who is not in the owners directory; sending it to %s",
                event.kind, event.reminder_id, event.recipient_owner_id, owner.id, extra={"owner": owner.id},
            )  # fmt: skip
        payload = event.model_dump_json()
        jobs = [
            NewJob(DeliveryKey.reminder(owner.id, channel, event.reminder_id), event.kind, payload, None)
            for channel in channels(owner)
        ]
        return ReminderReport(await self.delivery_log.queue(jobs, now), owner.id)
