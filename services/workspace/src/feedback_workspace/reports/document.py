"""The summary document (docx), the draft of the lausuntoyhteenveto: a title page (the consultation, the time
range, statements by respondent type, what the document was limited to), a table of contents, the coverage
chart with its figures, then the strategy's sections (`document_body`) and at the end the sections nobody
addressed.

python-docx makes the frame (styles, the first pages, the chart); the body is streamed into the package in place
of a marker paragraph, so the document is written without holding the consultation in memory.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from docx import Document
from docx.document import Document as WordDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from lxml.etree import QName

from feedback_contracts.questionnaire import SURVEY_TITLE
from feedback_contracts.respondents import RespondentType

from ..items import NO_SECTION
from .document_body import NO_SECTION_HEADING, SILENT_HEADING, BodyWriter, Styles
from .filters import finnish_date, time_range
from .packaging import PackageWriter
from .query import Coverage, Summary
from .shares import UNHANDLED, Labels, Share

TITLE = "Lausuntoyhteenveto"
DOCUMENT_XML = "word/document.xml"
MARKER = "@@LAUSUNTOYHTEENVETO-RUNKO@@"
COVERAGE_HEADING = "Lausuntojen kattavuus"
CHART_WIDTH_CM = 16
TOC_LEVELS = 4
GREY = RGBColor(0x40, 0x40, 0x40)  # 10:1 on white
# The settings that come after w:updateFields in WordprocessingML's schema (CT_Settings), as far as a document
# made from python-docx's template has them.
AFTER_UPDATE_FIELDS = frozenset({
    "hdrShapeDefaults", "footnotePr", "endnotePr", "compat", "docVars", "rsids", "mathPr", "attachedSchema",
    "themeFontLang", "clrSchemeMapping", "doNotIncludeSubdocsInStats", "doNotAutoCompressPictures", "forceUpgrade",
    "captions", "readModeInkLockDown", "smartTagType", "schemaLibrary", "shapeDefaults", "doNotEmbedSmartTags",
    "decimalSymbol", "listSeparator",
})  # fmt: skip


@dataclass(frozen=True)
class Front:
    """What the first pages say, known before the body streams."""

    summary: Summary
    coverage: Coverage
    since: datetime | None
    until: datetime | None
    limits: list[str]  # the filter in Finnish, a line each
    chart_png: bytes
    chart_text: str  # the chart in words, its text alternative


class DocumentWriter:
    """Writes one document into `target`: the frame at once, then `add` the shares as they stream, `finish`."""

    def __init__(self, labels: Labels, front: Front, target: BinaryIO, created: datetime) -> None:
        document, styles = frame(labels, front)
        self.package = PackageWriter(target, title=TITLE, created=created)
        with tempfile.TemporaryDirectory(prefix="lausuntoyhteenveto-") as folder:
            skeleton = Path(folder) / "runko.docx"
            document.save(str(skeleton))
            head, self.tail = _split(skeleton)
            self.package.copy(skeleton, leave_out=frozenset({DOCUMENT_XML}))
        self.entry = self.package.open(DOCUMENT_XML)
        self.entry.write(head)
        self.body = BodyWriter(self.entry, styles, labels, front.coverage)

    def add(self, shares: list[Share]) -> None:
        self.body.add(shares)

    def finish(self, silent: list[str]) -> None:
        self.body.finish(silent)
        self.entry.write(self.tail)
        self.entry.close()
        self.package.close()


def _split(skeleton: Path) -> tuple[bytes, bytes]:
    """The frame's document.xml around the marker paragraph, where the body goes."""
    with zipfile.ZipFile(skeleton) as package:
        xml = package.read(DOCUMENT_XML)
    at = xml.index(MARKER.encode())
    start, end = xml.rindex(b"<w:p>", 0, at), xml.index(b"</w:p>", at) + len(b"</w:p>")
    return xml[:start], xml[end:]


