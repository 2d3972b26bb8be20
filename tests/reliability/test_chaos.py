"""Nothing accepted is lost: while statements are being posted and owners work their items in the workspace,
each service (ingest, classify, notify, workspace) is killed (-9) once at a random moment and restarted; every
accepted statement still reaches exactly its owners, each alert once by Message-ID; every routed paragraph is an
item of the workspace exactly once; and every state and note an owner saved (the workspace answered 303) is kept.

`make test` runs it with 200 statements, `make reliability` with 500 (RELIABILITY_RESPONSES sets another number;
RELIABILITY_SEED repeats a run's random moments).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from feedback_classify.classifier import shared_classifier
from feedback_classify.routing import Router
from feedback_cli.devstack import SmtpSink, create_topics, free_port, start_tansu, stop_process
from feedback_contracts.events import CLASSIFIED_TOPIC, PublicRespondent, ResponseClassified, ResponseReceived
from feedback_contracts.owners import load_owners
from feedback_contracts.responses import SurveyResponse
from feedback_contracts.taxonomy import load_taxonomy
from feedback_notify.keys import DeliveryKey
from feedback_notify.render import message_id
from feedback_runtime.signin import SignInLinks
from feedback_workspace.store import ItemFilter, WorkspaceStore

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[2]
OWNERS = REPO / "config" / "owners.example.yaml"
FORM = "form-token"
SECRET = "chaos-workspace-secret"
SERVICES = ("ingest", "classify", "notify", "workspace")
# How many owner roles work their inboxes during the run (the statement's own owners, the office among them).
WORKING_OWNERS = 3
# The states an owner moves a new item to; `ei_minulle` needs a note, and every change here carries one.
STATES = ("luettu", "kasitelty", "ei_minulle")
ITEM_LINK = re.compile(r'href="/kohteet/(\d+)"')
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
LINK_TOKEN = re.compile(r'name="t" value="([^"]+)"')
TOTAL = re.compile(r'class="summary" role="status">(\d+) kohde')


def _expected_owners(seed: dict) -> list[str]:
    """Whom the statement concerns, by the same routing the pipeline runs."""
    response = SurveyResponse.model_validate(seed)
    event = ResponseReceived(
        survey_id=response.survey_id, response_id=response.response_id, revision=1, submitted_at=response.submitted_at,
        received_at=datetime.now(UTC), source="form",
        respondent=PublicRespondent(organization=response.respondent.organization, title=response.respondent.title),
        respondent_type=response.respondent_type, answers=tuple(response.answers),
    )  # fmt: skip
    return Router(load_taxonomy(), load_owners(OWNERS), shared_classifier()).route(event).owners()


def sign_in(client: httpx.Client, owner_id: str, attempts: int = 100) -> None:
    """As an owner does with the link from an alert: open it, press the one button (a POST with the page's token).
    Retried while the workspace is down."""
    link = SignInLinks(SECRET).url(str(client.base_url), owner_id, "/saapuneet")
    for _ in range(attempts):
        try:
            shown = client.get(link)
            token, link_token = FORM_TOKEN.search(shown.text), LINK_TOKEN.search(shown.text)
            assert shown.status_code == 200 and token and link_token, f"sign-in page of {owner_id}: {shown.status_code}"
            fields = {"csrf": token.group(1), "t": link_token.group(1), "seuraava": "/saapuneet"}
            answer = client.post("/kirjaudu", data=fields)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        assert answer.status_code == 303, f"signing in as {owner_id}: {answer.status_code}"
        return
    raise AssertionError(f"{owner_id} could not sign in")


@dataclass
class OwnerAtWork:
    """One owner role working its inbox through the pages while services die: it signs in with its link, and
    again and again opens its newest `uusi` items and marks one (each item once), with a note.

    `saved`: what the workspace confirmed (303); `unsure`: changes whose answer never came (the workspace died
    while it handled them: either outcome is right); `refused`: any other answer (none is right)."""

    owner_id: str
    base_url: str
    rng: random.Random
    stop: threading.Event
    saved: dict[int, tuple[str, str]] = field(default_factory=dict)
    unsure: dict[int, tuple[str, str]] = field(default_factory=dict)
    refused: list[tuple[int, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"owner-{self.owner_id}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=10) as client:
                sign_in(client, self.owner_id)
                while not self.stop.is_set():
                    self.work_one(client)
                    time.sleep(self.rng.uniform(0.02, 0.1))
        except Exception as exc:  # reported by the test, not lost in a thread
            self.failures.append(f"{type(exc).__name__}: {exc}")

    def work_one(self, client: httpx.Client) -> None:
        try:
            inbox = client.get("/saapuneet", params={"tila": "uusi"})
        except httpx.HTTPError:
            time.sleep(0.2)  # the workspace is down: an owner would reload in a moment
            return
        assert inbox.status_code == 200, f"{self.owner_id}'s inbox: {inbox.status_code}"
        tried = self.saved.keys() | self.unsure.keys() | {item for item, _ in self.refused}
        fresh = [int(i) for i in ITEM_LINK.findall(inbox.text) if int(i) not in tried]
        token = FORM_TOKEN.search(inbox.text)
        if not fresh or token is None:
            time.sleep(0.2)
            return
        item = fresh[0]
        state = self.rng.choice(STATES)
        note = f"{self.owner_id} merkitsi kohteen {item}: {state} ({self.rng.randrange(10**6)})"
        form = {"csrf": token.group(1), "tila": state, "muistiinpano": note}
        try:
            answer = client.post(f"/kohteet/{item}/tila", data=form)
        except httpx.HTTPError:
            self.unsure[item] = (state, note)
            return
        if answer.status_code == 303:
            self.saved[item] = (state, note)
        else:
            self.refused.append((item, answer.status_code))


def classified_events(bootstrap: str, prefix: str) -> dict[str, ResponseClassified]:
    """The latest classified revision of each statement whose id starts with `prefix`, read from the topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=200)
    try:
        partitions = [
            TopicPartition(CLASSIFIED_TOPIC, p) for p in sorted(consumer.partitions_for_topic(CLASSIFIED_TOPIC))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        latest: dict[str, ResponseClassified] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = ResponseClassified.model_validate_json(record.value)
                    seen = latest.get(event.response_id)
                    if event.response_id.startswith(prefix) and (seen is None or seen.revision < event.revision):
                        latest[event.response_id] = event
            if not batch and all(consumer.position(tp) >= end[tp] for tp in partitions):
                break
        return latest
    finally:
        consumer.close()


def expected_items(events: dict[str, ResponseClassified]) -> dict[tuple[str, str, str], list[tuple[int, str]]]:
    """(owner, statement, section) -> the routed paragraphs (index, text) of the statement's latest revision."""
    expected: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for event in events.values():
        texts = {p.index: p.text for p in event.paragraphs}
        for route in event.routes:
            paragraphs = [(routed.paragraph, texts[routed.paragraph]) for routed in route.paragraphs]
            for owner in route.owners:
                key = (owner, event.response_id, route.section_id or "")
                assert key not in expected, f"one event routes {key} twice"
                expected[key] = paragraphs
    return expected


async def stored_items(database_url: str) -> tuple[list[dict], int]:
    """Every item the workspace stored, and how many it withdrew (none should be: no statement was revised)."""
    store = WorkspaceStore(database_url)
    try:
        current, _ = await store.items(ItemFilter(owners=None), limit=10**7)
        _, withdrawn = await store.items(ItemFilter(owners=None, withdrawn=True), limit=1)
        return current, withdrawn
    finally:
        await store.close()


def office_total(client: httpx.Client) -> int:
    """The number of items the strategy office sees on its list of every item."""
    try:
        page = client.get("/toimisto/kohteet")
    except httpx.HTTPError:
        return -1
    match = TOTAL.search(page.text) if page.status_code == 200 else None
    return int(match.group(1)) if match else -1


def test_every_accepted_statement_reaches_its_owners_and_their_workspace_while_each_service_is_killed_once(
    tmp_path: Path, seed002_response: dict, unique: str, eventually: Callable[..., None]
) -> None:
    total = int(os.environ.get("RELIABILITY_RESPONSES", "200"))
    seed = os.environ.get("RELIABILITY_SEED", unique)
    rng = random.Random(seed)
    print(f"RELIABILITY_SEED={seed}")
    kafka_port = free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    broker = start_tansu(kafka_port, log_file=tmp_path / "tansu.log")
    create_topics(bootstrap, partitions=6)
    sink = SmtpSink(tmp_path / "mail", free_port()).start()
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INGEST_API_TOKENS": FORM, "OWNERS_FILE": str(OWNERS),
        "SMTP_PORT": str(sink.port), "SMTP_TIMEOUT_SECONDS": "5", "WEBHOOK_TIMEOUT_SECONDS": "5",
        "KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500", "INGEST_RELAY_MAX_BACKOFF_SECONDS": "1",
        "NOTIFY_RETRY_BASE_SECONDS": "1", "WORKSPACE_SECRET": SECRET, "WORKSPACE_SECURE_COOKIES": "false",
        "WORKSPACE_BASE_URL": urls["workspace"],
    }  # fmt: skip
    databases = {name: f"sqlite:///{tmp_path}/{name}.sqlite3" for name in ("ingest", "classify", "notify", "workspace")}
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", f"feedback_{name}.app:create_app",
                   "--host", "127.0.0.1", "--port", str(ports[name])]  # fmt: skip
        service_env = {**env, "DATABASE_URL": databases[name]} if name in databases else env
        processes[name] = subprocess.Popen(
            command, env=service_env, stdout=(tmp_path / f"{name}.log").open("ab"), stderr=subprocess.STDOUT
        )

    def ready(name: str) -> bool:
        try:
            return httpx.get(f"{urls[name]}/readyz", timeout=2).status_code in (200, 204)
        except httpx.HTTPError:
            return False

    accepted: list[str] = []
    posting_done = threading.Event()

    def post_all() -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(total):
                body = {**seed002_response, "response_id": f"chaos-{unique}-{n}"}
                for _ in range(50):  # the form retries while ingest is being restarted
                    try:
                        answer = client.post(
                            f"{urls['ingest']}/v1/responses", json=body, headers={"Authorization": f"Bearer {FORM}"}
                        )
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    if answer.status_code in (200, 202):
                        accepted.append(body["response_id"])
                        break
                    time.sleep(0.2)
                time.sleep(0.05)
        posting_done.set()

    owners = _expected_owners(seed002_response)
    stop_working = threading.Event()
    workers = [OwnerAtWork(o, urls["workspace"], random.Random(f"{seed}-{o}"), stop_working)
               for o in rng.sample(owners, min(WORKING_OWNERS, len(owners)))]  # fmt: skip
    threads: list[threading.Thread] = []
    office = httpx.Client(base_url=urls["workspace"], timeout=10)
    try:
        for name in SERVICES:
            start(name)
        for name in SERVICES:
            eventually(lambda name=name: ready(name), timeout=60, what=f"{name} to start")
        poster = threading.Thread(target=post_all, daemon=True)
        poster.start()
        threads = [worker.start() for worker in workers]
        # The kills begin once owners are at work: each death then lands among their state changes too.
        eventually(lambda: any(w.saved for w in workers) or any(w.failures for w in workers), timeout=120,
                   what="an owner to save a state")  # fmt: skip
        for name in rng.sample(SERVICES, len(SERVICES)):
            time.sleep(rng.uniform(0.5, 2.5))
            processes[name].send_signal(signal.SIGKILL)
            processes[name].wait(10)
            time.sleep(rng.uniform(0.2, 1.5))
            start(name)
            eventually(lambda name=name: ready(name), timeout=60, what=f"{name} to restart")
        assert posting_done.wait(600), "posting did not finish"
        expected = {
            message_id(DeliveryKey(owner, "email", rid, 1), "example.org") for rid in accepted for owner in owners
        }

        def delivered() -> set[str]:
            return {m["Message-ID"] for m in sink.messages()}

        eventually(lambda: expected <= delivered(), timeout=600, what=f"{len(expected)} alerts")
        stop_working.set()
        for thread in threads:
            thread.join(30)
        events = classified_events(bootstrap, f"chaos-{unique}-")
        wanted = expected_items(events)
        # The strategy office sees every item once the workspace has caught up with the topic.
        sign_in(office, load_owners(OWNERS).default_owner)
        eventually(lambda: office_total(office) == len(wanted), timeout=300, what=f"{len(wanted)} items")
        time.sleep(2)
        got = delivered()
    finally:
        stop_working.set()
        office.close()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.stop()
        stop_process(broker)
    assert len(accepted) == total
    assert got == expected  # zero missing, and nothing that should not have been sent

    # Every routed paragraph is an item exactly once: one item per owner, statement and section, with the
    # latest revision's routed paragraphs for that owner and section.
    assert set(events) == set(accepted)
    items, withdrawn = asyncio.run(stored_items(databases["workspace"]))
    keys = [(i["owner_id"], i["response_id"], i["section_id"]) for i in items]
    assert len(keys) == len(set(keys)), "an owner has two items for one statement and section"
    assert set(keys) == set(wanted)
    assert withdrawn == 0
    for item in items:
        shown = [(p["index"], p["text"]) for p in item["paragraphs"]]
        assert shown == wanted[(item["owner_id"], item["response_id"], item["section_id"])], item["id"]

    # No state or note an owner saved is lost; a change whose answer never came was kept whole or not at all.
    by_id = {i["id"]: i for i in items}
    for worker in workers:
        assert not worker.failures, f"{worker.owner_id}: {worker.failures}"
        assert not worker.refused, f"{worker.owner_id}: changes refused: {worker.refused}"
        assert worker.saved, f"{worker.owner_id} saved nothing"
        for item_id, (state, note) in worker.saved.items():
            item = by_id[item_id]
            assert item["owner_id"] == worker.owner_id
            assert (item["state"].value, item["note"]) == (state, note), f"item {item_id} lost what was saved"
        for item_id, (state, note) in worker.unsure.items():
            item = by_id[item_id]
            assert (item["state"].value, item["note"]) in {(state, note), ("uusi", None)}, item_id
    print(
        f"{len(accepted)} statements, {len(items)} items; owners saved "
        + ", ".join(f"{w.owner_id} {len(w.saved)} (+{len(w.unsure)} unanswered)" for w in workers)
    )
