"""Reading a report from the workspace's store (SQLAlchemy Core, SQLite or PostgreSQL): counts first, then the
shares streamed in the report's order, so a consultation of any size is written without holding it in memory.

The latest revision of each statement is what the owners' items hold; earlier revisions come from the stored
events (`history`). Text is ordered by code point on both databases (PostgreSQL's "C" collation), so the same
store gives the same report whichever database holds it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..items import NO_SECTION, State
from ..tables import items, statements
from .filters import ReportFilter
from .shares import RESPONDENT_TYPE_ORDER, Handling, Labels, Share

# Rows fetched from the database at a time while streaming.
BATCH_ROWS = 500


@dataclass(frozen=True)
class Cell:
    """How many statements, and how many of their paragraphs, one section has from one respondent type."""

    statements: int
    paragraphs: int


@dataclass(frozen=True)
class Coverage:
    """Sections × respondent types (the latest revisions)."""

    cells: dict[tuple[str, str], Cell]

    def sections(self) -> set[str]:
        return {section for section, _ in self.cells}

    def of(self, section_id: str) -> Cell:
        found = [cell for (section, _), cell in self.cells.items() if section == section_id]
        return Cell(sum(c.statements for c in found), sum(c.paragraphs for c in found))

    def by_type(self, section_id: str) -> dict[str, Cell]:
        return {rtype: cell for (section, rtype), cell in self.cells.items() if section == section_id}


@dataclass(frozen=True)
class Summary:
    """How many statements of each respondent type the report holds, and when they arrived."""

    statements_by_type: dict[str, int]
    first_received: datetime | None
    last_received: datetime | None

    @property
    def statements(self) -> int:
        return sum(self.statements_by_type.values())


@dataclass(frozen=True)
class Respondent:
    """An organisation that made statements, as the workspace knows it: never a person's name or contact data."""

    organization: str
    respondent_type: str
    response_ids: tuple[str, ...] = field(default=())


