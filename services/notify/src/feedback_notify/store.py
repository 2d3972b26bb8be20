"""Notify's durable state: what each owner last received of each response, the delivery jobs (the
delivery log), and the items waiting for a digest. SQLite by default, PostgreSQL when DATABASE_URL says so.

Handling a classified event only writes here, in one transaction, before the Kafka message is
acknowledged; a separate worker sends what is due. So a mail server that is down for an hour holds
back nothing but its own deliveries, and loses nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback_contracts.dburl import async_database_url, async_engine

metadata = MetaData()

snapshots = Table(
    "snapshots",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("owner_id", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("content", Text, nullable=False),  # JSON: the paragraphs this owner received of that revision
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "deliveries",
    metadata,
    Column("key", String(400), primary_key=True),  # owner:channel:response:revision, or owner:channel:digest:...
    Column("owner_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # JSON of the Alert to render
    Column("status", String(16), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    # A worker claims a job before sending it, so two replicas never send the same job at once.
    Column("lease_until", DateTime(timezone=True), nullable=True),
)
Index("ix_deliveries_due", jobs.c.status, jobs.c.next_attempt_at)

digest_items = Table(
    "digest_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(64), nullable=False),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("payload", Text, nullable=False),  # JSON of the owner's part of that revision
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("digest_key", String(400), nullable=True),
    UniqueConstraint("owner_id", "response_id", "revision", name="uq_digest_item"),
)
Index("ix_digest_items_pending", digest_items.c.owner_id, digest_items.c.digest_key)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Job:
    key: str
    owner_id: str
    channel: str
    mode: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    received_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class NewJob:
    key: str
    owner_id: str
    channel: str
    mode: str
    kind: str
    payload: dict[str, Any]
    received_at: datetime | None


@dataclass(frozen=True)
class NewDigestItem:
    owner_id: str
    response_id: str
    revision: int
    payload: dict[str, Any]


class NotifyStore:
    def __init__(self, url: str) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: AsyncEngine = async_engine(self.url)
        self._lock = asyncio.Lock() if self.is_sqlite else None

    async def create(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(1))
            return True
        except Exception:
            return False

    class _Write:
        def __init__(self, store: NotifyStore) -> None:
            self.store = store

        async def __aenter__(self) -> AsyncConnection:
            if self.store._lock is not None:
                await self.store._lock.acquire()
            self.context = self.store.engine.begin()
            return await self.context.__aenter__()

        async def __aexit__(self, *exc: object) -> None:
            try:
                await self.context.__aexit__(*exc)  # type: ignore[arg-type]
            finally:
                if self.store._lock is not None:
                    self.store._lock.release()

    def write(self) -> NotifyStore._Write:
        """A write transaction (serialised on SQLite, which has one writer at a time)."""
        return NotifyStore._Write(self)

    # Within a write transaction -----------------------------------------------------------------

    @staticmethod
    async def snapshot(conn: AsyncConnection, response_id: str, owner_id: str) -> tuple[int, dict[str, Any]] | None:
        row = (
            await conn.execute(
                select(snapshots.c.revision, snapshots.c.content).where(
                    snapshots.c.response_id == response_id, snapshots.c.owner_id == owner_id
                )
            )
        ).first()
        return (row.revision, json.loads(row.content)) if row else None

    @staticmethod
    async def owners_with_snapshots(conn: AsyncConnection, response_id: str) -> list[str]:
        rows = await conn.execute(select(snapshots.c.owner_id).where(snapshots.c.response_id == response_id))
        return [r.owner_id for r in rows]

    @staticmethod
    async def save_snapshot(
        conn: AsyncConnection, response_id: str, owner_id: str, revision: int, content: dict[str, Any], now: datetime
    ) -> None:
        values = dict(revision=revision, content=json.dumps(content, ensure_ascii=False), updated_at=now)
        changed = await conn.execute(
            update(snapshots)
            .where(snapshots.c.response_id == response_id, snapshots.c.owner_id == owner_id)
            .values(**values)
        )
        if not changed.rowcount:
            await conn.execute(insert(snapshots).values(response_id=response_id, owner_id=owner_id, **values))

    async def add_job(self, conn: AsyncConnection, job: NewJob, now: datetime) -> bool:
        """Queue a delivery; False when its key is already in the log (sent, due, or dead)."""
        exists = (await conn.execute(select(jobs.c.key).where(jobs.c.key == job.key))).first()
        if exists:
            return False
        await conn.execute(
            insert(jobs).values(
                key=job.key,
                owner_id=job.owner_id,
                channel=job.channel,
                mode=job.mode,
                kind=job.kind,
                payload=json.dumps(job.payload, ensure_ascii=False),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                received_at=job.received_at,
                created_at=now,
            )  # fmt: skip
        )
        return True

    @staticmethod
    async def add_digest_item(conn: AsyncConnection, item: NewDigestItem, now: datetime) -> bool:
        exists = (
            await conn.execute(
                select(digest_items.c.id).where(
                    digest_items.c.owner_id == item.owner_id,
                    digest_items.c.response_id == item.response_id,
                    digest_items.c.revision == item.revision,
                )
            )
        ).first()
        if exists:
            return False
        await conn.execute(
            insert(digest_items).values(
                owner_id=item.owner_id,
                response_id=item.response_id,
                revision=item.revision,
                payload=json.dumps(item.payload, ensure_ascii=False),
                created_at=now,
            )  # fmt: skip
        )
        return True

    # The worker's side --------------------------------------------------------------------------

    async def due(self, now: datetime, limit: int) -> list[Job]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(jobs)
                .where(
                    jobs.c.status == "pending",
                    jobs.c.next_attempt_at <= now,
                    or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
                )
                .order_by(jobs.c.next_attempt_at, jobs.c.created_at)
                .limit(limit)
            )
            return [
                Job(r.key, r.owner_id, r.channel, r.mode, r.kind, json.loads(r.payload), r.attempts,
                    _utc(r.received_at), _utc(r.created_at))  # type: ignore[arg-type]
                for r in rows
            ]  # fmt: skip

    async def claim(self, key: str, now: datetime, lease: timedelta) -> bool:
        """Take a due job for `lease`; False when another worker holds it or it is no longer pending."""
        async with self.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(
                    jobs.c.key == key,
                    jobs.c.status == "pending",
                    or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
                )
                .values(lease_until=now + lease)
            )
        return bool(result.rowcount)

    async def next_due(self) -> datetime | None:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(func.min(jobs.c.next_attempt_at)).where(jobs.c.status == "pending"))
            ).scalar()
        return _utc(value)

    async def settle(self, key: str, status: str, now: datetime, error: str | None = None) -> None:
        async with self.write() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.key == key)
                .values(
                    status=status,
                    delivered_at=now if status == "delivered" else None,
                    last_error=error,
                    attempts=jobs.c.attempts + 1,
                    lease_until=None,
                )
            )

    async def retry_later(self, key: str, at: datetime, error: str) -> None:
        async with self.write() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.key == key)
                .values(next_attempt_at=at, last_error=error, attempts=jobs.c.attempts + 1, lease_until=None)
            )

    async def status(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(jobs.c.status).where(jobs.c.key == key))).scalar()

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            result = {r[0]: int(r[1]) for r in rows}
            pending_items = (
                await conn.execute(
                    select(func.count()).select_from(digest_items).where(digest_items.c.digest_key.is_(None))
                )
            ).scalar()
        result["digest_items_pending"] = int(pending_items or 0)
        return result

    # Digests --------------------------------------------------------------------------------------

    async def recorded_revisions(self) -> dict[str, int]:
        """Per response, the latest revision notify has recorded for any owner."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(snapshots.c.response_id, func.max(snapshots.c.revision)).group_by(snapshots.c.response_id)
            )
            return {r[0]: int(r[1]) for r in rows}

    async def owners_with_pending_items(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(digest_items.c.owner_id).where(digest_items.c.digest_key.is_(None)).distinct()
            )
            return [r.owner_id for r in rows]

    async def digest_exists(self, keys: list[str]) -> bool:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(jobs.c.key).where(jobs.c.key.in_(keys)).limit(1))).first()
        return row is not None

    async def create_digest(self, owner_id: str, digest_id: str, channels: list[str], now: datetime, build: Any) -> int:
        """Gather the owner's pending items into one digest per channel; 0 when nothing waits (no empty digest)."""
        async with self.write() as conn:
            rows = (
                await conn.execute(
                    select(digest_items)
                    .where(digest_items.c.owner_id == owner_id, digest_items.c.digest_key.is_(None))
                    .order_by(digest_items.c.id)
                )
            ).all()
            if not rows:
                return 0
            payload = build([json.loads(r.payload) for r in rows])
            received = min((_utc(r.created_at) for r in rows), default=None)
            for channel in channels:
                key = f"{owner_id}:{channel}:digest:{digest_id}"
                try:
                    await self.add_job(conn, NewJob(key, owner_id, channel, "digest", "digest", payload, received), now)
                except IntegrityError:
                    pass
            await conn.execute(
                update(digest_items)
                .where(digest_items.c.id.in_([r.id for r in rows]))
                .values(digest_key=f"{owner_id}:digest:{digest_id}")
            )
            return len(rows)
