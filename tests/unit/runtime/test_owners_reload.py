"""The owners directory is reloaded without a restart; a broken edit keeps the previous directory."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from feedback_contracts.owners import OwnersDirectory
from feedback_runtime.owners_watch import OwnersWatcher

EXAMPLE = (Path(__file__).parents[3] / "config" / "owners.example.yaml").read_text(encoding="utf-8")


def test_a_changed_file_is_applied_and_an_invalid_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "owners.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    applied: list[OwnersDirectory] = []
    watcher = OwnersWatcher(path, applied.append)
    assert watcher.reload() is False  # unchanged
    path.write_text(EXAMPLE.replace("Strategiatoimisto\n", "Strategiatoimisto (uusi)\n", 1), encoding="utf-8")
    assert watcher.reload() is True and applied[-1].get("strategiatoimisto").name == "Strategiatoimisto (uusi)"
    path.write_text(EXAMPLE.replace('"5.3.1.2"', '"5.3.1.9"'), encoding="utf-8")
    assert watcher.reload() is False and len(applied) == 1
    path.write_text("owners: [", encoding="utf-8")
    assert watcher.reload() is False and len(applied) == 1


def test_sighup_reloads_at_once(tmp_path: Path) -> None:
    path = tmp_path / "owners.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    applied: list[OwnersDirectory] = []

    async def scenario() -> None:
        watcher = OwnersWatcher(path, applied.append, interval=3600)
        await watcher.start()
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(50):
                if applied:
                    break
                await asyncio.sleep(0.02)
        finally:
            await watcher.stop()

    asyncio.run(scenario())
    assert len(applied) == 1
