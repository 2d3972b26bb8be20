"""Notify's durable state: what each owner last received of each response, the delivery jobs (the
delivery log), and the items waiting for a digest. SQLite by default, PostgreSQL when DATABASE_URL says so.

Handling a classified event only writes here, in one transaction, before the Kafka message is
acknowledged; a separate worker sends what is due. So a mail server that is down for an hour holds
back nothing but its own deliveries, and loses nothing.

`NotifyStore` implements the service layer's port, `delivery_log.DeliveryLog`, with SQLAlchemy Core. Every
operation is a plain function of a Connection run as one unit: on SQLite in one hop to the store's own
thread, which holds the one connection that writes (BEGIN IMMEDIATE: a writer in another process waits
rather than interleaves); on PostgreSQL through the async driver. A transaction through aiosqlite cost a
thread round trip per statement, cursor and commit, which had come to more CPU than the SQL itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Integer, Update, and_, bindparam, func, insert, or_, select, update

from feedback_runtime.db import Transactions

from .delivery_log import BuildDigest, Decide, Job, NewDigestItem, NewJob, Outcome, Recorded, Snapshot
from .keys import DeliveryKey, digest_items_key
from .schema import digest_items, jobs, snapshots

T = TypeVar("T")


class NotifyStore:
    """The delivery log on SQLAlchemy Core (SQLite or PostgreSQL): implements `delivery_log.DeliveryLog`."""

    def __init__(self, url: str) -> None:
        self.transactions = Transactions(url, "notify-sqlite")
        self.url = self.transactions.url
        self.is_sqlite = self.transactions.is_sqlite
        self._claim = _claim_statement(self.is_sqlite)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction, committed when it returns (rolled back when it raises)."""
        return await self.transactions.run(work)

    async def create(self) -> None:
        """Bring the schema up to date with the migrations (a database made before them is adopted)."""
        from .migrations import migrate_on_start

        await migrate_on_start(self.url)

    async def close(self) -> None:
        await self.transactions.close()

    async def ping(self) -> bool:
        return await self.transactions.ping()

    # Intake -------------------------------------------------------------------------------------

    async def record_revision(self, response_id: str, decide: Decide, now: datetime) -> Recorded:
        """In one transaction: every owner's snapshot of the response to `decide`, then its snapshots, jobs and
        digest items written in bulk (a handful of statements per event, whatever the number of owners)."""

        def work(conn: Connection) -> Recorded:
            stored = _snapshots_of(conn, response_id)
            decision = decide(stored)
            _save_snapshots(conn, response_id, decision.snapshots, set(stored), now)
            items = _add_digest_items(conn, decision.digest_items, now)
            return Recorded(decision, jobs=_add_jobs(conn, decision.jobs, now), digest_items=items)

        return await self.run(work)

    async def queue(self, new: list[NewJob], now: datetime) -> int:
        """Queue deliveries whose keys are not in the log yet; how many were new."""
        return await self.run(lambda conn: _add_jobs(conn, new, now))

    # The worker's side --------------------------------------------------------------------------

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Job]:
        """Lease up to `limit` due jobs, soonest due first, in one transaction: no other worker (or replica)
        takes them until the lease lapses, and a worker that dies with them leaves them to others after that."""
        lease_until = now + lease
        params = {"now": now, "limit": limit, "lease": lease_until}
        rows = await self.run(lambda conn: conn.execute(self._claim, params).all())
        rows.sort(key=lambda r: (_utc(r.next_attempt_at), _utc(r.created_at)))
        return [
            Job(DeliveryKey.parse(r.key), r.mode, r.kind, json.loads(r.payload), r.attempts, _utc(r.received_at),
                _utc(r.created_at), lease_until, _utc(r.retry_from))  # type: ignore[arg-type]
            for r in rows
        ]  # fmt: skip

    async def settle(self, outcomes: list[Outcome], now: datetime) -> None:
        """Record what became of claimed jobs, all in one transaction, and end their leases."""
        final = [
            {"k": o.key.text, "s": o.status, "d": (o.at or now) if o.status == "delivered" else None, "e": o.error}
            for o in outcomes
            if o.status in ("delivered", "dead")
        ]
        retries = [{"k": o.key.text, "n": o.next_attempt_at, "e": o.error} for o in outcomes if o.status == "retry"]
        released = [{"k": o.key.text} for o in outcomes if o.status == "released"]
        if not (final or retries or released):
            return

        def work(conn: Connection) -> None:
            if final:
                conn.execute(_SETTLE_FINAL, final)
            if retries:
                conn.execute(_SETTLE_RETRY, retries)
            if released:
                conn.execute(_SETTLE_RELEASED, released)

        await self.run(work)

    async def next_due(self) -> datetime | None:
        statement = select(func.min(jobs.c.next_attempt_at)).where(jobs.c.status == "pending")
        return _utc(await self.run(lambda conn: conn.execute(statement).scalar()))

    async def requeue_dead(self, now: datetime, owner_id: str | None = None, since: datetime | None = None) -> int:
        """Give dead deliveries created at or after `since` (refused for good, or retried past the give-up time)
        a new start: due now, no attempts yet, a fresh give-up time. Their payload is what was routed; the owner's address is read at
        send time, so a corrected owners directory applies. Returns how many were requeued."""
        statement = update(jobs).where(jobs.c.status == "dead")
        if owner_id is not None:
            statement = statement.where(jobs.c.owner_id == owner_id)
        if since is not None:
            # SQLite keeps no time zone (what is stored is UTC): compare in UTC on both.
            statement = statement.where(jobs.c.created_at >= since.astimezone(UTC))
        # created_at stays (it orders an owner's deliveries and is what --since means); the give-up clock
        # restarts at retry_from.
        statement = statement.values(
            status="pending", attempts=0, next_attempt_at=now, lease_until=None, retry_from=now
        )
        return await self.run(lambda conn: conn.execute(statement).rowcount)

    async def status(self, key: DeliveryKey) -> str | None:
        statement = select(jobs.c.status).where(jobs.c.key == key.text)
        return await self.run(lambda conn: conn.execute(statement).scalar())

    async def counts(self) -> dict[str, int]:
        """Pending deliveries and digest items waiting for a digest."""

        def work(conn: Connection) -> dict[str, int]:
            # Only what is still to do: the index on (status, next_attempt_at) counts it without reading the
            # whole delivery log, which grows with every alert ever sent.
            pending = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.status == "pending")).scalar()
            items = conn.execute(
                select(func.count()).select_from(digest_items).where(digest_items.c.digest_key.is_(None))
            ).scalar()
            return {"pending": int(pending or 0), "digest_items_pending": int(items or 0)}

        return await self.run(work)

    # Digests --------------------------------------------------------------------------------------

    async def recorded_revisions(self) -> dict[str, int]:
        """Per response, the latest revision notify has recorded for any owner."""
        statement = select(snapshots.c.response_id, func.max(snapshots.c.revision)).group_by(snapshots.c.response_id)
        return await self.run(lambda conn: {r[0]: int(r[1]) for r in conn.execute(statement)})

    async def owners_with_pending_items(self) -> list[str]:
        statement = select(digest_items.c.owner_id).where(digest_items.c.digest_key.is_(None)).distinct()
        return await self.run(lambda conn: [r.owner_id for r in conn.execute(statement)])

    async def oldest_pending_items(self) -> dict[str, datetime]:
        """Per owner with items waiting for a digest, when the oldest of them arrived (at ingest)."""
        statement = (
            select(
                digest_items.c.owner_id,
                func.min(func.coalesce(digest_items.c.received_at, digest_items.c.created_at)).label("oldest"),
            )
            .where(digest_items.c.digest_key.is_(None))
            .group_by(digest_items.c.owner_id)
        )

        def work(conn: Connection) -> dict[str, datetime]:
            # SQLite keeps no time zone: what it returns was written as UTC.
            return {
                r.owner_id: r.oldest if r.oldest.tzinfo else r.oldest.replace(tzinfo=UTC)
                for r in conn.execute(statement)
            }

        return await self.run(work)

    async def digest_exists(self, keys: list[DeliveryKey]) -> bool:
        statement = select(jobs.c.key).where(jobs.c.key.in_([key.text for key in keys])).limit(1)
        return await self.run(lambda conn: conn.execute(statement).first() is not None)

    async def create_digest(
        self, owner_id: str, digest_id: str, channels: list[str], now: datetime, build: BuildDigest
    ) -> int:
        """Gather the owner's pending items into one digest per channel; 0 when nothing waits (no empty digest)."""

        def work(conn: Connection) -> int:
            rows = conn.execute(
                select(digest_items)
                .where(digest_items.c.owner_id == owner_id, digest_items.c.digest_key.is_(None))
                .order_by(digest_items.c.id)
            ).all()
            if not rows:
                return 0
            payload = build([json.loads(r.payload) for r in rows])
            received = min((_utc(r.created_at) for r in rows), default=None)
            keys = [DeliveryKey.digest(owner_id, channel, digest_id) for channel in channels]
            _add_jobs(conn, [NewJob(key, "digest", payload, received) for key in keys], now)
            conn.execute(
                update(digest_items)
                .where(digest_items.c.id.in_([r.id for r in rows]))
                .values(digest_key=digest_items_key(owner_id, digest_id))
            )
            return len(rows)

        return await self.run(work)


