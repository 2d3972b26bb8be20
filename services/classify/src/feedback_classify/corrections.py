"""People's corrections of routes, applied to a response's routing: pure functions on the contract's models.

A correction moves one paragraph (every paragraph with its id: identical paragraphs of a question share it)
out of the sections it removes and into the sections it adds. Classify keeps each response's latest routing
and its corrections: a correction re-routes the latest routing (`routing` one higher), and a new revision is
routed afresh with every correction whose paragraph is still there applied again, in the order they were
first applied; the others are listed as dropped, so owners see that the paragraph changed under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from feedback_contracts.events import (
    AppliedCorrection,
    Paragraph,
    Reason,
    ResponseClassified,
    RouteCorrected,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.taxonomy import Taxonomy

from .routing import UNROUTED_SCORE

# A person put the paragraph there: as sure as routing gets.
CORRECTED_SCORE = 1.0


class CorrectionRefused(ValueError):
    """The correction cannot apply to what classify knows of the response; it never will, so it is parked."""


@dataclass(frozen=True)
class RoutingHead:
    """Where a response's stored routing stands: enough to tell a new revision from a redelivered or older one."""

    revision: int
    routing: int
    correction_id: str | None


def check(latest: ResponseClassified | None, correction: RouteCorrected, taxonomy: Taxonomy) -> None:
    """Refuse a correction of a response classify never routed, of a paragraph its latest revision does not have,
    or naming a section the strategy does not have."""
    if latest is None:
        raise CorrectionRefused(f"unknown response {correction.response_id!r}: classify has not routed it")
    if correction.paragraph_id not in {p.paragraph_id for p in latest.paragraphs}:
        raise CorrectionRefused(
            f"paragraph {correction.paragraph_id!r} is not in the latest revision ({latest.revision}) "
            f"of response {correction.response_id!r}"
        )
    unknown = [s for s in (*correction.add, *correction.remove) if s not in taxonomy]
    if unknown:
        raise CorrectionRefused(f"unknown section(s) {', '.join(unknown)}: not in the strategy")


def corrected(
    latest: ResponseClassified | None,
    correction: RouteCorrected,
    earlier: Sequence[RouteCorrected],
    taxonomy: Taxonomy,
    owners: OwnersDirectory,
    now: datetime,
) -> ResponseClassified:
    """The latest routing re-routed by `correction` (checked first): the same revision, `routing` one higher,
    `correction_id` set and every correction of the response (`earlier` ones first) listed."""
    check(latest, correction, taxonomy)
    assert latest is not None  # check refuses None
    return latest.model_copy(
        update={
            "routes": _apply(latest.paragraphs, latest.routes, correction, taxonomy, owners),
            "routing": latest.routing + 1,
            "correction_id": correction.correction_id,
            "corrections": statuses(latest.paragraphs, [*earlier, correction]),
            "classified_at": now,
        }
    )


def reapplied(
    fresh: ResponseClassified, corrections: Sequence[RouteCorrected], taxonomy: Taxonomy, owners: OwnersDirectory
) -> ResponseClassified:
    """A revision's fresh routing with the response's corrections applied again where their paragraph is
    unchanged (the others listed as dropped)."""
    if not corrections:
        # Nothing to apply again (most responses): no paragraph's id needs working out.
        return fresh if not fresh.corrections else fresh.model_copy(update={"corrections": ()})
    present = {p.paragraph_id for p in fresh.paragraphs}
    routes = fresh.routes
    for correction in corrections:
        if correction.paragraph_id in present:
            routes = _apply(fresh.paragraphs, routes, correction, taxonomy, owners)
    return fresh.model_copy(update={"routes": routes, "corrections": statuses(fresh.paragraphs, corrections)})


def revision_routing(
    fresh: ResponseClassified,
    stored: RoutingHead | None,
    corrections: Sequence[RouteCorrected],
    taxonomy: Taxonomy,
    owners: OwnersDirectory,
) -> ResponseClassified | None:
    """What to store and publish for a revision routed afresh: None when a newer revision is stored already.

    The same revision again (a redelivery, or ingest's replay after the owners changed) is routed again but
    keeps the stored routing's number and correction, so consumers, which order by (revision, routing), take
    it for what it is: the routing they have, restated."""
    if stored is not None and stored.revision > fresh.revision:
        return None
    routing = reapplied(fresh, corrections, taxonomy, owners)
    if stored is not None and stored.revision == fresh.revision:
        routing = routing.model_copy(update={"routing": stored.routing, "correction_id": stored.correction_id})
    return routing


