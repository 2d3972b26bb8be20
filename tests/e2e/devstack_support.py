"""What the end-to-end tests share: a running `feedback dev up` (the `dev_up` fixture in conftest.py starts it)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DevStack:
    """A running `feedback dev up`: its services' addresses, the mail directory of its SMTP sink, its output."""

    process: subprocess.Popen[str]
    ports: dict[str, int]
    data_dir: Path
    env: dict[str, str]
    output: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def ingest(self) -> str:
        return self.url("ingest")

    @property
    def notify(self) -> str:
        return self.url("notify")

    @property
    def workspace(self) -> str:
        return self.url("workspace")

    @property
    def mail(self) -> Path:
        return self.data_dir / "mail"

    def ready_line(self) -> str:
        return next(line for line in self.output if line.startswith("ready "))

    def stop(self) -> int | None:
        """Ctrl-C, as a developer stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


StartDevUp = Callable[..., DevStack]
