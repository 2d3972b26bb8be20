"""The writing parts of the office's summary, without a database: how a routed paragraph's route reads (automatic,
or corrected and by whom), respondent text kept as text in the document and the spreadsheet whatever it holds,
the coverage chart drawn the same for the same counts, and packages whose entries carry no time."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from xml.etree import ElementTree

from feedback_contracts.owners import load_owners
from feedback_contracts.taxonomy import load_taxonomy
from feedback_workspace.reports.chart import coverage_chart, describe
from feedback_workspace.reports.document_body import paragraph
from feedback_workspace.reports.packaging import PackageWriter, core_properties
from feedback_workspace.reports.query import Cell, Coverage
from feedback_workspace.reports.shares import Labels, routing_of
from feedback_workspace.reports.sheet_xml import CellStyles, RowsSheet

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
LABELS = Labels(load_taxonomy(), load_owners("config/owners.example.yaml"))
CORRECTION = {
    "kind": "correction",
    "correction": {"correction_id": "k-1", "by_role": "strategiatoimisto", "reason": "Kuuluu tänne.",
                   "corrected_at": "2026-04-12T09:30:00Z"},
}  # fmt: skip


def test_a_paragraph_a_person_moved_is_corrected_by_their_role_and_others_are_automatic() -> None:
    moved = routing_of({"reasons": [CORRECTION]}, "municipality")
    assert moved.corrected and LABELS.routing(moved) == "korjattu (Strategiatoimisto)"
    assert moved.reasons == ("siirretty tänne käsin (strategiatoimisto): ”Kuuluu tänne.”",)
    automatic = routing_of({"reasons": [{"kind": "reference", "match": "luvussa 5.2.2"}]}, "municipality")
    assert LABELS.routing(automatic) == "automaattinen"
    assert automatic.reasons == ("mainitsee luvun: ”luvussa 5.2.2”",)


def test_respondent_text_in_the_document_is_text_whatever_it_holds() -> None:
    text = 'Rivi <w:r>&amp;\n"toinen"\trivi\x00\x0b loppu'
    xml = f'<w:body xmlns:w="{W[1:-1]}">{paragraph("Kysymys", text, bold="Lihava: ")}</w:body>'
    (p,) = ElementTree.fromstring(xml)
    runs = p.findall(f"{W}r")
    assert [t.text for t in runs[0].iter(f"{W}t")] == ["Lihava: "] and runs[0].find(f"{W}rPr/{W}b") is not None
    parts = [(child.tag.replace(W, ""), child.text) for child in runs[1]]
    assert parts == [("t", "Rivi <w:r>&amp;"), ("br", None), ("t", '"toinen"'), ("tab", None), ("t", "rivi loppu")]
    assert p.find(f"{W}pPr/{W}pStyle").get(f"{W}val") == "Kysymys"


def test_spreadsheet_rows_are_strings_numbers_and_dates_and_nothing_is_a_formula(tmp_path) -> None:  # noqa: ANN001
    styles = CellStyles(header=1, text=2, wrapped=3, date=4, text_kept=5, wrapped_kept=6)
    sheet = RowsSheet(tmp_path / "s.xml", ["A", "B", "C", "D"], [10, 20, 30, 40], [False, True, False, False], styles)
    sheet.append(["=SUM(A1:A9)", "-1 <b>\r\nx</b>", 7, datetime(2026, 4, 20, 12, 0)])
    sheet.append(["tavallinen", None, None, ""])
    sheet.close()
    part = io.BytesIO()
    sheet.write_to(part)
    root = ElementTree.fromstring(part.getvalue())
    assert root.find(f"{S}dimension").get("ref") == "A1:D3"
    rows = root.findall(f"{S}sheetData/{S}row")
    cells = {c.get("r"): c for row in rows for c in row}
    assert cells["A2"].get("t") == "inlineStr" and cells["A2"].get("s") == "5", "a formula-like text, kept text"
    assert cells["A2"].find(f"{S}is/{S}t").text == "=SUM(A1:A9)" and root.find(f".//{S}f") is None
    assert cells["B2"].get("s") == "6" and cells["B2"].find(f"{S}is/{S}t").text == "-1 <b>\r\nx</b>"
    assert cells["C2"].find(f"{S}v").text == "7" and cells["C2"].get("t") is None
    assert cells["D2"].get("s") == "4" and abs(float(cells["D2"].find(f"{S}v").text) - 46132.5) < 1e-9
    assert cells["A3"].get("s") == "2" and "B3" not in cells and "D3" not in cells
    assert root.find(f"{S}autoFilter").get("ref") == "A1:D3"
    assert root.find(f".//{S}pane").get("state") == "frozen"
    assert [c.get("width") for c in root.findall(f"{S}cols/{S}col")] == ["10", "20", "30", "40"]


def test_the_chart_is_the_same_for_the_same_counts_and_says_in_words_what_it_shows() -> None:
    coverage = Coverage({("5.2.2", "municipality"): Cell(2, 5), ("5.2.2", "company"): Cell(1, 1),
                         ("5.3.1.2", "municipality"): Cell(3, 9), ("", "company"): Cell(1, 1)})  # fmt: skip
    svg = coverage_chart(coverage, LABELS, "svg")
    assert svg == coverage_chart(coverage, LABELS, "svg") and svg.startswith(b"<?xml")
    assert b"5.3.1.2 Kuntayhteisty" in svg and b"Ei tunnistettua lukua" in svg, "labels are text, not paths"
    png = coverage_chart(coverage, LABELS, "png")
    assert png == coverage_chart(coverage, LABELS, "png") and png.startswith(b"\x89PNG")
    assert describe(coverage, LABELS) == (
        "Vaakapylväskaavio: 16 ohjattua kohtaa 3 luvussa, pylväät jaettu vastaajaryhmittäin. Eniten kohtia: "
        "5.3.1.2 Kuntayhteistyö (9), 5.2.2 Turvallisuus ja kriisinkestävyys (6), Ei tunnistettua lukua (1)."
    )
    assert describe(Coverage({}), LABELS) == "Kaavio: ohjattuja kohtia ei vielä ole."


def test_a_package_holds_no_time_but_its_creation_and_says_who_made_it() -> None:
    out = io.BytesIO()
    package = PackageWriter(out, title="Otsikko & muuta", created=datetime(2026, 5, 4, 13, 0, 1, tzinfo=UTC))
    with package.open("a.xml") as entry:
        entry.write(b"<a/>")
    package.close()
    with zipfile.ZipFile(out) as written:
        assert [(i.filename, i.date_time) for i in written.infolist()] == [("a.xml", (1980, 1, 1, 0, 0, 0))]
    core = core_properties("Otsikko & muuta", datetime(2026, 5, 4, 16, 0, 1, tzinfo=UTC)).decode()
    assert "<dc:title>Otsikko &amp; muuta</dc:title>" in core and "<dc:language>fi-FI</dc:language>" in core
    assert core.count("2026-05-04T16:00:01Z") == 2, "created and modified are the same moment"
