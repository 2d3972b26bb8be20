"""Corrections in the store: each one checked by corrections.check and kept, with its RouteCorrected event in the
outbox, in one transaction; the outbox read and marked by the publisher; the statement's routes as the rules and
the pages need them; corrected paragraphs as labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.events import ResponseClassified, RouteCorrected
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy

from .corrections import (
    Actor,
    CorrectionRequest,
    Refusal,
    StatementRoutes,
    Status,
    StoredCorrection,
    check,
    in_strategy_order,
    new_correction_id,
)
from .tables import correction_outbox, corrections, paragraph_owners, revisions, statements


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Corrected:
    """A correction stored (`created`), or the one stored before under the same id; and where it stands."""

    correction: StoredCorrection
    created: bool
    status: Status

    def as_json(self) -> dict:
        return self.correction.as_json(self.status)


class CorrectionsStore:
    """The corrections' side of the workspace's database (the engine is WorkspaceStore's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def routes(self, response_id: str, latest: ResponseClassified | None = None) -> StatementRoutes | None:
        """The statement's routes for the rules; `latest` spares reading its latest routing again."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(load_routes, response_id, latest)

    async def correct(
        self,
        request: CorrectionRequest,
        actor: Actor,
        taxonomy: Taxonomy,
        directory: OwnersDirectory,
        now: datetime,
        via: str,
    ) -> Corrected:
        """Check and keep a correction with its event in the outbox, in one transaction; `Refusal` changes
        nothing. A correction id given again returns the correction stored under it (changing nothing), or is
        refused (409) if it named another correction."""
        request = replace(
            request, add=in_strategy_order(request.add, taxonomy), remove=in_strategy_order(request.remove, taxonomy)
        )

        def work(conn: Connection) -> Corrected:
            if request.correction_id is not None and (earlier := _earlier(conn, request)) is not None:
                return earlier
            # Taken first: corrections of one statement (and its recording) go one at a time, on SQLite too.
            conn.execute(
                update(statements)
                .where(statements.c.response_id == request.response_id)
                .values(latest_revision=statements.c.latest_revision)
            )
            routes = load_routes(conn, request.response_id)
            by_role = check(request, actor, routes, taxonomy, directory)
            assert routes is not None  # check refuses a statement that is not there
            paragraph = routes.paragraph(request.paragraph_id)
            assert paragraph is not None
            correction = StoredCorrection(
                id=request.correction_id or new_correction_id(), response_id=request.response_id,
                revision=routes.event.revision, paragraph_id=request.paragraph_id, question=paragraph.question,
                text=paragraph.text, add=request.add, remove=request.remove, by_role=by_role, by_office=actor.office,
                reason=request.reason.strip(), corrected_at=now.astimezone(UTC), via=via,
            )  # fmt: skip
            event = correction.event(RespondentType(routes.event.respondent_type))
            conn.execute(insert(corrections).values(**_row(correction)))
            conn.execute(
                insert(correction_outbox).values(
                    id=correction.id, response_id=correction.response_id, event=event.model_dump_json(),
                    created_at=correction.corrected_at,
                )
            )  # fmt: skip
            return Corrected(correction, created=True, status="pending")

        try:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        except IntegrityError:
            # The same id stored meanwhile by another request: answer as for an id given again.
            async with self.engine.connect() as conn:
                earlier = await conn.run_sync(_earlier, request)
            if earlier is None:
                raise
            return earlier

    async def unpublished(self, limit: int) -> list[RouteCorrected]:
        """Corrections kept but not yet acknowledged by the broker, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(correction_outbox.c.event)
                .where(correction_outbox.c.published_at.is_(None))
                .order_by(correction_outbox.c.created_at, correction_outbox.c.id)
                .limit(limit)
            )
            return [RouteCorrected.model_validate_json(event) for event in rows.scalars()]

    async def published(self, correction_id: str, now: datetime) -> bool:
        """Mark a correction's event published; False if it already was (another replica, a publish repeated)."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(correction_outbox)
                .where(correction_outbox.c.id == correction_id, correction_outbox.c.published_at.is_(None))
                .values(published_at=now.astimezone(UTC))
            )
            return done.rowcount == 1

    async def labels(self, since: datetime | None = None) -> list[dict]:
        """Every paragraph of a statement's latest revision corrected since `since` (all if None), in the labels
        format: its text, question, respondent type and `must`, the sections it belongs to now, with `doc` (the
        response id), `paragraphs` (its indexes) and the ids of the corrections that stand. A paragraph whose
        corrections were dropped by a later revision (its text changed) is not there: nobody corrected the
        new text."""
        latest = func.max(corrections.c.corrected_at)
        query = select(corrections.c.response_id, corrections.c.paragraph_id, latest.label("last"))
        if since is not None:
            query = query.where(corrections.c.corrected_at >= since.astimezone(UTC))
        query = query.group_by(corrections.c.response_id, corrections.c.paragraph_id).order_by(
            latest, corrections.c.response_id, corrections.c.paragraph_id
        )

        def work(conn: Connection) -> list[dict]:
            wanted = [(r.response_id, r.paragraph_id) for r in conn.execute(query)]
            found: dict[str, StatementRoutes | None] = {}
            labels = []
            for response_id, paragraph_id in wanted:
                if response_id not in found:
                    found[response_id] = load_routes(conn, response_id)
                routes = found[response_id]
                if routes is not None and (label := _label(routes, paragraph_id)) is not None:
                    labels.append(label)
            return labels

        async with self.engine.connect() as conn:
            return await conn.run_sync(work)


def load_routes(conn: Connection, response_id: str, latest: ResponseClassified | None = None) -> StatementRoutes | None:
    """The statement's latest routing, its corrections (oldest first) and who each paragraph reached; None if
    there is no such statement."""
    if latest is None:
        text = conn.execute(
            select(revisions.c.event)
            .select_from(
                statements.join(
                    revisions,
                    and_(
                        revisions.c.response_id == statements.c.response_id,
                        revisions.c.revision == statements.c.latest_revision,
                    ),
                )
            )
            .where(statements.c.response_id == response_id)
        ).scalar()
        if text is None:
            return None
        latest = ResponseClassified.model_validate_json(text)
    rows = conn.execute(
        select(corrections)
        .where(corrections.c.response_id == response_id)
        .order_by(corrections.c.corrected_at, corrections.c.id)
    )
    stored = tuple(_correction(row) for row in rows.mappings())
    received: dict[str, set[str]] = {}
    for row in conn.execute(
        select(paragraph_owners.c.paragraph_id, paragraph_owners.c.owner_id).where(
            paragraph_owners.c.response_id == response_id
        )
    ):
        received.setdefault(row.paragraph_id, set()).add(row.owner_id)
    return StatementRoutes(latest, stored, {p: frozenset(o) for p, o in received.items()})


def _earlier(conn: Connection, request: CorrectionRequest) -> Corrected | None:
    row = conn.execute(select(corrections).where(corrections.c.id == request.correction_id)).mappings().first()
    if row is None:
        return None
    earlier = _correction(row)
    if not earlier.same_as(request):
        raise Refusal(
            409, f"correction id {earlier.id!r} was already used for another correction",
            "Korjauksen tunniste on jo käytetty toiseen korjaukseen.",
        )  # fmt: skip
    routes = load_routes(conn, earlier.response_id)
    return Corrected(earlier, created=False, status=routes.status(earlier.id) if routes else "pending")


def _label(routes: StatementRoutes, paragraph_id: str) -> dict | None:
    paragraph = routes.paragraph(paragraph_id)
    standing = [c.id for c in routes.corrections if c.paragraph_id == paragraph_id and routes.status(c.id) != "dropped"]
    if paragraph is None or not standing:
        return None
    return {
        "doc": routes.event.response_id,
        "paragraphs": [p.index for p in routes.event.paragraphs if p.paragraph_id == paragraph_id],
        "question": paragraph.question,
        "respondent_type": routes.event.respondent_type.value,
        "text": paragraph.text,
        "must": list(in_strategy_order(routes.sections(paragraph_id), load_taxonomy())),
        "may": [],
        "paragraph_id": paragraph_id,
        "correction_ids": standing,
    }


def _row(correction: StoredCorrection) -> dict:
    return {
        "id": correction.id, "response_id": correction.response_id, "revision": correction.revision,
        "paragraph_id": correction.paragraph_id, "question": correction.question, "text": correction.text,
        "added": json.dumps(list(correction.add)), "removed": json.dumps(list(correction.remove)),
        "by_role": correction.by_role, "by_office": correction.by_office, "reason": correction.reason,
        "corrected_at": correction.corrected_at, "via": correction.via,
    }  # fmt: skip


def _correction(row: RowMapping) -> StoredCorrection:
    return StoredCorrection(
        id=row["id"], response_id=row["response_id"], revision=row["revision"], paragraph_id=row["paragraph_id"],
        question=row["question"], text=row["text"], add=tuple(json.loads(row["added"])),
        remove=tuple(json.loads(row["removed"])), by_role=row["by_role"], by_office=row["by_office"],
        reason=row["reason"], corrected_at=utc(row["corrected_at"]), via=row["via"],
    )  # fmt: skip
