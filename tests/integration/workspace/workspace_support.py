"""Helpers of the workspace's tests: statements routed by classify's real Router, the workspace served by uvicorn
on a free port against the real broker and a real database, signed-in HTTP sessions, and reading its pages."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from lxml import html
from prometheus_client import CollectorRegistry

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import free_port
from feedback_contracts.events import CLASSIFIED_TOPIC, ResponseClassified
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import Answer, SurveyResponse
from feedback_contracts.taxonomy import load_taxonomy
from feedback_ingest.importer import ImportOptions, import_file
from feedback_ingest.rules import received_event
from feedback_runtime.signin import SignInLinks
from feedback_workspace.app import create_app
from feedback_workspace.settings import WorkspaceSettings

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
OWNERS_FILE = REPO / "config" / "owners.example.yaml"
SECRET = "test-secret-of-the-workspace-0123456789"
OFFICE = "strategiatoimisto"


# Statements, as classify routes them --------------------------------------------------------------------------


@cache
def router() -> Router:
    return Router(load_taxonomy(), load_owners(OWNERS_FILE), shared_classifier())


def seed002() -> SurveyResponse:
    """The NGO council's statement (seed 002) as the form posts it."""
    return SurveyResponse.model_validate(json.loads((FIXTURES / "seed002_response.json").read_text(encoding="utf-8")))


def seed000() -> SurveyResponse:
    """The city of Hämeenlinna's statement (seed 000), imported from its document."""
    options = ImportOptions(respondent_type=RespondentType.MUNICIPALITY)
    return import_file(FIXTURES / "seed000_hameenlinna.txt", options).response


def classified(
    response: SurveyResponse,
    *,
    response_id: str | None = None,
    revision: int = 1,
    answers: dict[int, str] | None = None,
    organization: str | None = None,
    respondent_type: RespondentType | None = None,
    received_at: datetime | None = None,
) -> ResponseClassified:
    """`response` (with another id, revision, answers, organisation or type if given) as classify publishes it."""
    changes: dict[str, Any] = {"revision": revision}
    if respondent_type is not None:
        changes["respondent_type"] = respondent_type
    if response_id is not None:
        changes["response_id"] = response_id
    if answers is not None:
        changes["answers"] = [Answer(question=q, text=t) for q, t in sorted(answers.items())]
    if organization is not None:
        changes["respondent"] = response.respondent.model_copy(update={"organization": organization})
    response = response.model_copy(update=changes)
    replaces = revision - 1 if revision > 1 else None
    return router().route(received_event(response, received_at or datetime.now(UTC), replaces))


def answers_of(response: SurveyResponse) -> dict[int, str]:
    return {a.question: a.text for a in response.answers}


def owners_of(event: ResponseClassified, section_id: str) -> tuple[str, ...]:
    route = next((r for r in event.routes if r.section_id == section_id), None)
    assert route is not None, f"classify no longer routes anything of {event.response_id} to {section_id}"
    return route.owners


def owner_paragraphs(event: ResponseClassified, owner_id: str) -> list[str]:
    """The texts of the paragraphs routed to `owner_id`, in the event's order."""
    texts = {p.index: p.text for p in event.paragraphs}
    return [texts[rp.paragraph] for r in event.routes if owner_id in r.owners for rp in r.paragraphs]


def all_owners(event: ResponseClassified) -> set[str]:
    return {owner for route in event.routes for owner in route.owners}


# The workspace, served -----------------------------------------------------------------------------------------


def consumer_group_at_end(bootstrap: str, group_id: str) -> None:
    """Commit `group_id`'s offsets at the end of the classified topic, so a workspace in that group sees only
    what is published after this (the broker is shared by the whole test session)."""
    group_at_end(bootstrap, group_id, CLASSIFIED_TOPIC)


