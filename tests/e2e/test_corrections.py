"""The correction loop as support runs it on `feedback dev up`: the city of Hämeenlinna's statement (seed 000) is
posted; one paragraph is moved from its section to another with `feedback route correct`; the new owner's alert
arrives with the paragraph and the reason, and nobody else hears anything; a repost and a restart send nothing
again; an edit of the statement keeps the correction; `feedback labels export` has it; and the next statement with
a near-identical paragraph is routed to the corrected section because of it (a `precedent` reason)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from devstack_support import DevStack, StartDevUp

from feedback_cli.devstack import read_mailbox
from feedback_contracts.owners import load_owners
from feedback_contracts.taxonomy import load_taxonomy

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SEED000 = REPO / "tests" / "fixtures" / "seed000_hameenlinna.txt"
FORM, ADMIN = "e2e-corrections-form", "e2e-corrections-admin"
REASON = "Kohta koskee kansainvälistä rekrytointia, joka kuuluu henkilöstön saatavuuteen."


def feedback(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "feedback_cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.3)


def plain(message) -> str:  # noqa: ANN001
    return " ".join(message.get_body(("plain",)).get_content().split())


def mails(stack: DevStack) -> list:
    return list(read_mailbox(stack.mail))


def statement(stack: DevStack, response_id: str) -> dict | None:
    answer = httpx.get(
        f"{stack.workspace}/api/statements/{response_id}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
    )
    return answer.json() if answer.status_code == 200 else None


def post(stack: DevStack, body: dict) -> None:
    answer = httpx.post(
        f"{stack.ingest}/v1/responses", json=body, headers={"Authorization": f"Bearer {FORM}"}, timeout=30
    )
    assert answer.status_code in (200, 202), answer.text


def sections_of(paragraph: dict) -> set[str | None]:
    return {route["section_id"] for route in paragraph["routes"]}


def settle(stack: DevStack, sentinel: dict, response_id: str) -> None:
    """Post a statement of another organisation and wait for its alerts: whatever the pipeline had in hand
    before it has been delivered by then (a test that waits for nothing to happen needs an end to its wait)."""
    post(stack, {**sentinel, "response_id": response_id})
    wait_for(lambda: any(f"Lausunnon tunniste: {response_id}," in plain(m) for m in mails(stack)), "the sentinel")
    time.sleep(2)


def test_a_paragraph_moved_by_support_reaches_its_new_owner_alone_sticks_and_teaches_routing(
    dev_up: StartDevUp, unique: str, seed002_response: dict
) -> None:
    env = {"INGEST_API_TOKENS": FORM, "ADMIN_API_TOKENS": ADMIN}
    stack = dev_up(env=env)
    directory = load_owners(REPO / "config" / "owners.example.yaml")
    response_id = f"hml-corr-{unique}"
    imported = feedback(
        "import", str(SEED000), "--respondent-type", "municipality", "--response-id", response_id, env=stack.env
    )
    assert imported.returncode == 0, imported.stderr
    body = json.loads(imported.stdout)
    post(stack, body)

    # --- the statement as routed, and the alerts it gave -----------------------------------------------------
    routed = wait_for(lambda: statement(stack, response_id), "the workspace to record the statement")
    tag = f"Lausunnon tunniste: {response_id},"
    receivers = {owner for p in routed["paragraphs"] for r in p["routes"] for owner in r["owners"]}
    immediate = {o.id for o in directory.owners if o.email and o.mode == "immediate"}
    expected_mails = {", ".join(directory.get(o).email) for o in receivers & immediate}
    wait_for(lambda: {m["To"] for m in mails(stack) if tag in plain(m)} >= expected_mails, "the first alerts")

    # A paragraph routed to one section whose owner is not the default owner, moved to a section owned by
    # someone who got nothing of this statement.
    default = directory.default_owner
    candidates = [
        p for p in routed["paragraphs"]
        if len(p["routes"]) == 1 and p["routes"][0]["section_id"] and default not in p["routes"][0]["owners"]
        and len(p["text"]) > 200
    ]  # fmt: skip
    assert candidates, "seed 000 has no paragraph routed to exactly one owned section"
    paragraph = candidates[0]
    (old_route,) = paragraph["routes"]
    target, new_owner = next(
        (section.id, owner.id)
        for section in load_taxonomy().sections
        if section.id.startswith("5.") and section.id != old_route["section_id"]
        for owner in directory.owners_for(section.id)
        if owner.id not in receivers and owner.id != default and owner.id in immediate
    )
    new_address = ", ".join(directory.get(new_owner).email)
    before = {m["Message-ID"] for m in mails(stack)}

    started = time.monotonic()
    corrected = feedback(
        "route", "correct", "--response-id", response_id, "--paragraph", paragraph["paragraph_id"],
        "--add", target, "--remove", old_route["section_id"], "--reason", REASON, "--url", stack.workspace,
        env={**stack.env, "FEEDBACK_ADMIN_TOKEN": ADMIN},
    )  # fmt: skip
    assert corrected.returncode == 0, corrected.stderr

    # --- the new owner's alert: the paragraph, who moved it and why ---------------------------------------------
    def moved_alert() -> list:
        return [m for m in mails(stack) if m["To"] == new_address and tag in plain(m) and m["Message-ID"] not in before]

    (alert,) = wait_for(moved_alert, "the moved paragraph's alert", timeout=30)
    print(f"the new owner's alert arrived {time.monotonic() - started:.2f} s after the command started")
    assert "siirretty" in alert["Subject"].lower()
    text = plain(alert)
    assert REASON in text
    assert " ".join(paragraph["text"].split())[:120] in text
    after = wait_for(
        lambda: statement(stack, response_id)["routing"] == 2 and statement(stack, response_id), "routing 2"
    )
    moved = next(p for p in after["paragraphs"] if p["paragraph_id"] == paragraph["paragraph_id"])
    assert sections_of(moved) == {target}
    assert any(r["kind"] == "correction" for r in moved["routes"][0]["reasons"])

    # --- nobody else hears anything, and a repost and a restart send nothing again ---------------------------
    settle(stack, seed002_response, f"sentinel-a-{unique}")
    new_about_it = [m for m in mails(stack) if tag in plain(m) and m["Message-ID"] not in before]
    assert [m["To"] for m in new_about_it] == [new_address]
    post(stack, body)
    stack.stop()
    stack = dev_up(env=env)
    settle(stack, seed002_response, f"sentinel-b-{unique}")
    assert [m["To"] for m in mails(stack) if tag in plain(m) and m["Message-ID"] not in before] == [new_address]

    # --- an edit of another paragraph keeps the correction ------------------------------------------------------
    edited = json.loads(json.dumps(body))
    edited["revision"] = 2
    last = edited["answers"][-1]
    last["text"] = last["text"] + "\n\nLisäksi toivomme, että lausuntokierroksen tulokset julkaistaan avoimesti."
    post(stack, edited)
    revised = wait_for(lambda: (s := statement(stack, response_id)) and s["revision"] == 2 and s, "revision 2")
    kept = next(p for p in revised["paragraphs"] if p["paragraph_id"] == paragraph["paragraph_id"])
    assert sections_of(kept) == {target}
    assert [(c["paragraph_id"], c["status"]) for c in revised["corrections"]] == [
        (paragraph["paragraph_id"], "applied")
    ]

    # --- the correction as a label -----------------------------------------------------------------------------
    exported = feedback("labels", "export", "--url", stack.workspace, env={**stack.env, "FEEDBACK_ADMIN_TOKEN": ADMIN})
    assert exported.returncode == 0, exported.stderr
    labels = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    (label,) = [x for x in labels if x["text"] == paragraph["text"]]
    assert label["must"] == [target] and label["question"] == paragraph["question"]
    assert label["respondent_type"] == "municipality"

    # --- the next statement with a near-identical paragraph follows the correction ------------------------------
    next_id = f"hml-next-{unique}"
    near = paragraph["text"].rstrip(".") + ", ja tätä pidämme tärkeänä."
    follower = {**body, "response_id": next_id, "answers": [{"question": paragraph["question"], "text": near}]}
    follower["respondent"] = {**body["respondent"], "organization": "Hattulan kunta"}
    post(stack, follower)
    routed_next = wait_for(lambda: statement(stack, next_id), "the next statement")
    (only,) = routed_next["paragraphs"]
    assert target in sections_of(only)
    reasons = [r for route in only["routes"] if route["section_id"] == target for r in route["reasons"]]
    precedent = next(r for r in reasons if r["kind"] == "precedent")
    assert precedent["precedent"]["response_id"] == response_id
