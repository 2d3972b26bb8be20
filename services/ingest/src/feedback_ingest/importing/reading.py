"""Read a statement file (plain text, markdown or .docx) into text lines.

A .docx is flattened into the same lines a text export would have, so that one parser handles every format.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from .api import DocumentError

_DOCX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .doc, .xls: not readable here


def read_lines(path: Path) -> tuple[list[str], list[str]]:
    """The document's text as lines (blank lines separate paragraphs) and warnings about how it was read."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise DocumentError(f"{path} is a directory, not a document") from None
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".docx" or data.startswith(_DOCX_MAGIC):
        return docx_lines(data, name=str(path)), []
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(f"{path} is a legacy Word/Office file; save it as .docx or plain text")
    return _text_lines(data, name=str(path))


def _text_lines(data: bytes, *, name: str) -> tuple[list[str], list[str]]:
    if b"\x00" in data:
        raise DocumentError(f"{name} is a binary file, not text (supported: plain text, markdown, .docx)")
    try:
        return data.decode("utf-8-sig").splitlines(), []
    except UnicodeDecodeError:
        # Word's "save as text" on Windows writes Windows-1252; Finnish letters survive that encoding.
        text = data.decode("cp1252", errors="replace")
        return text.splitlines(), [f"{name} is not UTF-8; read it as Windows-1252"]


def docx_lines(data: bytes, *, name: str = "document") -> list[str]:
    """Flatten a .docx into text lines: one paragraph per block, list items as "- " lines, headings as "#"."""
    import docx  # imported here: every `feedback` command loads the importer, few read Word documents

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a damaged zip or XML raises anything from deep inside the parser
        raise DocumentError(f"{name} is not a readable .docx document ({type(exc).__name__}: {exc})") from None
    lines: list[str] = []
    in_list = False
    for kind, item in _docx_body_items(document):
        if kind == "table":
            lines.append("")
            lines.extend(_docx_table_lines(item))
            in_list = False
            continue
        text = item.text.strip()
        style = item.style.name if item.style is not None else ""
        if not text:
            lines.append("")
            in_list = False
        elif style.startswith("List"):
            # Consecutive list items stay one block, as they would in a text export.
            if not in_list:
                lines.append("")
            lines.append("- " + " ".join(text.split()))
            in_list = True
        else:
            lines.append("")
            lines.extend(_heading_prefix(style) + line for line in text.split("\n"))
            in_list = False
    return lines


def _docx_body_items(document) -> Iterator[tuple[str, object]]:
    """Paragraphs and tables of the body in document order, looking inside content controls."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def walk(element) -> Iterator[tuple[str, object]]:
        for child in element.iterchildren():
            if child.tag == qn("w:p"):
                yield "paragraph", Paragraph(child, document)
            elif child.tag == qn("w:tbl"):
                yield "table", Table(child, document)
            elif child.tag in (qn("w:sdt"), qn("w:sdtContent")):
                yield from walk(child)

    yield from walk(document.element.body)


def _docx_table_lines(table) -> list[str]:
    # A table row becomes "cell<TAB>cell", the same shape as the survey tool's "Etunimi<TAB>Heikki" lines.
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            lines.append("\t".join(cells))
    return lines


def _heading_prefix(style_name: str) -> str:
    match = re.fullmatch(r"Heading (\d)", style_name)
    if match:
        return "#" * int(match.group(1)) + " "
    return "# " if style_name == "Title" else ""
