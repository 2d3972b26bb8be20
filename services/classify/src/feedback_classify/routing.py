"""Routing rules: which strategy sections each paragraph of a response concerns, and why."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from feedback_contracts.events import (
    Paragraph,
    Reason,
    ResponseClassified,
    ResponseReceived,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy

from .paragraphs import split_paragraphs
from .references import find_references

# The strategy's partner section for each respondent type (chapter 5.3.1 describes one partnership per group).
PARTNER_SECTIONS: dict[RespondentType, str] = {
    RespondentType.COMPANY: "5.3.1.1",
    RespondentType.MUNICIPALITY: "5.3.1.2",
    RespondentType.ORGANIZATION_OR_PARISH: "5.3.1.3",
    RespondentType.EDUCATION: "5.3.1.4",
    RespondentType.KELA_OR_NEIGHBOUR_COUNTY: "5.3.1.5",
    RespondentType.EMPLOYMENT_AREA: "5.3.1.6",
}

REFERENCE_SCORE = 1.0
PARTNER_SCORE = 0.5


@dataclass
class _Candidate:
    score: float = 0.0
    reasons: list[Reason] = field(default_factory=list)


class Router:
    """Routes paragraphs by explicit section references and, failing those, the respondent type's partner section."""

    def __init__(self, taxonomy: Taxonomy, owners: OwnersDirectory) -> None:
        self.taxonomy = taxonomy
        self.owners = owners

    def route_paragraph(self, text: str, respondent_type: RespondentType) -> dict[str, _Candidate]:
        """Sections for one paragraph, each with its score and reasons."""
        candidates: dict[str, _Candidate] = defaultdict(_Candidate)
        for ref in find_references(text):
            if not self._routable(ref.section_id):
                continue
            candidate = candidates[ref.section_id]
            candidate.score = max(candidate.score, REFERENCE_SCORE)
            candidate.reasons.append(Reason(kind="reference", match=ref.match, span=ref.span))
        partner = PARTNER_SECTIONS.get(respondent_type)
        if not candidates and partner is not None and partner in self.taxonomy:
            candidates[partner].score = PARTNER_SCORE
            candidates[partner].reasons.append(Reason(kind="respondent_type", score=PARTNER_SCORE))
        return dict(candidates)

    def _routable(self, section_id: str) -> bool:
        # "Luvun 5 neljä painopistettä" names the whole strategy part, not a section anyone owns:
        # a top-level chapter is a target only when it has no subsections to be more precise with.
        section = self.taxonomy.get(section_id)
        if section is None:
            return False
        return "." in section_id or not self.taxonomy.children(section_id)

    def classify(self, event: ResponseReceived, now: datetime | None = None) -> ResponseClassified:
        """Split the response into paragraphs, route each, and resolve the owners of every routed section."""
        blocks = split_paragraphs((a.question, a.text) for a in event.answers)
        paragraphs = tuple(Paragraph(index=i, question=b.question, text=b.text) for i, b in enumerate(blocks))
        by_section: dict[str | None, list[RoutedParagraph]] = {}
        for paragraph in paragraphs:
            candidates = self.route_paragraph(paragraph.text, event.respondent_type)
            if not candidates:
                candidates = {None: _Candidate(0.0, [Reason(kind="default")])}  # type: ignore[dict-item]
            for section_id, candidate in candidates.items():
                by_section.setdefault(section_id, []).append(
                    RoutedParagraph(paragraph=paragraph.index, score=candidate.score, reasons=tuple(candidate.reasons))
                )
        routes = tuple(
            self._route(section_id, routed) for section_id, routed in _in_taxonomy_order(by_section, self.taxonomy)
        )
        return ResponseClassified(
            survey_id=event.survey_id,
            response_id=event.response_id,
            revision=event.revision,
            replaces_revision=event.replaces_revision,
            received_at=event.received_at,
            classified_at=now or datetime.now(UTC),
            respondent=event.respondent,
            respondent_type=event.respondent_type,
            paragraphs=paragraphs,
            routes=routes,
        )

    def _route(self, section_id: str | None, routed: list[RoutedParagraph]) -> SectionRoute:
        section = self.taxonomy.get(section_id) if section_id else None
        return SectionRoute(
            section_id=section_id,
            section_title=section.title if section else None,
            owners=tuple(owner.id for owner in self.owners.owners_for(section_id)),
            paragraphs=tuple(routed),
        )


def _in_taxonomy_order(
    by_section: dict[str | None, list[RoutedParagraph]], taxonomy: Taxonomy
) -> list[tuple[str | None, list[RoutedParagraph]]]:
    order = {sid: i for i, sid in enumerate(taxonomy.ids())}
    return sorted(by_section.items(), key=lambda item: order.get(item[0], len(order)) if item[0] else len(order) + 1)
