"""Ingest's durable store: responses, their revisions, contact data and the transactional outbox.

SQLAlchemy Core over an async engine: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when
DATABASE_URL says so. Contact data live in their own table so that erasing them leaves the statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback_contracts.dburl import async_database_url, async_engine
from feedback_contracts.events import RESPONSES_TOPIC, PublicRespondent, ResponseReceived
from feedback_contracts.responses import SurveyResponse

metadata = MetaData()

responses = Table(
    "responses",
    metadata,
    Column("response_id", String(128), primary_key=True),
    Column("survey_id", String(128), nullable=False),
    Column("latest_revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

revisions = Table(
    "revisions",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("replaces_revision", Integer, nullable=True),
    Column("source", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("event", Text, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("response_id", String(128), ForeignKey("responses.response_id"), primary_key=True),
    Column("first_name", String(300), nullable=True),
    Column("last_name", String(300), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("response_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)


class Outcome(Enum):
    ACCEPTED = "accepted"  # a new revision: stored, queued for publishing
    DUPLICATE = "duplicate"  # the same revision again with the same content: nothing to do


class ConflictError(Exception):
    """The revision cannot be accepted as sent; the message says why."""


@dataclass(frozen=True)
class AcceptResult:
    outcome: Outcome
    response_id: str
    revision: int
    replaces_revision: int | None


@dataclass(frozen=True)
class RevisionState:
    response_id: str
    survey_id: str
    revision: int
    replaces_revision: int | None
    source: str
    submitted_at: datetime
    received_at: datetime
    published_at: datetime | None

    @property
    def state(self) -> str:
        return "published" if self.published_at else "accepted"


@dataclass(frozen=True)
class Contact:
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    response_id: str
    revision: int
    topic: str
    payload: str
    created_at: datetime


normalise_database_url = async_database_url


def content_hash(response: SurveyResponse) -> str:
    """Fingerprint of everything the form sent, to tell a retry from a conflicting resubmission."""
    canonical = json.dumps(response.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class IngestStore:
    """Accepts revisions atomically with their outbox rows, and serves the relay and the read endpoints."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: AsyncEngine = async_engine(self.url)
        # SQLite has one writer at a time; serialising writes here avoids "database is locked" under load.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(1))
            return True
        except Exception:
            return False

    async def accept(self, response: SurveyResponse, received_at: datetime) -> AcceptResult:
        """Store a revision and its outbox row in one transaction, or say why it is a duplicate or a conflict."""
        digest = content_hash(response)
        for attempt in range(3):
            try:
                if self._write_lock is not None:
                    async with self._write_lock:
                        return await self._accept(response, received_at, digest)
                return await self._accept(response, received_at, digest)
            except IntegrityError:
                # Two first submissions of one response raced; the loser sees the winner's row next time.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _accept(self, response: SurveyResponse, received_at: datetime, digest: str) -> AcceptResult:
        rid, rev = response.response_id, response.revision
        async with self.engine.begin() as conn:
            query = select(responses.c.latest_revision).where(responses.c.response_id == rid)
            if not self.is_sqlite:
                query = query.with_for_update()
            latest = (await conn.execute(query)).scalar_one_or_none()
            if latest is not None:
                existing = (
                    await conn.execute(
                        select(revisions.c.content_hash, revisions.c.replaces_revision).where(
                            revisions.c.response_id == rid, revisions.c.revision == rev
                        )
                    )
                ).first()
                if existing is not None:
                    if existing.content_hash == digest:
                        return AcceptResult(Outcome.DUPLICATE, rid, rev, existing.replaces_revision)
                    raise ConflictError(
                        f"revision {rev} of response {rid!r} was already accepted with different content; "
                        "an edit must come with a higher revision"
                    )
                if rev < latest:
                    raise ConflictError(
                        f"revision {rev} of response {rid!r} is older than the latest stored revision {latest}"
                    )
            replaces = latest
            event = ResponseReceived(
                survey_id=response.survey_id,
                response_id=rid,
                revision=rev,
                replaces_revision=replaces,
                submitted_at=response.submitted_at,
                received_at=received_at,
                source=response.source,
                respondent=PublicRespondent(
                    organization=response.respondent.organization, title=response.respondent.title
                ),
                respondent_type=response.respondent_type,
                answers=tuple(sorted(response.answers, key=lambda a: a.question)),
            )
            payload = event.model_dump_json()
            if latest is None:
                await conn.execute(
                    responses.insert().values(
                        response_id=rid,
                        survey_id=response.survey_id,
                        latest_revision=rev,
                        created_at=received_at,
                        updated_at=received_at,
                    )
                )
            else:
                await conn.execute(
                    update(responses)
                    .where(responses.c.response_id == rid)
                    .values(latest_revision=rev, updated_at=received_at)
                )
            await conn.execute(
                revisions.insert().values(
                    response_id=rid,
                    revision=rev,
                    content_hash=digest,
                    replaces_revision=replaces,
                    source=response.source,
                    submitted_at=response.submitted_at,
                    received_at=received_at,
                    event=payload,
                )
            )
            await self._store_contact(conn, response, received_at)
            await conn.execute(
                outbox.insert().values(
                    response_id=rid, revision=rev, topic=RESPONSES_TOPIC, payload=payload, created_at=received_at
                )
            )
        return AcceptResult(Outcome.ACCEPTED, rid, rev, replaces)

    async def _store_contact(self, conn: AsyncConnection, response: SurveyResponse, now: datetime) -> None:
        person = response.respondent
        values = dict(first_name=person.first_name, last_name=person.last_name, email=person.email, phone=person.phone)
        await conn.execute(contacts.delete().where(contacts.c.response_id == response.response_id))
        if any(values.values()):
            await conn.execute(contacts.insert().values(response_id=response.response_id, updated_at=now, **values))

    # The relay's side -------------------------------------------------------------------------

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest unsent outbox rows, in the order they were accepted."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit)
            )
            return [
                OutboxRow(r.id, r.response_id, r.revision, r.topic, r.payload, _utc(r.created_at))  # type: ignore[arg-type]
                for r in rows
            ]

    async def mark_sent(self, rows: list[OutboxRow], sent_at: datetime) -> None:
        """Mark rows sent (after the broker acknowledged them) and their revisions published."""
        if not rows:
            return
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(sent_at=sent_at))
            for row in rows:
                await conn.execute(
                    update(revisions)
                    .where(
                        revisions.c.response_id == row.response_id,
                        revisions.c.revision == row.revision,
                        revisions.c.published_at.is_(None),
                    )
                    .values(published_at=sent_at)
                )

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many outbox rows wait, and when the oldest of them was accepted."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(outbox.c.id), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
                )
            ).one()
        return int(row[0]), _utc(row[1])

    def _writing(self) -> asyncio.Lock | _NoLock:
        return self._write_lock if self._write_lock is not None else _NoLock()

    # Reads, erasure and replay ----------------------------------------------------------------

    async def revisions_of(self, response_id: str) -> list[RevisionState]:
        """Every stored revision of a response, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(revisions, responses.c.survey_id)
                .join(responses, responses.c.response_id == revisions.c.response_id)
                .where(revisions.c.response_id == response_id)
                .order_by(revisions.c.revision)
            )
            return [
                RevisionState(
                    response_id=r.response_id,
                    survey_id=r.survey_id,
                    revision=r.revision,
                    replaces_revision=r.replaces_revision,
                    source=r.source,
                    submitted_at=_utc(r.submitted_at),  # type: ignore[arg-type]
                    received_at=_utc(r.received_at),  # type: ignore[arg-type]
                    published_at=_utc(r.published_at),
                )
                for r in rows
            ]

    async def contact(self, response_id: str) -> Contact | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(contacts).where(contacts.c.response_id == response_id))).first()
        return Contact(row.first_name, row.last_name, row.email, row.phone) if row else None

    async def erase_contact(self, response_id: str) -> bool:
        """Delete a response's contact data; the statement stays. False when there was none."""
        async with self._writing(), self.engine.begin() as conn:
            result = await conn.execute(contacts.delete().where(contacts.c.response_id == response_id))
        return bool(result.rowcount)

    async def exists(self, response_id: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(responses.c.response_id).where(responses.c.response_id == response_id))
            return found.first() is not None

    async def latest_revisions(self) -> dict[str, int]:
        """Every response's latest accepted revision."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(responses.c.response_id, responses.c.latest_revision))
            return {r.response_id: r.latest_revision for r in rows}

    async def enqueue_latest(self, response_ids: list[str]) -> int:
        """Queue the latest revision of each response for publishing again; returns how many."""
        latest = (responses.c.response_id == revisions.c.response_id) & (
            responses.c.latest_revision == revisions.c.revision
        )
        query = (
            select(revisions.c.response_id, revisions.c.revision, revisions.c.event)
            .join(responses, latest)
            .where(revisions.c.response_id.in_(response_ids))
            .order_by(revisions.c.received_at)
        )
        return await self._requeue(query)

    async def enqueue_replay(self, *, since: datetime | None = None, response_id: str | None = None) -> int:
        """Queue stored revisions for publishing again, in their original order; returns how many."""
        query = select(revisions.c.response_id, revisions.c.revision, revisions.c.event).order_by(
            revisions.c.received_at, revisions.c.response_id, revisions.c.revision
        )
        if since is not None:
            query = query.where(revisions.c.received_at >= since)
        if response_id is not None:
            query = query.where(revisions.c.response_id == response_id)
        return await self._requeue(query)

    async def _requeue(self, query: Select) -> int:
        """Copy the stored events that `query` selects into the outbox, in its order."""
        now = datetime.now(UTC)
        async with self._writing(), self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if rows:
                await conn.execute(
                    outbox.insert(),
                    [
                        dict(
                            response_id=r.response_id,
                            revision=r.revision,
                            topic=RESPONSES_TOPIC,
                            payload=r.event,
                            created_at=now,
                        )
                        for r in rows
                    ],
                )
        return len(rows)


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None