# The statements of the hot path, built once: building a statement and its cache key on every call cost
# SQLAlchemy more than running it (per event: its snapshots and jobs; per batch: the claim and the outcomes).
_SNAPSHOTS_OF = select(snapshots.c.owner_id, snapshots.c.revision, snapshots.c.content, snapshots.c.routing).where(
    snapshots.c.response_id == bindparam("response_id")
)
_UPDATE_SNAPSHOT = (
    update(snapshots)
    .where(snapshots.c.response_id == bindparam("r"), snapshots.c.owner_id == bindparam("o"))
    .values(revision=bindparam("v"), routing=bindparam("g"), content=bindparam("c"), updated_at=bindparam("t"))
)
_INSERT_SNAPSHOT = insert(snapshots)
_KNOWN_KEYS = select(jobs.c.key).where(jobs.c.key.in_(bindparam("keys", expanding=True)))
_INSERT_JOB = insert(jobs)
_SETTLE_FINAL = (
    update(jobs)
    .where(jobs.c.key == bindparam("k"))
    .values(status=bindparam("s"), delivered_at=bindparam("d"), last_error=bindparam("e"),
            attempts=jobs.c.attempts + 1, lease_until=None)
)  # fmt: skip
_SETTLE_RETRY = (
    update(jobs)
    .where(jobs.c.key == bindparam("k"))
    .values(next_attempt_at=bindparam("n"), last_error=bindparam("e"), attempts=jobs.c.attempts + 1, lease_until=None)
)
_SETTLE_RELEASED = update(jobs).where(jobs.c.key == bindparam("k"), jobs.c.status == "pending").values(lease_until=None)


