"""Classify's store (SQLite by default, PostgreSQL when DATABASE_URL says so, through SQLAlchemy Core): each
response's latest routing and the corrections applied to it.

Every change is one transaction that reads the response's stored routing first, locked, and lets a pure
function of `corrections` decide: a response's revisions and its corrections arrive on two topics, possibly at
two replicas at once, and neither may apply to a routing the other has just replaced. On SQLite every
transaction runs in one hop to the store's own thread and begins IMMEDIATE, taking the write lock at once,
which serialises them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update

from feedback_contracts.events import ResponseClassified, RouteCorrected
from feedback_runtime.db import Transactions
from feedback_runtime.migrations import migrate_on_start

from .corrections import RoutingHead, final_sections
from .tables import corrections, routings

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
# Decides a revision's routing from the stored head and the response's corrections; None: store nothing.
DecideRevision = Callable[[RoutingHead | None, list[RouteCorrected]], ResponseClassified | None]
# Re-routes the latest routing (None: unknown response) by a correction, given the earlier ones; raises
# `CorrectionRefused` when it cannot apply.
DecideCorrection = Callable[[ResponseClassified | None, list[RouteCorrected]], ResponseClassified]


@dataclass(frozen=True)
class StoredRouting:
    """A routing as stored, with its JSON (what is published: serialised once)."""

    event: ResponseClassified
    json: str


@dataclass(frozen=True)
class CorrectionResult:
    """What handling a correction came to. `routing`: what to publish (None: nothing); `duplicate`: the
    correction was applied before (then `routing` is its routing if that was never published)."""

    routing: StoredRouting | None
    duplicate: bool


@dataclass(frozen=True)
class LearnedCorrection:
    """A stored correction with the sections its paragraph finally belonged to: a precedent."""

    correction: RouteCorrected
    final_sections: tuple[str, ...]
    applied_at: datetime


class ClassifyStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.transactions = Transactions(url, "classify-sqlite")

    async def create(self) -> None:
        """Bring the schema up to date (Alembic)."""
        await migrate_on_start(MIGRATIONS, self.url)

    async def close(self) -> None:
        await self.transactions.close()

    async def ping(self) -> bool:
        return await self.transactions.ping()

    async def _run(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction, committed when it returns (rolled back when it raises)."""
        return await self.transactions.run(work)

    async def record_revision(self, response_id: str, decide: DecideRevision, now: datetime) -> StoredRouting | None:
        """Store what `decide` makes of the response's stored routing and corrections, in one transaction;
        returns it (None: nothing stored, e.g. a newer revision is stored already)."""

        def work(conn: Connection) -> StoredRouting | None:
            row = _latest_row(conn, response_id)
            head = RoutingHead(row.revision, row.routing, row.correction_id) if row is not None else None
            routing = decide(head, _corrections_of(conn, response_id))
            if routing is None:
                return None
            return _save_routing(conn, routing, exists=row is not None, now=now)

        return await self._run(work)

    async def record_correction(
        self, correction: RouteCorrected, decide: DecideCorrection, now: datetime
    ) -> CorrectionResult:
        """Apply a correction once: store it and the routing `decide` makes, in one transaction. A correction
        stored before changes nothing; its routing is handed back again only if it was never published (the
        publishing failed) and is still the latest."""

        def work(conn: Connection) -> CorrectionResult:
            stored = conn.execute(
                select(corrections.c.published_at).where(corrections.c.correction_id == correction.correction_id)
            ).first()
            row = _latest_row(conn, correction.response_id, with_event=True)
            latest = ResponseClassified.model_validate_json(row.event) if row is not None else None
            if stored is not None:
                pending = (
                    stored.published_at is None and row is not None and row.correction_id == correction.correction_id
                )
                return CorrectionResult(
                    StoredRouting(latest, row.event) if pending and latest else None, duplicate=True
                )
            routing = decide(latest, _corrections_of(conn, correction.response_id))
            conn.execute(insert(corrections).values(**_correction_row(correction, routing, now)))
            return CorrectionResult(_save_routing(conn, routing, exists=True, now=now), duplicate=False)

        return await self._run(work)

    async def mark_published(self, correction_id: str, now: datetime) -> None:
        """The routing made for this correction has been published: a replay of it publishes nothing."""
        await self._run(
            lambda conn: conn.execute(
                update(corrections)
                .where(corrections.c.correction_id == correction_id, corrections.c.published_at.is_(None))
                .values(published_at=now)
            )
        )

    async def latest(self, response_id: str) -> ResponseClassified | None:
        """The response's stored routing."""
        query = select(routings.c.event).where(routings.c.response_id == response_id)
        row = await self._run(lambda conn: conn.execute(query).first())
        return ResponseClassified.model_validate_json(row.event) if row is not None else None

    async def learned_since(self, since: datetime | None) -> list[LearnedCorrection]:
        """Every correction applied at or after `since` (all of them: None), in the order applied."""
        query = select(corrections).order_by(corrections.c.applied_at, corrections.c.correction_id)
        if since is not None:
            query = query.where(corrections.c.applied_at >= since.astimezone(UTC))
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [
            LearnedCorrection(_event(r), tuple(json.loads(r["final_sections"])), _utc(r["applied_at"])) for r in rows
        ]


