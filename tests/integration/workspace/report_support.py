"""A small consultation for the report tests, as classify would publish it: the two seed statements routed by
classify's Router, and three statements written here so every case a report must show is there for sure (a
route corrected by the strategy office, a paragraph that starts like a spreadsheet formula, markup, a paragraph
that matched no section, an edited statement). Helpers read the files back as the office would."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workspace_support import OWNERS_FILE, classified, seed000, seed002

from feedback_contracts.events import (
    CorrectionNote,
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy

OFFICE = "strategiatoimisto"
FORMULA = '=HYPERLINK("http://example.com/x","klikkaa")'
MARKUP = "<b>Lihavoitu</b> & <script>alert(1)</script> jää tekstiksi."
CORRECTION_REASON = "Kuuluu asiakaslähtöisyyteen, ei turvallisuuteen."
NOTE = "Huomioidaan luvun 5.2.2 linjauksissa."
CORRECTED_AT = datetime(2026, 4, 12, 9, 30, tzinfo=UTC)
# Contact data only ingest ever has (seed 002's respondent): no report may hold any of it.
CONTACT_DATA = ("vastaaja.testi@example.org", "+358 40 000 0000", "Testi", "Vastaaja", "puheenjohtaja")


def _owners(section_id: str | None) -> tuple[str, ...]:
    return tuple(o.id for o in load_owners(OWNERS_FILE).owners_for(section_id))


def statement(
    response_id: str, rtype: RespondentType, organization: str, received_at: datetime,
    paragraphs: list[tuple[int, str, str | None, Reason]], revision: int = 1,
) -> ResponseClassified:  # fmt: skip
    """A classified statement: each paragraph (question, text, section or None, reason) routed to its section."""
    taxonomy = load_taxonomy()
    routes: dict[str | None, list[RoutedParagraph]] = {}
    for index, (_, _, section, reason) in enumerate(paragraphs):
        routes.setdefault(section, []).append(RoutedParagraph(paragraph=index, score=0.9, reasons=(reason,)))
    return ResponseClassified(
        survey_id="palvelustrategia-2026", response_id=response_id, revision=revision,
        replaces_revision=revision - 1 if revision > 1 else None, received_at=received_at,
        classified_at=received_at, respondent=PublicRespondent(organization=organization, title=None),
        respondent_type=rtype,
        paragraphs=tuple(Paragraph(index=i, question=q, text=t) for i, (q, t, _, _) in enumerate(paragraphs)),
        routes=tuple(
            SectionRoute(section_id=s, section_title=taxonomy.get(s).title if s else None, owners=_owners(s),
                         paragraphs=tuple(routed))
            for s, routed in routes.items()
        ),
    )  # fmt: skip


def reference(match: str) -> Reason:
    return Reason(kind="reference", match=match, span=(0, len(match)))


def corrected(by_role: str = OFFICE) -> Reason:
    note = CorrectionNote(correction_id="korjaus-1", by_role=by_role, reason=CORRECTION_REASON,
                          corrected_at=CORRECTED_AT)  # fmt: skip
    return Reason(kind="correction", correction=note)


DEFAULT = Reason(kind="default")


@dataclass(frozen=True)
class Consultation:
    city: ResponseClassified  # Riihimäki, municipality, 2 April: the formula and the markup
    parish: ResponseClassified  # Hattula parish, 10 April: the corrected route; its 5.2.2 item gets the note
    company: ResponseClassified  # 1 May: a paragraph that matched no section
    city_edited: ResponseClassified  # Riihimäki's revision 2 (one paragraph changed)
    seeds: tuple[ResponseClassified, ...]  # seed 002 (with contact data at ingest) and seed 000

    @property
    def latest(self) -> list[ResponseClassified]:
        return [self.city_edited, self.parish, self.company, *self.seeds]


def consultation() -> Consultation:
    city_paragraphs = [
        (27, "Luvussa 5.2.2 varautumista on syytä vahvistaa yhdessä kuntien kanssa.", "5.2.2", reference("Luvussa 5.2.2")),
        (28, FORMULA, "5.2.1", reference("luku 5.2.1")),
        (29, MARKUP, "5.3.1.2", Reason(kind="respondent_type")),
    ]  # fmt: skip
    city = statement("riihimaki-1", RespondentType.MUNICIPALITY, "Riihimäen kaupunki",
                     datetime(2026, 4, 2, 9, 0, tzinfo=UTC), city_paragraphs)  # fmt: skip
    edited = [*city_paragraphs[:2], (29, MARKUP + " Täydennetty.", "5.3.1.2", Reason(kind="respondent_type"))]
    city_edited = statement("riihimaki-1", RespondentType.MUNICIPALITY, "Riihimäen kaupunki",
                            datetime(2026, 4, 20, 9, 0, tzinfo=UTC), edited, revision=2)  # fmt: skip
    parish = statement("hattula-1", RespondentType.ORGANIZATION_OR_PARISH, "Hattulan seurakunta",
                       datetime(2026, 4, 10, 12, 0, tzinfo=UTC), [
                           (36, "Asiakkaan kohtaaminen seurakunnan diakoniatyössä on ensimmäinen tuki.", "5.1.1",
                            corrected()),
                           (37, "Kriisitilanteissa seurakunta tarjoaa henkistä tukea (luku 5.2.2).", "5.2.2",
                            reference("luku 5.2.2")),
                       ])  # fmt: skip
    company = statement("yritys-1", RespondentType.COMPANY, "Hoivapalvelu Oy", datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
                        [(45, "Toivomme selkeämpää aikataulua.", None, DEFAULT)])  # fmt: skip
    seeds = (
        classified(seed002(), received_at=datetime(2026, 3, 20, 12, 5, tzinfo=UTC)),
        classified(seed000(), received_at=datetime(2026, 3, 25, 10, 0, tzinfo=UTC)),
    )
    return Consultation(city, parish, company, city_edited, seeds)


def package_text(path: Path) -> str:
    """Every part of an xlsx or docx package as text: what anyone unzipping the file could read."""
    with zipfile.ZipFile(path) as package:
        return "\n".join(
            package.read(name).decode("utf-8", errors="replace")
            for name in package.namelist()
            if name.endswith((".xml", ".rels"))
        )