def group_at_end(bootstrap: str, group_id: str, topic: str) -> None:
    """Commit `group_id`'s offsets at the end of `topic`, as far as it is written now.

    The end is read as a fetch's high watermark, never from ListOffsets alone: Tansu answers LATEST after a
    multi-record batch with the batch's base offset + 1 (../shared/KAFKA-LOCAL.md), so a group placed there would
    read the batch's later records, another test's statements among them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        for tp, end in consumer.end_offsets(partitions).items():
            consumer.seek(tp, end)  # at most the true end: read on from there
        deadline = time.monotonic() + 30
        while True:
            consumer.poll(timeout_ms=200)
            highwater = {tp: consumer.highwater(tp) for tp in partitions}
            if all(h is not None and consumer.position(tp) >= h for tp, h in highwater.items()):
                break
            assert time.monotonic() < deadline, f"could not read {topic} to its end: {highwater}"
        consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in partitions})
    finally:
        consumer.close()


@dataclass
class Workspace:
    """The workspace app served by uvicorn in a thread with its own event loop."""

    app: FastAPI
    settings: WorkspaceSettings
    registry: CollectorRegistry
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _clients: list[httpx.Client] = field(default_factory=list)

    def start(self) -> Workspace:
        port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._loop = asyncio.new_event_loop()
        failed: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._server.serve())
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                failed.append(exc)

        self._thread = threading.Thread(target=serve, name="workspace", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            assert not failed and self._thread.is_alive(), f"the workspace did not start: {failed}"
            assert time.monotonic() < deadline, "the workspace did not start in 60 s"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run(self, coroutine: Coroutine) -> Any:
        """Run `coroutine` on the server's event loop (where the store's connections live)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def record(self, *events: ResponseClassified, now: datetime | None = None) -> list:
        return [self.run(self.app.state.store.record(event, now or datetime.now(UTC))) for event in events]

    def link(self, owner_id: str, next_path: str = "/") -> str:
        return SignInLinks(SECRET).url(self.url, owner_id, next_path)

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        self._clients.append(client)
        return client

    def signed_in(self, owner_id: str) -> httpx.Client:
        """A browser-like session signed in as `owner_id` the way an owner does: open the link, press the button."""
        client = self.anonymous()
        page = client.get(self.link(owner_id))
        assert page.status_code == 200, page.text
        form = one(parse(page), "//main//form[@method='post']")
        answer = client.post("/kirjaudu", data=form_fields(form))
        assert answer.status_code == 303, answer.text
        return client

    def items_of(self, response_id: str) -> list[dict]:
        statement = self.run(self.app.state.store.statement(response_id))
        return statement["items"] if statement else []


def make_workspace(bootstrap: str, database_url: str, group_id: str, **overrides: Any) -> Workspace:
    """The workspace in its own consumer group (placed at the topic's end), HTTP cookies, the test secret."""
    consumer_group_at_end(bootstrap, group_id)
    values = dict(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, owners_file=OWNERS_FILE,
        workspace_group_id=group_id, workspace_secret=SECRET, workspace_secure_cookies=False,
        workspace_base_url="http://127.0.0.1", kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
    )  # fmt: skip
    settings = WorkspaceSettings(**{**values, **overrides})
    registry = CollectorRegistry()
    return Workspace(create_app(settings, registry=registry, configure_logs=False), settings, registry)


# Reading pages -------------------------------------------------------------------------------------------------


def parse(response: httpx.Response) -> html.HtmlElement:
    return html.fromstring(response.text)


def one(document: html.HtmlElement, xpath: str) -> html.HtmlElement:
    found = document.xpath(xpath)
    assert len(found) == 1, f"{len(found)} matches of {xpath}"
    return found[0]


def text(element: html.HtmlElement) -> str:
    """What a reader sees of an element: its text with the whitespace collapsed."""
    return re.sub(r"\s+", " ", element.text_content()).strip()


def main_text(response: httpx.Response) -> str:
    return text(one(parse(response), "//main"))


def form_fields(form: html.HtmlElement) -> dict[str, str]:
    """The values a browser submits of a form's hidden fields."""
    return {i.get("name"): i.get("value", "") for i in form.xpath(".//input[@type='hidden']")}


def csrf_of(response: httpx.Response) -> str:
    tokens = {i.get("value") for i in parse(response).xpath("//input[@name='csrf']")}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def item_links(response: httpx.Response) -> list[str]:
    """The hrefs of the items a list shows, in its order."""
    return [a.get("href") for a in parse(response).xpath("//ol[contains(@class,'item-list')]//h2/a")]


def item_id_of(workspace: Workspace, owner_id: str, response_id: str, section_id: str) -> int:
    for item in workspace.items_of(response_id):
        if item["owner_id"] == owner_id and item["section_id"] == section_id:
            return item["id"]
    raise AssertionError(f"no item of {owner_id} for {response_id} in {section_id}")


def mark(client: httpx.Client, item_id: int, state: str, note: str = "") -> httpx.Response:
    """Mark an item as its page's form does: the session's token, the state and the note."""
    page = client.get(f"/kohteet/{item_id}")
    assert page.status_code == 200, page.status_code
    return client.post(f"/kohteet/{item_id}/tila", data={"csrf": csrf_of(page), "tila": state, "muistiinpano": note})


def state_on_page(client: httpx.Client, item_id: int) -> str:
    """The state an item's page shows ('Uusi', 'Käsitelty', ...)."""
    return text(
        parse(client.get(f"/kohteet/{item_id}")).xpath("//main//p[@class='meta']//span[contains(@class,'tag')]")[0]
    )