def frame(labels: Labels, front: Front) -> tuple[WordDocument, Styles]:
    """The document up to the body: page, language and styles, the title page, contents, coverage."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.5))
    for lang in document.styles.element.xpath("w:docDefaults//w:lang"):
        lang.set(qn("w:val"), "fi-FI")
    styles = _styles(document)
    _title_page(document, labels, front)
    _contents(document, labels, front.coverage)
    _coverage(document, labels, front)
    document.add_paragraph(MARKER)
    return document, styles


def _styles(document: WordDocument) -> Styles:
    def style(name: str, *, size: float = 11, bold: bool = False, italic: bool = False, grey: bool = False,
              before: float = 0, after: float = 4, indent: float = 0, keep: bool = False) -> str:  # fmt: skip
        made = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        made.base_style = document.styles["Normal"]
        made.font.size, made.font.bold, made.font.italic = Pt(size), bold, italic
        if grey:
            made.font.color.rgb = GREY
        form = made.paragraph_format
        form.space_before, form.space_after, form.keep_with_next = Pt(before), Pt(after), keep
        if indent:
            form.left_indent = Cm(indent)
        return made.style_id

    return Styles(
        respondent_type=style("Vastaajaryhmä", size=12, bold=True, before=10, keep=True),
        organization=style("Lausuja", bold=True, before=8, after=0, keep=True),
        meta=style("Lausunnon tiedot", size=9, grey=True, keep=True),
        question=style("Kysymys", size=10, italic=True, grey=True, before=4, keep=True),
        paragraph=style("Lausunnon kohta", indent=0.6, after=4),
        marker=style("Käsittely", size=10, indent=0.6, after=6),
        bullet=document.styles["List Bullet"].style_id,
    )


def _title_page(document: WordDocument, labels: Labels, front: Front) -> None:
    add = document.add_paragraph
    add(TITLE, style="Title")
    add(f"Oma Hämeen palvelustrategian luonnos: {SURVEY_TITLE}", style="Subtitle")
    add("Kanta-Hämeen hyvinvointialue (Oma Häme)")
    summary = front.summary
    span = received_span(front)
    if span:
        add(f"Lausunnot saapuneet: {span}")
    add(f"Lausuntoja yhteensä {summary.statements}.")
    rows = [(t, summary.statements_by_type[t.value]) for t in RespondentType if summary.statements_by_type.get(t.value)]
    table = document.add_table(rows=1, cols=2)
    table.style = document.styles["Table Grid"]
    header = table.rows[0].cells
    header[0].text, header[1].text = "Vastaajaryhmä", "Lausuntoja"
    for rtype, count in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = labels.respondent_type(rtype.value), str(count)
    total = table.add_row().cells
    total[0].text, total[1].text = "Yhteensä", str(summary.statements)
    _header_row(document)
    add().add_run("Rajaus").bold = True  # not a heading: the contents start after the title page
    for line in front.limits:
        add(line, style="List Bullet")
    add(
        "Tämä on lausuntoyhteenvedon luonnos, koottu lausuntopalvelun työtilasta. Luvut ovat palvelustrategian "
        "luonnoksen järjestyksessä; kunkin luvun alla ovat siihen ohjatut lausuntojen kohdat vastaajaryhmittäin ja "
        f"organisaatioittain, vastuuhenkilöiden muistiinpanot ja merkintä ”{UNHANDLED}” kohdista, joita kukaan ei "
        "ole vielä käsitellyt. Lopussa ovat luvut, joihin yksikään lausunto ei kohdistunut."
    )
    add().add_run().add_break(WD_BREAK.PAGE)


def received_span(front: Front) -> str | None:
    """When the statements arrived: the filter's range where it sets one, else the first and last arrival."""
    first = front.since or front.summary.first_received
    if front.until is not None:
        return time_range(first, front.until)
    last = front.summary.last_received
    if first is None or last is None:
        return None
    start, end = finnish_date(first), finnish_date(last)
    return start if start == end else f"{start}–{end}"


