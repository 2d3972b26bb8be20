"""`feedback replay` republishes stored revisions through the running relay."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from feedback_contracts.events import RESPONSES_TOPIC, ResponseReceived

pytestmark = pytest.mark.integration


def _feedback(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", *args], capture_output=True, text=True, timeout=120
    )


def test_replay_republishes_the_chosen_responses_revisions_in_order(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    rid = seed002_response["response_id"] = f"replay-{unique}"
    client = make_client(ingest_settings)
    assert client.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202
    edit = {**seed002_response, "revision": 2, "answers": seed002_response["answers"][:3]}
    assert client.post("/v1/responses", json=edit, headers=form_headers).status_code == 202
    mine = lambda: [r for r in topics.read(RESPONSES_TOPIC) if r.key == rid.encode()]  # noqa: E731
    eventually(lambda: len(mine()) == 2, what="both revisions published")

    result = _feedback("replay", "--response-id", rid, "--database-url", ingest_settings.database_url)
    assert result.returncode == 0, result.stderr
    assert "queued 2 revision(s)" in result.stdout
    client.app.state.relay.notify()
    eventually(lambda: len(mine()) == 4, what="the replayed revisions")
    revisions = [ResponseReceived.model_validate_json(r.value).revision for r in mine()]
    assert revisions == [1, 2, 1, 2]

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = _feedback("replay", "--since", later, "--database-url", ingest_settings.database_url)
    assert none.returncode == 0 and "queued 0 revision(s)" in none.stdout


def test_replay_refuses_a_time_without_a_timezone() -> None:
    result = _feedback("replay", "--since", "2026-03-01T00:00")
    assert result.returncode == 2 and "give a timezone" in result.stderr
