"""The document's body, streamed as WordprocessingML: the strategy's sections in order as headings, and under each
the statements that address it, grouped by respondent type and organisation, each paragraph with its question,
how it was routed when a person moved it, and the owners' handling (the note, or that nobody has handled it yet).

Written as text, a share at a time, straight into the package: a consultation of 60,000 paragraphs never sits
in memory as a document tree. Everything from a respondent is escaped: markup in it stays text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO
from xml.sax.saxutils import escape

from ..items import NO_SECTION
from .filters import finnish_date
from .query import Coverage
from .shares import RESPONDENT_TYPE_ORDER, UNHANDLED, Labels, Share, clean, question_text, routing_of

# Word has nine heading levels; sections deeper than that share the last.
MAX_HEADING = 9
NO_SECTION_HEADING = "Kohdat ilman tunnistettua lukua"
SILENT_HEADING = "Luvut, joihin lausunnot eivät kohdistuneet"


@dataclass(frozen=True)
class Styles:
    """The paragraph styles' ids in the document's style sheet."""

    respondent_type: str
    organization: str
    meta: str
    question: str
    paragraph: str
    marker: str
    bullet: str

    @staticmethod
    def heading(level: int) -> str:
        return f"Heading{min(max(level, 1), MAX_HEADING)}"


def paragraph(style: str | None, text: str, *, bold: str | None = None) -> str:
    """One paragraph of text (line breaks and tabs kept), optionally led by a bold run."""
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    lead = f"<w:r><w:rPr><w:b/></w:rPr>{_text(bold)}</w:r>" if bold else ""
    return f"<w:p>{properties}{lead}<w:r>{_text(text)}</w:r></w:p>"


def _text(text: str) -> str:
    parts = []
    for n, line in enumerate(clean(text).split("\n")):
        if n:
            parts.append("<w:br/>")
        for m, piece in enumerate(line.replace("\r", "").split("\t")):
            if m:
                parts.append("<w:tab/>")
            if piece:
                parts.append(f'<w:t xml:space="preserve">{escape(piece)}</w:t>')
    return "".join(parts)


class BodyWriter:
    """Writes the body into `out` as the shares come, in the report's order (section, respondent type,
    organisation, statement)."""

    def __init__(self, out: IO[bytes], styles: Styles, labels: Labels, coverage: Coverage) -> None:
        self.out = out
        self.styles = styles
        self.labels = labels
        self.coverage = coverage
        self.headed: set[str] = set()
        self.section: str | None = None
        self.respondent_type: str | None = None

    def write(self, xml: str) -> None:
        self.out.write(xml.encode())

    def add(self, shares: Iterable[Share]) -> None:
        chunks: list[str] = []
        for share in shares:
            if share.section_id != self.section:
                chunks.extend(self._section(share))
                self.section, self.respondent_type = share.section_id, None
            if share.respondent_type != self.respondent_type:
                self.respondent_type = share.respondent_type
                chunks.append(self._respondent_type(share))
            chunks.extend(self._share(share))
        self.write("".join(chunks))

    def _section(self, share: Share) -> list[str]:
        labels, taxonomy = self.labels, self.labels.taxonomy
        if share.section_id == NO_SECTION:
            heads = [paragraph(Styles.heading(1), NO_SECTION_HEADING)]
        else:
            heads = []
            for ancestor in reversed(taxonomy.ancestors(share.section_id)):
                if ancestor not in self.headed:
                    self.headed.add(ancestor)
                    heads.append(self._heading(ancestor, labels.section_title(ancestor, None)))
            title = labels.section_title(share.section_id, share.section_title)
            if share.section_id not in taxonomy:
                title = f"{title} (ei luonnoksessa)".strip()
            heads.append(self._heading(share.section_id, title))
            self.headed.add(share.section_id)
        counts = self.coverage.of(share.section_id)
        by_type = self.coverage.by_type(share.section_id)
        shares = ", ".join(
            f"{labels.respondent_type(rtype).lower()} {by_type[rtype].statements}"
            for rtype in sorted(by_type, key=_type_order)
        )
        heads.append(paragraph(None, f"Lausuntoja {counts.statements}, ohjattuja kohtia {counts.paragraphs}."))
        if shares:
            heads.append(paragraph(None, f"Lausunnot vastaajaryhmittäin: {shares}."))
        return heads

    def _heading(self, section_id: str, title: str) -> str:
        return paragraph(Styles.heading(len(section_id.split("."))), f"{section_id} {title}".strip())

    def _respondent_type(self, share: Share) -> str:
        cell = self.coverage.by_type(share.section_id).get(share.respondent_type)
        count = f" ({cell.statements} {'lausunto' if cell.statements == 1 else 'lausuntoa'})" if cell else ""
        return paragraph(self.styles.respondent_type, self.labels.respondent_type(share.respondent_type) + count)

    def _share(self, share: Share) -> list[str]:
        styles, labels = self.styles, self.labels
        earlier = "" if share.latest else ", aiempi versio"
        chunks = [
            paragraph(styles.organization, share.organization),
            paragraph(styles.meta, f"Lausunto {share.response_id}, versio {share.revision}{earlier}, "
                                   f"saapunut {finnish_date(share.received_at)}"),
        ]  # fmt: skip
        question = None
        for routed in share.paragraphs:
            if routed["question"] != question:
                question = routed["question"]
                text = question_text(question)
                chunks.append(paragraph(styles.question, f"Kysymys {question}" + (f": {text}" if text else "")))
            chunks.append(paragraph(styles.paragraph, routed["text"]))
            for note in routing_of(routed, share.respondent_type).corrections:
                lead = f"Ohjaus korjattu ({labels.owner(note.by_role)}, {finnish_date(note.corrected_at)}): "
                chunks.append(paragraph(styles.marker, f"”{note.reason}”", bold=lead))
        chunks.extend(self._handling(share))
        return chunks

    def _handling(self, share: Share) -> list[str]:
        styles, labels = self.styles, self.labels
        if not share.latest and all(h.state is None for h in share.handlings):
            return [paragraph(styles.marker, "Käsitellään lausunnon uusimman version osana.")]
        chunks = []
        if not share.handled:
            owners = ", ".join(labels.owner(h.owner_id) for h in share.handlings)
            chunks.append(paragraph(styles.marker, f" ({owners})", bold=UNHANDLED))
        for handling in share.handlings:
            if handling.note:
                state = f", {handling.state.label.lower()}" if handling.state is not None else ""
                lead = f"Muistiinpano ({labels.owner(handling.owner_id)}{state}): "
                chunks.append(paragraph(styles.marker, handling.note, bold=lead))
            elif handling.handled:
                chunks.append(paragraph(styles.marker, f" ({labels.owner(handling.owner_id)})", bold="Käsitelty"))
        return chunks

    def finish(self, silent: list[str]) -> None:
        """The sections nobody addressed, listed at the end: the office sees the silence too."""
        chunks = [paragraph(Styles.heading(1), SILENT_HEADING)]
        if silent:
            chunks.append(paragraph(None, "Yksikään tämän yhteenvedon lausunnoista ei kohdistunut näihin lukuihin:"))
            chunks.extend(
                paragraph(self.styles.bullet, self.labels.section(s, self.labels.section_title(s, None)))
                for s in silent
            )
        else:
            chunks.append(paragraph(None, "Jokaiseen lukuun kohdistui vähintään yksi lausunto."))
        self.write("".join(chunks))


def _type_order(rtype: str) -> int:
    return RESPONDENT_TYPE_ORDER.get(rtype, len(RESPONDENT_TYPE_ORDER))
