"""Earlier revisions in a report, when all are asked for: their shares rebuilt from the stored events (each
revision's latest routing), merged into the latest revisions' stream in the report's order.

An earlier revision's handling is known where an owner's item stayed with it (withdrawn by a later revision, its
state kept for the record); otherwise its paragraphs are handled as part of the latest revision (state None).
Earlier revisions are few (edits), so they are held in memory and sorted; the latest ones stream.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select

from ..items import NO_SECTION, State
from ..tables import items, revisions, statements
from .filters import ReportFilter
from .query import Reading, utc
from .shares import Handling, Share


async def earlier_shares(reading: Reading, report: ReportFilter, key: Callable[[Share], Any]) -> list[Share]:
    """The shares of every revision older than its statement's latest, within `report`, in the report's order."""
    query = (
        select(revisions.c.revision, revisions.c.received_at, revisions.c.event)
        .join_from(revisions, statements, revisions.c.response_id == statements.c.response_id)
        .where(revisions.c.revision < statements.c.latest_revision)
    )
    if report.since is not None:
        query = query.where(revisions.c.received_at >= report.since)
    if report.until is not None:
        query = query.where(revisions.c.received_at < report.until)
    kept = await _handlings_kept(reading)
    found: list[Share] = []
    for revision, received_at, text in await reading.conn.execute(query):
        event = json.loads(text)
        if report.respondent_types and event["respondent_type"] not in {t.value for t in report.respondent_types}:
            continue
        found.extend(_shares_of(event, revision, utc(received_at), kept, report))  # type: ignore[arg-type]
    return sorted(found, key=key)


async def _handlings_kept(reading: Reading) -> dict[tuple[str, str, int], list[Handling]]:
    """Handlings of items that stayed with an earlier revision, by (statement, section, revision)."""
    query = (
        select(items.c.response_id, items.c.section_id, items.c.revision, items.c.owner_id, items.c.state,
               items.c.note)
        .join_from(items, statements, items.c.response_id == statements.c.response_id)
        .where(items.c.revision < statements.c.latest_revision)
        .order_by(items.c.owner_id)
    )  # fmt: skip
    kept: dict[tuple[str, str, int], list[Handling]] = {}
    for response_id, section_id, revision, owner_id, state, note in await reading.conn.execute(query):
        kept.setdefault((response_id, section_id, revision), []).append(Handling(owner_id, State(state), note))
    return kept


def _shares_of(
    event: dict, revision: int, received_at: Any, kept: dict[tuple[str, str, int], list[Handling]],
    report: ReportFilter,
) -> list[Share]:  # fmt: skip
    texts = {p["index"]: p for p in event["paragraphs"]}
    shares = []
    for route in event["routes"]:
        section_id = route["section_id"] or NO_SECTION
        owners = [o for o in route["owners"] if report.owners is None or o in report.owners]
        if not owners or not report.covers_section(section_id):
            continue
        stayed = {h.owner_id: h for h in kept.get((event["response_id"], section_id, revision), [])}
        handlings = tuple(stayed.get(owner, Handling(owner, None, None)) for owner in sorted(owners))
        if report.states and not any(h.state in report.states for h in handlings):
            continue
        paragraphs = [
            {
                "index": routed["paragraph"],
                "question": texts[routed["paragraph"]]["question"],
                "text": texts[routed["paragraph"]]["text"],
                "score": routed["score"],
                "reasons": routed["reasons"],
            }
            for routed in route["paragraphs"]
        ]
        shares.append(
            Share(
                section_id=section_id, section_title=route["section_title"], response_id=event["response_id"],
                revision=revision, organization=event["respondent"]["organization"],
                respondent_type=event["respondent_type"], received_at=received_at, paragraphs=paragraphs,
                handlings=handlings, latest=False,
            )
        )  # fmt: skip
    return shares


async def merged(
    latest: AsyncIterator[list[Share]], earlier: list[Share], key: Callable[[Share], Any]
) -> AsyncIterator[list[Share]]:
    """`latest` (a stream in the report's order) with `earlier` (sorted the same way) merged into it."""
    pending = deque(earlier)
    async for batch in latest:
        out: list[Share] = []
        for share in batch:
            position = key(share)
            while pending and key(pending[0]) < position:
                out.append(pending.popleft())
            out.append(share)
        yield out
    if pending:
        yield list(pending)