def statuses(paragraphs: Sequence[Paragraph], corrections: Sequence[RouteCorrected]) -> tuple[AppliedCorrection, ...]:
    """Each correction as it stands for a revision with these paragraphs: applied, or dropped (its paragraph
    is not there any more)."""
    present = {p.paragraph_id for p in paragraphs}
    return tuple(
        AppliedCorrection(
            correction_id=c.correction_id,
            paragraph_id=c.paragraph_id,
            revision=c.revision,
            add=c.add,
            remove=c.remove,
            by_role=c.by_role,
            reason=c.reason,
            corrected_at=c.corrected_at,
            status="applied" if c.paragraph_id in present else "dropped",
        )
        for c in corrections
    )


def final_sections(routing: ResponseClassified, paragraph_id: str) -> tuple[str, ...]:
    """The sections a paragraph is routed to, in strategy order (what a precedent learns from a correction)."""
    indexes = {p.index for p in routing.paragraphs if p.paragraph_id == paragraph_id}
    return tuple(
        route.section_id
        for route in routing.routes
        if route.section_id is not None and any(rp.paragraph in indexes for rp in route.paragraphs)
    )


def _apply(
    paragraphs: Sequence[Paragraph],
    routes: Sequence[SectionRoute],
    correction: RouteCorrected,
    taxonomy: Taxonomy,
    owners: OwnersDirectory,
) -> tuple[SectionRoute, ...]:
    targets = sorted(p.index for p in paragraphs if p.paragraph_id == correction.paragraph_id)
    entries: dict[str | None, dict[int, RoutedParagraph]] = {
        route.section_id: {rp.paragraph: rp for rp in route.paragraphs} for route in routes
    }
    for section_id in correction.remove:
        for index in targets:
            entries.get(section_id, {}).pop(index, None)
    reason = Reason(kind="correction", correction=correction.note())
    for section_id in correction.add:
        if section_id not in taxonomy:  # gone from the strategy since the correction was made
            continue
        routed = entries.setdefault(section_id, {})
        for index in targets:
            before = routed.get(index)
            kept = tuple(r for r in before.reasons if r != reason) if before else ()
            routed[index] = RoutedParagraph(paragraph=index, score=CORRECTED_SCORE, reasons=(reason, *kept))
    # As the Router does: the section-less route holds exactly the paragraphs no section holds.
    in_sections = {index for sid, routed in entries.items() if sid is not None for index in routed}
    unrouted = entries.setdefault(None, {})
    for index in targets:
        if index in in_sections:
            unrouted.pop(index, None)
        elif index not in unrouted:
            unrouted[index] = RoutedParagraph(
                paragraph=index, score=UNROUTED_SCORE, reasons=(reason, Reason(kind="default"))
            )
    existing = {route.section_id: route for route in routes}
    order = {sid: i for i, sid in enumerate(taxonomy.ids())}
    kept_sections = sorted(
        (sid for sid, routed in entries.items() if routed),
        key=lambda sid: (sid is None, order.get(sid, len(order)) if sid is not None else 0),
    )
    return tuple(_route(sid, entries[sid], existing.get(sid), taxonomy, owners) for sid in kept_sections)


def _route(
    section_id: str | None,
    routed: dict[int, RoutedParagraph],
    before: SectionRoute | None,
    taxonomy: Taxonomy,
    owners: OwnersDirectory,
) -> SectionRoute:
    paragraphs = tuple(routed[index] for index in sorted(routed))
    if before is not None:
        return before.model_copy(update={"paragraphs": paragraphs})
    section = taxonomy.get(section_id) if section_id is not None else None
    return SectionRoute(
        section_id=section_id,
        section_title=section.title if section else None,
        owners=tuple(owner.id for owner in owners.owners_for(section_id)),
        paragraphs=paragraphs,
    )
