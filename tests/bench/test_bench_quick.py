"""`python -m bench --quick` (`make bench-quick`), run as CI runs the test suite, so the benchmark cannot rot: every
phase with tiny loads (a real broker, uvicorn, `feedback dev up`, SQLite and PostgreSQL), then the report.

What it asserts: the run succeeded and the report has each section's figures. Never how fast anything was: the
quick run's numbers say nothing, and a slow machine is not a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The same server the store tests use (tests/conftest.py); bench creates and drops its own database on it.
POSTGRES = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SERVICES = ("ingest", "classify", "notify", "workspace")
# Each section of the report, and a table row that must carry a number in it.
SECTIONS = {
    "## Targets": "ingest, SQLite: accepted responses/s",
    "## 1. Ingest: POST /v1/responses": "ingest, SQLite",
    "### CPU per statement, at": "ingest + classify + notify",
    "### CPU per response against its floor (SQLite)": "parse and validate",
    "## 2. Pipeline end to end": "| 10 |",
    "### Highest sustained rate": "| probe |",
    "## 3. Transport ceiling": "produce, batched",
    "## 4. Classifier": "warm:",
    "## 5. Resident memory": "| notify |",
    "## 6. Workspace": "| statement page |",
    "## 7. Reports: the strategy office's xlsx and docx": "| sqlite | xlsx |",
    "## 8. Corrections": "POST to the new owner's alert",
}

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    folder = tmp_path_factory.mktemp("bench")
    report, results = folder / "benchmarks.md", folder / "results.json"
    # The benchmark starts its own broker per phase and gives the services their own databases.
    unset = {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "NOTIFY_DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {"BENCH_POSTGRES_URL": POSTGRES}
    command = [sys.executable, "-m", "bench", "--quick", "--output", str(report), "--json", str(results)]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=270, check=False)
    assert run.returncode == 0, (
        f"`python -m bench --quick` exited {run.returncode}:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    )
    return report.read_text(encoding="utf-8"), json.loads(results.read_text(encoding="utf-8"))


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = [m.start() for m in re.finditer(r"^#{2,3} ", text[start + len(heading) :], re.MULTILINE)]
    return text[start : start + len(heading) + following[0]] if following else text[start:]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_quick_run_reports_every_section(quick_run: tuple[str, dict]) -> None:
    text, results = quick_run
    assert results["quick"] is True
    assert "Quick run" in text and "not figures" in text
    assert "_Failed" not in text and "failed:" not in text and "_Not run" not in text
    for heading, row in SECTIONS.items():
        section = _section(text, heading)
        lines = [line for line in section.splitlines() if line.startswith("|") and row in line]
        assert lines, f"{heading}: no row with {row!r}"
        assert any(re.search(r"\d", line.split("|", 2)[2]) for line in lines), f"{heading}: {lines[0]} has no figure"
    # Every target has its figure, except the sustained rate: whether a rate held is the machine's finding.
    targets = _section(text, "## Targets").splitlines()[4:]
    for line in targets:
        if line.startswith("|") and "sustained" not in line:
            assert line.split("|")[3].strip() not in ("", "–"), f"a target without a figure: {line}"
    # The yardsticks of issue #18: ingest against its peer, and CPU per unit of work against a limit.
    assert any("ingest ÷ peer" in line for line in targets)
    assert any("ingest CPU per accepted response" in line for line in targets)
    assert any("CPU per full-size statement, ingest + classify + notify" in line for line in targets)


def test_the_report_names_the_event_loop_and_parser_each_server_ran_on(quick_run: tuple[str, dict]) -> None:
    """uvicorn[standard] is a dependency of every service: uvicorn picks uvloop and httptools, and the report says
    so from what each server process had loaded, not from what is installed."""
    text, results = quick_run
    (row,) = [line for line in _section(text, "## Machine").splitlines() if "uvicorn runs on" in line]
    assert "uvloop + httptools" in row and "h11" not in row
    for target, outcome in results["ingest"]["targets"].items():
        assert outcome["uvicorn"] == "uvloop + httptools", target
    assert set(results["pipeline"]["uvicorn"].values()) == {"uvloop + httptools"}


def test_quick_run_measured_every_phase(quick_run: tuple[str, dict]) -> None:
    _, results = quick_run
    for phase in ("classifier", "transport", "ingest", "workspace", "reports", "corrections", "pipeline"):
        assert "error" not in results[phase], results[phase]["error"]
        assert not results[phase]["leftovers"], f"{phase} left processes behind"

    classifier = results["classifier"]
    assert classifier["paragraphs"] > 0
    assert all(_number(classifier[key]) for key in ("cold_rate", "warm_rate"))
    assert _number(classifier["startup_build_s"]["median"])

    transport = results["transport"]
    assert transport["received"] == transport["messages"] > 0
    assert _number(transport["produce_rate"]) and _number(transport["consume_rate"])

    ingest = results["ingest"]
    assert set(ingest["targets"]) == {"bare", "peer", "sqlite", "postgresql"}
    for target, outcome in ingest["targets"].items():
        assert "error" not in outcome, f"{target}: {outcome['error']}"
        for run in outcome["runs"]:
            assert run["accepted"] > 0, f"{target}: nothing accepted: {run['statuses']}"
            assert _number(run["rate"]) and _number(run["latency_ms"]["p50"])
    steps = ingest["steps"]["steps_us"]
    expected = {"json", "validate", "fingerprint", "event", "accept", "accept_wall", "log", "relay_read",
                "relay_publish", "relay_mark", "relay_loop", "raw_aiokafka", "faststream_publish"}  # fmt: skip
    assert set(steps) == expected
    assert all(_number(value) for value in steps.values()), steps

    pipeline = results["pipeline"]
    assert pipeline["alerts_per_response"] > 0
    for step in pipeline["steps"]:
        assert step["alerts"] > 0 and _number(step["e2e_ms"]["p50"]), step
    assert pipeline["sustained"]["probes"]
    for service in SERVICES:
        assert _number(pipeline["rss_idle_mb"][service]) and _number(pipeline["rss_peak_mb"][service])

    workspace = results["workspace"]
    assert workspace["statements"] > 0 and workspace["routed_paragraphs"] > workspace["statements"]
    assert set(workspace["databases"]) == {"sqlite", "postgresql"}
    for database, outcome in workspace["databases"].items():
        assert "error" not in outcome, f"{database}: {outcome['error']}"
        assert set(outcome["pages"]) >= {"inbox", "inbox_text", "statement"}
        for name, page in outcome["pages"].items():
            assert page["statuses"] == {"200": page["requests"]}, f"{database} {name}: {page['statuses']}"
            assert _number(page["latency_ms"]["p95"]) and _number(page["alone"]["latency_ms"]["p50"])
            assert outcome["store"][name]["plans"], f"{database} {name}: no query plan"

    corrections = results["corrections"]
    assert corrections["corrections"] == len(corrections["timings"]) > 0
    for timing in corrections["timings"]:
        assert timing["from"] != timing["to"] and _number(timing["alert_ms"]) and _number(timing["post_ms"]), timing


@pytest.mark.parametrize(
    ("partial", "refusal"),
    [(["--quick"], "does not write"), (["--only", "classifier"], "holds full runs only")],
    ids=["quick", "only"],
)
def test_a_quick_or_partial_run_never_writes_the_committed_report(partial: list[str], refusal: str) -> None:
    """docs/benchmarks.md holds full runs only: a quick run, or a run of some phases (its figures beside none of
    the others' would read as a full run), refuses it before measuring anything."""
    committed = REPO / "docs" / "benchmarks.md"
    before = committed.read_bytes()
    run = subprocess.run(
        [sys.executable, "-m", "bench", *partial, "--output", str(committed)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and refusal in run.stderr
    assert committed.read_bytes() == before
