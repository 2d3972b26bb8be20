"""`feedback route correct` and `feedback labels export` as support runs them, against a running workspace (uvicorn
on a free port, the real broker, SQLite and PostgreSQL), with the token in FEEDBACK_ADMIN_TOKEN: the correction
printed, a refusal said clearly with exit status 2, the labels written as JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from corrections_support import ADMIN_TOKEN, paragraph_of, served_with_api
from workspace_support import Workspace, classified, seed002

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[Workspace]:
    """conftest's workspace, with a token for its API."""
    yield from served_with_api(kafka_bootstrap, database_url, unique)


REASON = "Kyse on henkilöstön saatavuudesta."


def feedback(*args: str, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_API_TOKENS", "WORKSPACE_URL", "WORKSPACE_BASE_URL")}
    env["FEEDBACK_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_route_correct_prints_the_correction_and_labels_export_writes_it(workspace, tmp_path: Path) -> None:
    event = classified(seed002(), response_id="komennolla")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    command = ["route", "correct", "--response-id", event.response_id, "--paragraph", paragraph, "--add", "5.4.3",
               "--remove", "5.2.2", "--reason", REASON, "--url", workspace.url]  # fmt: skip

    done = feedback(*command)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["paragraph_id"], printed["add"], printed["remove"], printed["reason"], printed["by_role"]) == (
        paragraph, ["5.4.3"], ["5.2.2"], REASON, "strategiatoimisto",
    )  # fmt: skip
    assert printed["correction_id"].startswith("correction-") and printed["status"] == "pending"

    again = feedback(*command)
    assert again.returncode == 2, "the paragraph has 5.4.3 now"
    assert again.stderr.strip() == "error: 409: the paragraph is already routed to section 5.4.3"
    unknown = feedback(*command[:-4], "--add", "9.9", "--reason", REASON, "--url", workspace.url)
    assert unknown.returncode == 2 and "unknown section '9.9'" in unknown.stderr
    assert feedback(*command, token="vaara").returncode == 2

    output = tmp_path / "labels" / "korjaukset.jsonl"
    exported = feedback("labels", "export", "--url", workspace.url, "--output", str(output))
    assert exported.returncode == 0, exported.stderr
    (label,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert (label["doc"], label["paragraph_id"], label["must"], label["correction_ids"]) == (
        event.response_id, paragraph, ["5.4.3"], [printed["correction_id"]],
    )  # fmt: skip
    assert exported.stderr.strip().endswith(f"1 corrected paragraphs written to {output}")
    later = feedback("labels", "export", "--url", workspace.url, "--since", "2999-01-01T00:00:00+02:00")
    assert later.returncode == 0 and later.stdout == ""