# The statements of every response revision, built once: building one per call costs SQLAlchemy its construction
# and cache key each time (a third of a revision's time in the store on SQLite).
_HEAD = (routings.c.revision, routings.c.routing, routings.c.correction_id)
_LATEST = select(*_HEAD).where(routings.c.response_id == bindparam("response_id")).with_for_update()
_LATEST_WITH_EVENT = (
    select(*_HEAD, routings.c.event).where(routings.c.response_id == bindparam("response_id")).with_for_update()
)
_CORRECTIONS_OF = (
    select(corrections)
    .where(corrections.c.response_id == bindparam("response_id"))
    .order_by(corrections.c.applied_at, corrections.c.correction_id)
)
_INSERT_ROUTING = insert(routings)
# The row's key under a name of its own: the update's SET takes the columns' names.
_UPDATE_ROUTING = update(routings).where(routings.c.response_id == bindparam("routing_of"))


def _latest_row(conn: Connection, response_id: str, *, with_event: bool = False) -> Any:
    return conn.execute(_LATEST_WITH_EVENT if with_event else _LATEST, {"response_id": response_id}).first()


def _corrections_of(conn: Connection, response_id: str) -> list[RouteCorrected]:
    rows = conn.execute(_CORRECTIONS_OF, {"response_id": response_id}).mappings()
    return [_event(row) for row in rows]


def _save_routing(conn: Connection, routing: ResponseClassified, *, exists: bool, now: datetime) -> StoredRouting:
    stored = StoredRouting(routing, routing.model_dump_json())
    values = {
        "revision": routing.revision,
        "routing": routing.routing,
        "correction_id": routing.correction_id,
        "event": stored.json,
        "updated_at": now,
    }
    if exists:
        conn.execute(_UPDATE_ROUTING, {"routing_of": routing.response_id, **values})
    else:
        conn.execute(_INSERT_ROUTING, {"response_id": routing.response_id, **values})
    return stored


def _correction_row(correction: RouteCorrected, routing: ResponseClassified, now: datetime) -> dict[str, Any]:
    return {
        "correction_id": correction.correction_id,
        "response_id": correction.response_id,
        "revision": correction.revision,
        "paragraph_id": correction.paragraph_id,
        "question": correction.question,
        "text": correction.text,
        "respondent_type": correction.respondent_type.value,
        "add_sections": json.dumps(list(correction.add)),
        "remove_sections": json.dumps(list(correction.remove)),
        "by_role": correction.by_role,
        "reason": correction.reason,
        "corrected_at": correction.corrected_at.astimezone(UTC),
        "applied_at": now,
        "final_sections": json.dumps(list(final_sections(routing, correction.paragraph_id))),
        "published_at": None,
    }


def _event(row: Any) -> RouteCorrected:
    return RouteCorrected(
        correction_id=row["correction_id"],
        response_id=row["response_id"],
        revision=row["revision"],
        paragraph_id=row["paragraph_id"],
        question=row["question"],
        text=row["text"],
        respondent_type=row["respondent_type"],
        add=tuple(json.loads(row["add_sections"])),
        remove=tuple(json.loads(row["remove_sections"])),
        by_role=row["by_role"],
        reason=row["reason"],
        corrected_at=_utc(row["corrected_at"]),
    )


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
