"""Escalation end to end, with a controllable clock: the workspace's worker publishes its reminder on the real
broker, the real notify mails it through a real SMTP server once (even when it is published twice), the
strategy office hears of the item still waiting three working days later, and the item's page shows both."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import update
from workspace_support import (
    OFFICE,
    OWNERS_FILE,
    SECRET,
    Workspace,
    classified,
    consumer_group_at_end,
    form_fields,
    group_at_end,
    item_id_of,
    main_text,
    one,
    owners_of,
    parse,
    seed002,
)

from feedback_contracts.events import REMINDERS_TOPIC
from feedback_notify.app import create_app as create_notify
from feedback_notify.settings import NotifySettings
from feedback_workspace.app import create_app as create_workspace
from feedback_workspace.settings import WorkspaceSettings
from feedback_workspace.tables import reminders
from feedback_workspace.working_days import HELSINKI

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=HELSINKI)
REMINDER_DUE = datetime(2026, 3, 16, 10, 0, tzinfo=HELSINKI)  # five working days later
ESCALATION_DUE = datetime(2026, 3, 19, 10, 0, tzinfo=HELSINKI)  # three working days after the reminder


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def reminders_group_at_end(bootstrap: str, group_id: str) -> None:
    """Start notify's reminders group at the end of the topic the whole test session shares."""
    group_at_end(bootstrap, group_id, REMINDERS_TOPIC)


def plain(message) -> str:  # noqa: ANN001
    return message.get_body(("plain",)).get_content()


def test_the_owner_is_reminded_once_through_notify_then_the_office_is_told_and_the_item_shows_both(
    kafka_bootstrap: str, database_url: str, smtp_sink, unique: str, eventually, tmp_path
) -> None:
    clock = Clock(MONDAY)
    group = f"workspace-{unique}"
    consumer_group_at_end(kafka_bootstrap, group)
    settings = WorkspaceSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url, owners_file=OWNERS_FILE,
        workspace_group_id=group, workspace_secret=SECRET, workspace_secure_cookies=False,
        workspace_base_url="https://tyotila.example.org", kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500, workspace_reminder_days=5, workspace_escalation_days=3,
        workspace_escalation_interval_seconds=0.1,
    )  # fmt: skip
    registry = CollectorRegistry()
    workspace = Workspace(create_workspace(settings, registry=registry, configure_logs=False, clock=clock), settings, registry).start()  # fmt: skip
    reminders_group_at_end(kafka_bootstrap, f"notify-reminders-{unique}")
    notify_registry = CollectorRegistry()
    notify = create_notify(
        NotifySettings(
            kafka_bootstrap_servers=kafka_bootstrap, owners_file=OWNERS_FILE, notify_group_id=f"notify-{unique}",
            notify_reminders_group_id=f"notify-reminders-{unique}", database_url=f"sqlite:///{tmp_path}/notify.sqlite3",
            smtp_port=smtp_sink.port, kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
            workspace_base_url="https://tyotila.example.org", workspace_secret=SECRET,
        ),
        registry=notify_registry,
        configure_logs=False,
    )  # fmt: skip
    worker = workspace.app.state.escalation
    organization = f"Järjestö {unique}"

    def mine() -> list:
        return [m for m in smtp_sink.messages() if organization in plain(m)]

    def at(moment: datetime) -> None:
        """Move the clock and wait for two of the worker's rounds to have run after it."""
        clock.now = moment.astimezone(UTC)
        start = worker.rounds
        eventually(lambda: worker.rounds >= start + 2, timeout=30, what="two escalation rounds")

    def notify_count(kind: str, outcome: str) -> float:
        value = notify_registry.get_sample_value("feedback_notify_reminders_total", {"kind": kind, "outcome": outcome})
        return value or 0

    try:
        with TestClient(notify):
            event = classified(
                seed002(), response_id=f"esc-{unique}", organization=organization,
                answers={27: "Luvussa 5.2.2 varautuminen jää liian yleiselle tasolle."},
            )  # fmt: skip
            (owner,) = owners_of(event, "5.2.2")
            workspace.record(event, now=clock())
            item_id = item_id_of(workspace, owner, event.response_id, "5.2.2")

            # Four working days and most of the fifth: nobody is reminded.
            at(datetime(2026, 3, 13, 17, 0, tzinfo=HELSINKI))
            at(datetime(2026, 3, 16, 9, 59, tzinfo=HELSINKI))
            assert notify_count("reminder", "queued") == 0

            at(REMINDER_DUE)
            eventually(lambda: len(mine()) == 1, what="the reminder email")
            (reminder,) = mine()
            assert reminder["To"] == f"{owner}@example.org"
            assert reminder["Subject"] == "Muistutus: 1 lausunnon kohta odottaa käsittelyä"
            body = plain(reminder)
            assert "vähintään 5 työpäivää" in body
            assert "5.2.2 Turvallisuus ja kriisinkestävyys" in body

            # The worker publishes it again, as after a crash between the broker's acknowledgement and the
            # outbox's update: notify recognises the reminder id and mails nothing more.
            async def forget_publishing() -> None:
                async with workspace.app.state.store.engine.begin() as conn:
                    await conn.execute(update(reminders).values(published_at=None))

            workspace.run(forget_publishing())
            eventually(lambda: notify_count("reminder", "duplicate") >= 1, what="the second publish to reach notify")
            assert notify_count("reminder", "queued") == 1
            assert len(mine()) == 1

            # The personal link in the email opens a sign-in page; its button signs the owner in to the item.
            (link,) = [u for u in re.findall(r"https://tyotila\.example\.org/\S+", body) if "kohteet" in parse_qs(urlsplit(u).query).get("seuraava", [""])[0]]  # fmt: skip
            browser = workspace.anonymous()
            page = browser.get(urlsplit(link).path + "?" + urlsplit(link).query)
            assert page.status_code == 200
            signed_in = browser.post("/kirjaudu", data=form_fields(one(parse(page), "//main//form[@method='post']")))
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, f"/kohteet/{item_id}")
            item_page = browser.get(f"/kohteet/{item_id}")
            assert item_page.status_code == 200
            assert "muistutus lähetetty" in main_text(item_page)
            assert "ilmoitettu strategiatoimistolle" not in main_text(item_page)

            # Three working days after the reminder, still new: the strategy office is told, once.
            at(datetime(2026, 3, 19, 9, 59, tzinfo=HELSINKI))
            assert len(mine()) == 1
            at(ESCALATION_DUE)
            eventually(lambda: len(mine()) == 2, what="the office's notice")
            notice = next(m for m in mine() if m["To"] == f"{OFFICE}@example.org")
            assert notice["Subject"].startswith("Käsittelemättömiä kohtia: ")
            assert "(1)" in notice["Subject"]
            assert "muistutus lähetetty 16.3.2026" in plain(notice)
            at(datetime(2026, 3, 30, 10, 0, tzinfo=HELSINKI))
            assert len(mine()) == 2

            item_page = browser.get(f"/kohteet/{item_id}")
            history = main_text(item_page)
            assert "muistutus lähetetty" in history and "ilmoitettu strategiatoimistolle" in history
    finally:
        workspace.stop()
    # Counted per acknowledged publish: the reminder went out twice (notify delivered it once).
    assert registry.get_sample_value("feedback_workspace_escalations_total", {"kind": "reminder"}) == 2
    assert registry.get_sample_value("feedback_workspace_escalations_total", {"kind": "escalation"}) == 1