def _claim_statement(is_sqlite: bool) -> Update:
    """The claim (`NotifyStore.claim_due`), with the parameters `now`, `limit` and `lease` (when the lease ends)."""
    now = bindparam("now", type_=jobs.c.next_attempt_at.type)
    claimable = (
        jobs.c.status == "pending",
        jobs.c.next_attempt_at <= now,
        or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
    )
    # In due order along the index on (status, next_attempt_at), stopping after `limit`: the backlog's
    # size does not matter. Jobs due at the same moment go in the order they were queued.
    due = select(jobs.c.key).where(*claimable).order_by(jobs.c.next_attempt_at).limit(bindparam("limit", type_=Integer))
    if is_sqlite:
        # The transaction holds SQLite's write lock from its start: nobody claims in between. (Repeating
        # the conditions here would make SQLite walk the whole backlog instead of the primary key.)
        chosen = jobs.c.key.in_(due.scalar_subquery())
    else:
        # Chosen once (a sub-select here could be run again per row, each time taking `limit` more) and
        # locked, so replicas claiming at once take different jobs; a job changed meanwhile is checked again.
        locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        chosen = and_(jobs.c.key == locked.c.key, *claimable)
    return (
        update(jobs)
        .where(chosen)
        .values(lease_until=bindparam("lease", type_=jobs.c.lease_until.type))
        .returning(jobs.c.key, jobs.c.mode, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.received_at,
                   jobs.c.created_at, jobs.c.next_attempt_at, jobs.c.retry_from)
    )  # fmt: skip