def _header_row(document: WordDocument) -> None:
    """The last table's first row is its header: repeated on every page and read as such by screen readers."""
    row = document.element.body.xpath("./w:tbl")[-1].xpath("./w:tr")[0]
    properties = row.get_or_add_trPr()
    properties.append(OxmlElement("w:tblHeader"))


def toc_entries(coverage: Coverage, labels: Labels) -> list[tuple[int, str]]:
    """The headings the body will have, as the contents lists them before Word updates it."""
    entries = [(1, COVERAGE_HEADING)]
    seen: set[str] = set()
    for section in sorted(coverage.sections(), key=labels.section_order):
        if section == NO_SECTION:
            entries.append((1, NO_SECTION_HEADING))
            continue
        for one in [*reversed(labels.taxonomy.ancestors(section)), section]:
            if one not in seen:
                seen.add(one)
                entries.append((len(one.split(".")), f"{one} {labels.section_title(one, None)}".strip()))
    entries.append((1, SILENT_HEADING))
    return [(level, text) for level, text in entries if level <= TOC_LEVELS]


def _contents(document: WordDocument, labels: Labels, coverage: Coverage) -> None:
    """A table of contents field (Word fills in the pages when the document is opened), listing the headings
    meanwhile, so a reader without Word sees them too."""
    document.add_paragraph("Sisällys", style="TOC Heading")
    entries = toc_entries(coverage, labels)
    paragraphs = [document.add_paragraph() for _ in entries]
    for (level, text), paragraph in zip(entries, paragraphs, strict=True):
        paragraph.paragraph_format.left_indent = Cm(0.6 * (level - 1))
        paragraph.paragraph_format.space_after = Pt(2)
        paragraph.add_run(text)
    first, last = paragraphs[0], paragraphs[-1]
    begin = first.insert_paragraph_before()
    _field_char(begin, "begin")
    instruction = begin.add_run()
    code = OxmlElement("w:instrText")
    code.set(qn("xml:space"), "preserve")
    code.text = f' TOC \\o "1-{TOC_LEVELS}" \\h \\z \\u '
    instruction.element.append(code)
    _field_char(begin, "separate")
    _field_char(last, "end")
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    settings = document.settings.element
    later = next((child for child in settings if QName(child).localname in AFTER_UPDATE_FIELDS), None)
    if later is None:
        settings.append(update)
    else:
        later.addprevious(update)  # Word reads the settings in the schema's order only
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _field_char(paragraph: Paragraph, kind: str) -> None:
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), kind)
    if kind == "begin":
        char.set(qn("w:dirty"), "true")
    paragraph.add_run().element.append(char)


def _coverage(document: WordDocument, labels: Labels, front: Front) -> None:
    document.add_heading(COVERAGE_HEADING, level=1)
    document.add_paragraph(
        "Kuvio näyttää, kuinka monta lausuntojen kohtaa kuhunkin lukuun ohjattiin, vastaajaryhmittäin. "
        "Samat luvut ovat taulukossa kuvion alla."
    )
    document.add_picture(io.BytesIO(front.chart_png), width=Cm(CHART_WIDTH_CM))
    for properties in document.element.body.xpath(".//wp:docPr")[-1:]:
        properties.set("descr", front.chart_text)
        properties.set("title", "Kattavuuskuvio")
    document.add_paragraph("Kuvio 1. Ohjatut kohdat luvuittain ja vastaajaryhmittäin.", style="Caption")
    coverage = front.coverage
    sections = sorted(coverage.sections(), key=labels.section_order)
    table = document.add_table(rows=1, cols=3)
    table.style = document.styles["Table Grid"]
    header = table.rows[0].cells
    header[0].text, header[1].text, header[2].text = "Luku", "Lausuntoja", "Kohtia"
    for section in sections:
        cells = table.add_row().cells
        counts = coverage.of(section)
        cells[0].text = labels.section(section, labels.section_title(section, None))
        cells[1].text, cells[2].text = str(counts.statements), str(counts.paragraphs)
    _header_row(document)
