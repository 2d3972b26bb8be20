"""Routing a whole response: paragraphs, the sections each concerns and why, and the owners of each section."""

from __future__ import annotations

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
from feedback_contracts.taxonomy import Taxonomy

from .classifier import PARTNER_SECTIONS, Classifier
from .paragraphs import split_paragraphs
from .precedents import PrecedentIndex

__all__ = ["PARTNER_SECTIONS", "Router"]

# A paragraph nothing points anywhere goes to the default owner with no confidence to report.
UNROUTED_SCORE = 0.0


class Router:
    """Splits a response into paragraphs, classifies each, and resolves the owners of every routed section.

    `precedents`: paragraphs people routed before, consulted for every paragraph; the service passes one index
    to every router it builds, so what it learnt survives a reload of the owners directory.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        owners: OwnersDirectory,
        classifier: Classifier,
        precedents: PrecedentIndex | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.owners = owners
        self.classifier = classifier
        self.precedents = precedents if precedents is not None else PrecedentIndex(classifier.model.analyzer)
        self._order = {sid: i for i, sid in enumerate(taxonomy.ids())}
        # Section -> (title, owner ids): fixed for this router, which is rebuilt when the owners directory changes.
        # Resolving owners walks every owner's patterns; a statement routes to a dozen sections.
        self._sections: dict[str | None, tuple[str | None, tuple[str, ...]]] = {}

    def route(self, event: ResponseReceived, now: datetime | None = None) -> ResponseClassified:
        split = split_paragraphs((a.question, a.text) for a in event.answers)
        paragraphs = tuple(Paragraph(index=i, question=p.question, text=p.text) for i, p in enumerate(split))
        # The form may carry each question's text: routing leans on it where the questionnaire knows none.
        asked = {a.question: a.question_text for a in event.answers if a.question_text}
        by_section: dict[str | None, list[RoutedParagraph]] = {}
        for paragraph in paragraphs:
            sections = self.classifier.classify(
                paragraph.text,
                paragraph.question,
                event.respondent_type,
                question_text=asked.get(paragraph.question),
                precedents=self.precedents,
                exclude_response=event.response_id,
            )
            if not sections:
                by_section.setdefault(None, []).append(
                    RoutedParagraph(paragraph=paragraph.index, score=UNROUTED_SCORE, reasons=(Reason(kind="default"),))
                )
            for section in sections:
                by_section.setdefault(section.section_id, []).append(
                    RoutedParagraph(paragraph=paragraph.index, score=section.score, reasons=tuple(section.reasons))
                )
        order = self._order
        ranked = sorted(
            by_section.items(), key=lambda item: order.get(item[0], len(order)) if item[0] else len(order) + 1
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
            routes=tuple(self._section_route(section_id, routed) for section_id, routed in ranked),
        )

    def _section_route(self, section_id: str | None, routed: list[RoutedParagraph]) -> SectionRoute:
        if (known := self._sections.get(section_id)) is None:
            section = self.taxonomy.get(section_id) if section_id else None
            owners = tuple(owner.id for owner in self.owners.owners_for(section_id))
            known = self._sections[section_id] = (section.title if section else None, owners)
        title, owners = known
        return SectionRoute(section_id=section_id, section_title=title, owners=owners, paragraphs=tuple(routed))
