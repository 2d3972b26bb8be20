"""`feedback dev up` as a developer runs it, once for every end-to-end test: free ports, its own data directory,
the output kept, Ctrl-C at the end (and a kill if that does not stop it)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedback_cli.devstack import free_port

# devstack_support here, and the workspace tests' browser support, importable by this directory's tests too.
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "integration" / "workspace")]
from browser_support import browser  # noqa: E402, F401 - Chromium for one test, a fixture
from devstack_support import DevStack, StartDevUp  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "classify", "notify", "workspace", "smtp")
# Settings dev up chooses itself (a generated secret, SQLite files in its data directory): a developer's shell
# or another test's environment must not leak into the stack under test.
DEV_UP_OWN = (
    "DATABASE_URL", "NOTIFY_DATABASE_URL", "WORKSPACE_DATABASE_URL", "CLASSIFY_DATABASE_URL", "STATEMENT_BASE_URL",
    "WORKSPACE_SECRET", "WORKSPACE_BASE_URL",
)  # fmt: skip


@pytest.fixture
def dev_up(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StartDevUp]:
    """Starts `feedback dev up` with `env` added to the environment and `args` added to the command line (`ports`
    names ports chosen beforehand, e.g. of an SMTP server the test runs itself); waits for its `ready` line;
    stops it after the test."""
    started: list[DevStack] = []

    def start(*args: str, env: dict[str, str] | None = None, ports: dict[str, int] | None = None) -> DevStack:
        ports = {**{name: free_port() for name in SERVICES}, **(ports or {})}
        data_dir = tmp_path / "var"
        command = [
            sys.executable, "-m", "feedback_cli.main", "dev", "up", "--data-dir", str(data_dir),
            *(arg for name in SERVICES for arg in (f"--{name}-port", str(ports[name]))), *args,
        ]  # fmt: skip
        environment = {key: value for key, value in os.environ.items() if key not in DEV_UP_OWN}
        environment.update({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **(env or {})})
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
        )
        stack = DevStack(process, ports, data_dir, environment)
        started.append(stack)
        ready = threading.Event()

        def pump() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                stack.output.append(line)
                if line.startswith("ready "):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(120), "dev up never printed 'ready':\n" + "".join(stack.output[-60:])
        return stack

    try:
        yield start
    finally:
        for stack in started:
            stack.stop()
