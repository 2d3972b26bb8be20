"""Reloading the owners directory without a restart: when its file changes, or on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from feedback_contracts.owners import OwnersDirectory, OwnersFileError, load_owners
from feedback_contracts.taxonomy import load_taxonomy

from .settings import OwnersSettings

log = logging.getLogger("feedback.owners")
T = TypeVar("T")


class OwnersWatcher:
    """Applies a changed owners file once it is valid; an invalid edit is logged and the old directory stays."""

    def __init__(self, path: Path, apply: Callable[[OwnersDirectory], None], interval: float = 5.0) -> None:
        self.path = path
        self.apply = apply
        self.interval = interval
        self._digest = self._read_digest()
        self._task: asyncio.Task[None] | None = None

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def reload(self, force: bool = False) -> bool:
        """Load the file if it changed (or when forced); True when a new directory was applied."""
        digest = self._read_digest()
        if digest is None or (digest == self._digest and not force):
            return False
        self._digest = digest
        try:
            directory = load_owners(self.path)
        except OwnersFileError as exc:
            log.error("owners file not reloaded, keeping the previous directory: %s", exc)
            return False
        problems = directory.check(load_taxonomy())
        if problems:
            log.error("owners file not reloaded, keeping the previous directory: %s", "; ".join(problems))
            return False
        self.apply(directory)
        log.info("owners directory reloaded from %s: %d owners", self.path, len(directory.owners))
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.reload()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="owners-watch")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: self.reload(force=True))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


class LiveOwners(Generic[T]):
    """What a service derives from the owners directory (the directory itself, or a router built on it), as it
    is now: built at start and rebuilt whenever the file changes to a valid directory."""

    def __init__(
        self,
        settings: OwnersSettings,
        build: Callable[[OwnersDirectory], T],
        initial: OwnersDirectory | None = None,
    ) -> None:
        self._build = build
        self.current: T = build(initial or load_owners(settings.owners_file))
        self.watcher = OwnersWatcher(settings.owners_file, self._apply, settings.owners_reload_seconds)

    def _apply(self, directory: OwnersDirectory) -> None:
        self.current = self._build(directory)