# Within a transaction -----------------------------------------------------------------------------


def _snapshots_of(conn: Connection, response_id: str) -> dict[str, Snapshot]:
    """Per owner, the revision, routing and content they last received of this response."""
    rows = conn.execute(_SNAPSHOTS_OF, {"response_id": response_id})
    return {r.owner_id: Snapshot(r.owner_id, r.revision, json.loads(r.content), r.routing) for r in rows}


def _save_snapshots(
    conn: Connection, response_id: str, changed: list[Snapshot], existing: set[str], now: datetime
) -> None:
    """Record what each owner in `changed` now has of the response; `existing`: owners with a snapshot."""
    rows = [
        {"r": response_id, "o": s.owner_id, "v": s.revision, "g": s.routing,
         "c": json.dumps(s.content, ensure_ascii=False), "t": now}
        for s in changed
    ]  # fmt: skip
    updates = [row for row in rows if row["o"] in existing]
    inserts = [row for row in rows if row["o"] not in existing]
    if updates:
        conn.execute(_UPDATE_SNAPSHOT, updates)
    if inserts:
        conn.execute(
            _INSERT_SNAPSHOT,
            [{"response_id": row["r"], "owner_id": row["o"], "revision": row["v"], "routing": row["g"],
              "content": row["c"], "updated_at": row["t"]} for row in inserts],
        )  # fmt: skip


def _add_jobs(conn: Connection, new: list[NewJob], now: datetime) -> int:
    """Queue deliveries whose keys are not in the log yet (sent, due, or dead); returns how many were new."""
    if not new:
        return 0
    by_key = {job.key.text: job for job in new}
    known = set(conn.execute(_KNOWN_KEYS, {"keys": list(by_key)}).scalars())
    rows = [
        {"key": key, "owner_id": job.owner_id, "channel": job.channel, "mode": job.mode, "kind": job.kind,
         "payload": _json(job.payload), "status": "pending", "attempts": 0,
         "next_attempt_at": now, "received_at": job.received_at, "created_at": now}
        for key, job in by_key.items()
        if key not in known
    ]  # fmt: skip
    if rows:
        conn.execute(_INSERT_JOB, rows)
    return len(rows)


def _add_digest_items(conn: Connection, items: list[NewDigestItem], now: datetime) -> int:
    """Keep items for their owners' digests, each (owner, response, revision, routing) once; returns how many
    were new."""
    if not items:
        return 0
    item = digest_items.c
    known = {
        (r.owner_id, r.response_id, r.revision, r.routing)
        for r in conn.execute(
            select(item.owner_id, item.response_id, item.revision, item.routing).where(
                item.response_id.in_({i.response_id for i in items}), item.owner_id.in_({i.owner_id for i in items})
            )
        )
    }
    rows = [
        {"owner_id": i.owner_id, "response_id": i.response_id, "revision": i.revision, "routing": i.routing,
         "payload": _json(i.payload), "created_at": now,
         "received_at": i.received_at.astimezone(UTC) if i.received_at else None}
        for i in items
        if (i.owner_id, i.response_id, i.revision, i.routing) not in known
    ]  # fmt: skip
    if rows:
        conn.execute(insert(digest_items), rows)
    return len(rows)


def _json(payload: dict[str, Any] | str) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
