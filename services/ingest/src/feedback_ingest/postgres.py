"""The store on PostgreSQL (asyncpg): every write one transaction of core.py's statements on the async engine;
accepts up to POSTGRES_WRITERS groups at once, each writer on a connection of its own that it keeps while
there is work (row locks and unique keys keep concurrent groups correct)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from .core import CoreRepository, accept_group, accepting, describe
from .repository import StoreError
from .rules import AcceptResult, ConflictError, PostedRevision

T = TypeVar("T")
# How many groups may be in flight at once. A group waits on several round trips to the server, during each
# of which the event loop serves other requests; one at a time, that latency caps the rate.
POSTGRES_WRITERS = 4


class PostgresRepository(CoreRepository):
    writers = POSTGRES_WRITERS

    async def _write(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    async def writer(self) -> _ConnectionWriter:
        try:
            return _ConnectionWriter(await self.engine.connect())
        except DBAPIError as exc:
            raise StoreError(describe(exc)) from None


class _ConnectionWriter:
    """Groups written on one connection, a transaction each."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult | ConflictError]:
        async def write() -> list[AcceptResult | ConflictError]:
            async with self.conn.begin():
                return await self.conn.run_sync(accept_group, group)

        return await accepting(write)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.conn.close()
