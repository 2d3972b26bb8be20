"""The rows sheet's XML, written as text into a temporary file: openpyxl's write-only cells cost about eight
microseconds each, and 60,000 rows of 16 cells took 13 s of CPU that way; as text they take about one.

openpyxl still makes everything else of the workbook (the styles this sheet refers to, the other sheets, the
package): this writes the one worksheet part, in the same SpreadsheetML openpyxl writes, and `packaging` puts it
in place of openpyxl's empty sheet. Every text is an inline string cell: nothing a respondent wrote is ever read
as a formula, and a text that starts like one (=, +, -, @, tab, carriage return) is marked to stay text when
edited (its style has the quote prefix).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

from .packaging import COPY_CHUNK
from .shares import clean

# Excel holds at most 32,767 characters in a cell; a longer text is cut, and says so.
MAX_CELL_CHARS = 32_000
CUT = " … (katkaistu)"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
EXCEL_EPOCH = datetime(1899, 12, 30)
SECONDS_A_DAY = 86_400
# A carriage return in XML text would be read back as a newline: written as a character reference, it stays.
CARRIAGE_RETURN = {"\r": "&#13;"}
HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetPr><outlinePr summaryBelow="1" summaryRight="1"/><pageSetUpPr/></sheetPr>'
    '<dimension ref="{reference}"/>'
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
    'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
    '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
)
TAIL = '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>'


@dataclass(frozen=True)
class CellStyles:
    """Style ids (cellXfs) of the workbook's style sheet, registered through openpyxl."""

    header: int
    text: int  # plain, top-aligned
    wrapped: int
    date: int
    text_kept: int  # quote prefix: a formula-like text stays text
    wrapped_kept: int


class RowsSheet:
    """Writes one worksheet: a frozen header row, column widths, rows, and an autofilter over all of them."""

    def __init__(self, path: Path, headers: Sequence[str], widths: Sequence[float], wrapped: Sequence[bool],
                 styles: CellStyles) -> None:  # fmt: skip
        self.path = path
        self.styles = styles
        self.letters = [get_column_letter(n) for n in range(1, len(headers) + 1)]
        self.wrapped = list(wrapped)
        self.count = 0
        # The rows go to a file of their own: the head, which says how many there are, is written last.
        self.file = path.open("w", encoding="utf-8", newline="")
        self.cols = "".join(
            f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in enumerate(widths, 1)
        )
        header = "".join(self._text(letter, "1", text, styles.header) for letter, text in zip(self.letters, headers, strict=True))  # fmt: skip
        self.file.write(f'<row r="1">{header}</row>')

    @property
    def reference(self) -> str:
        """The cells of the header and every row, as the autofilter names them."""
        return f"A1:{self.letters[-1]}{self.count + 1}"

    def append(self, values: Sequence[str | int | datetime | None]) -> None:
        """A row: text as strings, whole numbers as numbers, times (naive, local) as dates; None as no cell."""
        self.count += 1
        number = str(self.count + 1)
        cells = []
        for letter, wrap, value in zip(self.letters, self.wrapped, values, strict=True):
            if value is None:
                continue
            if isinstance(value, str):
                if value:
                    cells.append(self._text(letter, number, value, None, wrap))
            elif isinstance(value, datetime):
                serial = (value - EXCEL_EPOCH).total_seconds() / SECONDS_A_DAY
                cells.append(f'<c r="{letter}{number}" s="{self.styles.date}"><v>{serial!r}</v></c>')
            else:
                cells.append(f'<c r="{letter}{number}"><v>{int(value)}</v></c>')
        self.file.write(f'<row r="{number}">{"".join(cells)}</row>')

    def _text(self, letter: str, number: str, value: str, style: int | None, wrap: bool = False) -> str:
        text = clean(value)
        if len(text) > MAX_CELL_CHARS:
            text = text[:MAX_CELL_CHARS] + CUT
        if style is None:
            style = self._style(wrap, kept=text.startswith(FORMULA_STARTS))
        body = escape(text, CARRIAGE_RETURN)
        return f'<c r="{letter}{number}" t="inlineStr" s="{style}"><is><t xml:space="preserve">{body}</t></is></c>'

    def _style(self, wrap: bool, *, kept: bool) -> int:
        if wrap:
            return self.styles.wrapped_kept if kept else self.styles.wrapped
        return self.styles.text_kept if kept else self.styles.text

    def close(self) -> None:
        self.file.close()

    def write_to(self, out: IO[bytes]) -> None:
        """The whole worksheet part: its head (the size, the frozen header, the columns), the rows, the filter."""
        out.write(f"{HEAD.format(reference=self.reference)}<cols>{self.cols}</cols><sheetData>".encode())
        with self.path.open("rb") as rows:
            shutil.copyfileobj(rows, out, COPY_CHUNK)
        out.write(f'</sheetData><autoFilter ref="{self.reference}"/>{TAIL}'.encode())