def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ReportSource:
    """A report's data from the store behind `engine`, read in one transaction (one snapshot on PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, labels: Labels) -> None:
        self.engine = engine
        self.labels = labels

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Reading]:
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield Reading(conn, self.labels)


class Reading:
    """The queries of one report, on one connection."""

    def __init__(self, conn: AsyncConnection, labels: Labels) -> None:
        self.conn = conn
        self.labels = labels
        self.postgresql = conn.dialect.name == "postgresql"

    def text_order(self, column: Any) -> Any:
        return column.collate("C") if self.postgresql else column

    async def coverage(self, report: ReportFilter) -> Coverage:
        shares = (
            select(items.c.section_id, items.c.respondent_type, items.c.response_id, items.c.paragraph_count)
            .join_from(items, statements, items.c.response_id == statements.c.response_id)
            .where(condition(report))
            .distinct()
            .subquery()
        )
        query = select(
            shares.c.section_id, shares.c.respondent_type, func.count(), func.sum(shares.c.paragraph_count)
        ).group_by(shares.c.section_id, shares.c.respondent_type)
        rows = await self.conn.execute(query)
        return Coverage({(section, rtype): Cell(int(n), int(p)) for section, rtype, n, p in rows})

    async def summary(self, report: ReportFilter) -> Summary:
        query = (
            select(
                items.c.respondent_type,
                func.count(items.c.response_id.distinct()),
                func.min(statements.c.received_at),
                func.max(statements.c.received_at),
            )
            .join_from(items, statements, items.c.response_id == statements.c.response_id)
            .where(condition(report))
            .group_by(items.c.respondent_type)
        )
        rows = (await self.conn.execute(query)).all()
        firsts = [utc(first) for _, _, first, _ in rows if first is not None]
        lasts = [utc(last) for _, _, _, last in rows if last is not None]
        return Summary(
            {rtype: int(n) for rtype, n, _, _ in rows},
            min(firsts) if firsts else None,  # type: ignore[type-var]
            max(lasts) if lasts else None,  # type: ignore[type-var]
        )

    async def respondents(self, report: ReportFilter) -> list[Respondent]:
        """Each organisation and respondent type with its statements, by organisation."""
        query = (
            select(items.c.organization, items.c.respondent_type, items.c.response_id)
            .join_from(items, statements, items.c.response_id == statements.c.response_id)
            .where(condition(report))
            .group_by(items.c.organization, items.c.respondent_type, items.c.response_id)
            .order_by(self.text_order(items.c.organization), _type_rank(), self.text_order(items.c.response_id))
        )
        found: list[Respondent] = []
        for organization, rtype, response_id in await self.conn.execute(query):
            if found and (found[-1].organization, found[-1].respondent_type) == (organization, rtype):
                last = found[-1]
                found[-1] = Respondent(organization, rtype, (*last.response_ids, response_id))
            else:
                found.append(Respondent(organization, rtype, (response_id,)))
        return found

    async def latest_shares(self, report: ReportFilter) -> AsyncIterator[list[Share]]:
        """The latest revision's shares in the report's order, a batch at a time: one share per statement and
        section, with the handling of each owner of it."""
        query = (
            select(
                items.c.section_id, items.c.section_title, items.c.response_id, items.c.revision, items.c.owner_id,
                items.c.organization, items.c.respondent_type, items.c.paragraphs, items.c.state, items.c.note,
                statements.c.received_at,
            )
            .join_from(items, statements, items.c.response_id == statements.c.response_id)
            .where(condition(report))
            .order_by(
                *self.section_rank(), _type_rank(), self.text_order(items.c.organization),
                self.text_order(items.c.response_id), self.text_order(items.c.owner_id),
            )
        )  # fmt: skip
        result = await self.conn.stream(query.execution_options(yield_per=BATCH_ROWS))
        group: list[Any] = []
        async for rows in result.partitions(BATCH_ROWS):
            batch: list[Share] = []
            for row in rows:
                if group and (group[0].section_id, group[0].response_id) != (row.section_id, row.response_id):
                    batch.append(_share(group))
                    group = []
                group.append(row)
            if batch:
                yield batch
        if group:
            yield [_share(group)]

    def section_rank(self) -> tuple[Any, Any]:
        """The strategy's order of sections in SQL: the taxonomy's position, then unknown sections, then none."""
        taxonomy = self.labels.taxonomy
        ranks = {s.id: n for n, s in enumerate(taxonomy.sections)} | {NO_SECTION: len(taxonomy.sections) + 1}
        return (
            case(ranks, value=items.c.section_id, else_=len(taxonomy.sections)),
            self.text_order(items.c.section_id),
        )


def _type_rank() -> Any:
    return case(RESPONDENT_TYPE_ORDER, value=items.c.respondent_type, else_=len(RESPONDENT_TYPE_ORDER))


def _share(rows: list[Any]) -> Share:
    first = rows[0]
    return Share(
        section_id=first.section_id,
        section_title=first.section_title,
        response_id=first.response_id,
        revision=first.revision,
        organization=first.organization,
        respondent_type=first.respondent_type,
        received_at=utc(first.received_at),  # type: ignore[arg-type]
        paragraphs=json.loads(first.paragraphs),
        handlings=tuple(Handling(r.owner_id, State(r.state), r.note) for r in rows),
    )


def condition(report: ReportFilter) -> Any:
    """The items (current ones: not withdrawn) and statements a report includes."""
    parts: list[Any] = [items.c.withdrawn.is_(False)]
    if report.owners is not None:
        parts.append(items.c.owner_id.in_(sorted(report.owners)))
    if report.sections:
        parts.append(or_(*(_in_section(s) for s in report.sections)))
    if report.respondent_types:
        parts.append(items.c.respondent_type.in_([t.value for t in report.respondent_types]))
    if report.states:
        parts.append(items.c.state.in_([s.value for s in report.states]))
    if report.since is not None:
        parts.append(statements.c.received_at >= report.since)
    if report.until is not None:
        parts.append(statements.c.received_at < report.until)
    return and_(*parts)


def _in_section(section_id: str) -> Any:
    if section_id == NO_SECTION:
        return items.c.section_id == NO_SECTION
    below = section_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
    return or_(items.c.section_id == section_id, items.c.section_id.like(below, escape="\\"))
