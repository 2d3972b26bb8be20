"""The spreadsheet (xlsx): a row per routed paragraph and owner, a sheet of coverage (sections in the strategy's
order × respondent types), a sheet of respondents (organisations only: the workspace never has names, email
addresses or phone numbers) and a sheet saying what the file holds.

The workbook is openpyxl's, in write-only mode: its styles, its smaller sheets, its package. The rows sheet, which
holds a whole consultation, is streamed to disk as text by `sheet_xml` (openpyxl's cells were too slow for it) and
takes the place of openpyxl's empty sheet of the same name when the package is written.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from feedback_contracts.respondents import RespondentType

from .filters import HELSINKI
from .packaging import COMPRESS_LEVEL, CREATOR, FixedTimeZipFile
from .query import Coverage, Respondent
from .shares import HANDLED, UNHANDLED, Handling, Labels, Share, clean, question_text, routing_of
from .sheet_xml import FORMULA_STARTS, CellStyles, RowsSheet

DATE_FORMAT = "d.m.yyyy h:mm"
# The state of a row of an earlier revision: its paragraphs are handled in the latest revision's items.
EARLIER_REVISION = "Aiempi versio"
TITLE = "Lausuntoyhteenveto: ohjatut kohdat"


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    wrap: bool = False


ROWS = (
    Column("Lausunto", 20), Column("Versio", 8), Column("Organisaatio", 30), Column("Vastaajaryhmä", 24),
    Column("Kysymys", 9), Column("Kysymyksen teksti", 40, wrap=True), Column("Kohta", 80, wrap=True),
    Column("Luku", 9), Column("Luvun otsikko", 30), Column("Vastuurooli", 28), Column("Ohjaus", 20),
    Column("Ohjauksen perusteet", 40, wrap=True), Column("Tila", 12), Column("Käsittely", 16),
    Column("Muistiinpano", 40, wrap=True), Column("Saapunut", 16),
)  # fmt: skip
RESPONDENTS = (Column("Organisaatio", 40), Column("Vastaajaryhmä", 30), Column("Lausuntoja", 12),
               Column("Lausuntojen tunnisteet", 60, wrap=True))  # fmt: skip
SHEET_ROWS, SHEET_COVERAGE, SHEET_RESPONDENTS, SHEET_ABOUT = "Kohdat", "Kattavuus", "Vastaajat", "Tietoja"


class SpreadsheetWriter:
    """Writes one workbook: `add` the shares as they stream, then `finish` with the counts."""

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.workbook = Workbook(write_only=True)
        self.header_font = Font(bold=True)
        self.header_fill = PatternFill("solid", fgColor="DDE6EE")
        self.wrap = Alignment(wrap_text=True, vertical="top")
        self.placeholder = self.workbook.create_sheet(SHEET_ROWS)  # openpyxl's; its content is `self.rows`
        self.folder = tempfile.TemporaryDirectory(prefix="lausuntoyhteenveto-")
        self.rows = RowsSheet(Path(self.folder.name) / "kohdat.xml", [c.header for c in ROWS],
                              [c.width for c in ROWS], [c.wrap for c in ROWS], self._styles())  # fmt: skip

    def _styles(self) -> CellStyles:
        """The rows sheet's styles, registered in the workbook's style sheet through cells of openpyxl's own."""

        def style(**settings: Any) -> int:
            cell = WriteOnlyCell(self.placeholder)
            for name, value in settings.items():
                setattr(cell, name, value)
            return cell.style_id

        top = Alignment(vertical="top")
        return CellStyles(
            header=style(font=self.header_font, fill=self.header_fill, alignment=self.wrap),
            text=style(alignment=top),
            wrapped=style(alignment=self.wrap),
            date=style(alignment=top, number_format=DATE_FORMAT),
            text_kept=style(alignment=top, quotePrefix=True),
            wrapped_kept=style(alignment=self.wrap, quotePrefix=True),
        )

    @property
    def count(self) -> int:
        return self.rows.count

    def add(self, shares: Iterable[Share]) -> None:
        """A row per paragraph and owner of each share."""
        labels, append = self.labels, self.rows.append
        for share in shares:
            rtype = labels.respondent_type(share.respondent_type)
            section_title = labels.section_title(share.section_id, share.section_title)
            received = share.received_at.astimezone(HELSINKI).replace(tzinfo=None, microsecond=0)
            owners = [(h, labels.owner(h.owner_id), *_handling(h)) for h in share.handlings]
            for paragraph in share.paragraphs:
                routing = routing_of(paragraph, share.respondent_type)
                question = paragraph["question"]
                routed, reasons = labels.routing(routing), "; ".join(routing.reasons)
                text, asked = paragraph["text"], question_text(question)
                for handling, owner, state, handled in owners:
                    append((
                        share.response_id, share.revision, share.organization, rtype, question, asked, text,
                        share.section_id, section_title, owner, routed, reasons, state, handled, handling.note,
                        received,
                    ))  # fmt: skip

    def finish(self, coverage: Coverage, sections: list[str], respondents: list[Respondent], about: list[str],
               target: BinaryIO, created: datetime) -> None:  # fmt: skip
        """The rows closed, the other sheets written, the workbook saved into `target` and the rows in it."""
        try:
            self.rows.close()
            self.placeholder.auto_filter.ref = self.rows.reference  # the workbook names the filtered range too
            self._coverage(coverage, sections)
            self._respondents(respondents)
            self._about(about)
            properties = self.workbook.properties
            properties.creator = properties.lastModifiedBy = CREATOR
            properties.title, properties.language = TITLE, "fi-FI"
            properties.created = properties.modified = created.astimezone(UTC).replace(tzinfo=None, microsecond=0)
            # Saved as openpyxl saves, less the time it writes into every entry and as the modification time.
            # openpyxl names the worksheet parts by their place in the workbook when it writes them.
            part = f"xl/worksheets/sheet{self.workbook.worksheets.index(self.placeholder) + 1}.xml"
            package = FixedTimeZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL,
                                       allowZip64=True, replace={part: self.rows.write_to})  # fmt: skip
            ExcelWriter(self.workbook, package).save()
        finally:
            self.folder.cleanup()

    def text(self, value: str | None, sheet: Any, *, wrap: bool = False) -> Any:
        """A string cell of the smaller sheets, whatever the text looks like (never a formula)."""
        text = clean(value)
        if not text:
            return None
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"  # after the value: openpyxl took a leading '=' for a formula
        if text.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
        if wrap:
            cell.alignment = self.wrap
        return cell

    def _sheet(self, title: str, columns: Sequence[Column]) -> Any:
        sheet = self.workbook.create_sheet(title)
        for n, column in enumerate(columns, 1):
            sheet.column_dimensions[get_column_letter(n)].width = column.width
        sheet.freeze_panes = "A2"
        header = []
        for column in columns:
            cell = self.text(column.header, sheet, wrap=True)
            cell.font, cell.fill = self.header_font, self.header_fill
            header.append(cell)
        sheet.append(header)
        return sheet

    def _coverage(self, coverage: Coverage, sections: list[str]) -> None:
        types = list(RespondentType)
        columns = [Column("Luku", 9), Column("Luvun otsikko", 40)]
        for rtype in types:
            label = self.labels.respondent_type(rtype.value)
            columns += [Column(f"{label}: lausuntoja", 14, wrap=True), Column(f"{label}: kohtia", 14, wrap=True)]
        columns += [Column("Yhteensä: lausuntoja", 14, wrap=True), Column("Yhteensä: kohtia", 14, wrap=True)]
        sheet = self._sheet(SHEET_COVERAGE, columns)
        shown = list(sections) + sorted(coverage.sections() - set(sections), key=self.labels.section_order)
        for section in shown:
            cells = coverage.by_type(section)
            counts: list[int] = []
            for rtype in types:
                cell = cells.get(rtype.value)
                counts += [cell.statements, cell.paragraphs] if cell else [0, 0]
            total = coverage.of(section)
            title = self.labels.section_title(section, None)
            sheet.append([section or None, self.text(title, sheet), *counts, total.statements, total.paragraphs])
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(shown) + 1}"

    def _respondents(self, respondents: list[Respondent]) -> None:
        sheet = self._sheet(SHEET_RESPONDENTS, RESPONDENTS)
        for respondent in respondents:
            sheet.append([
                self.text(respondent.organization, sheet), self.labels.respondent_type(respondent.respondent_type),
                len(respondent.response_ids), self.text(", ".join(respondent.response_ids), sheet, wrap=True),
            ])  # fmt: skip
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(RESPONDENTS))}{len(respondents) + 1}"

    def _about(self, lines: list[str]) -> None:
        sheet = self.workbook.create_sheet(SHEET_ABOUT)
        sheet.column_dimensions["A"].width = 120
        for line in lines:
            sheet.append([self.text(line, sheet, wrap=True)])


def _handling(handling: Handling) -> tuple[str, str | None]:
    """The state and the handled-or-not marker of a row; an earlier revision's row has neither of its own."""
    if handling.state is None:
        return EARLIER_REVISION, None
    return handling.state.label, HANDLED if handling.handled else UNHANDLED
