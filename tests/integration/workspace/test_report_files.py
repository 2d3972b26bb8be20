"""The office's summary files made from the workspace's store on a real database (SQLite and PostgreSQL), read back
as the office reads them: the spreadsheet with openpyxl, the document with python-docx. What a summary must show
(the corrected route and who corrected it, the owner's note, what nobody has handled, the sections nobody
addressed) is there; what it must never hold (contact data, formulas) is not; and the same store gives the same
files."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import docx
import openpyxl
import pytest
from report_support import (
    CONTACT_DATA,
    CORRECTION_REASON,
    FORMULA,
    MARKUP,
    NOTE,
    Consultation,
    consultation,
    package_text,
)
from workspace_support import OWNERS_FILE

from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy
from feedback_workspace.items import NO_SECTION, State
from feedback_workspace.reports.export import export, labels_for
from feedback_workspace.reports.filters import HELSINKI, Format, ReportFilter
from feedback_workspace.store import WorkspaceStore

CREATED = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
HEADERS = [
    "Lausunto", "Versio", "Organisaatio", "Vastaajaryhmä", "Kysymys", "Kysymyksen teksti", "Kohta", "Luku",
    "Luvun otsikko", "Vastuurooli", "Ohjaus", "Ohjauksen perusteet", "Tila", "Käsittely", "Muistiinpano", "Saapunut",
]  # fmt: skip
TAXONOMY = load_taxonomy()
RANK = {s.id: n for n, s in enumerate(TAXONOMY.sections)}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[tuple[WorkspaceStore, Consultation]]:
    """The consultation recorded as the workspace records it; the parish's 5.2.2 item handled with a note."""
    data = consultation()
    store = WorkspaceStore(database_url)
    await store.create()
    try:
        for event in [data.city, data.parish, data.company, *data.seeds, data.city_edited]:
            await store.record(event, event.classified_at)
        parish = await store.statement("hattula-1")
        (item,) = [i for i in parish["items"] if i["section_id"] == "5.2.2"]
        await store.set_state(item["id"], item["owner_id"], State.HANDLED, NOTE, datetime(2026, 4, 15, tzinfo=UTC))
        yield store, data
    finally:
        await store.close()


async def made(store: WorkspaceStore, report_format: Format, folder: Path, report: ReportFilter | None = None,
               created: datetime = CREATED, name: str = "raportti") -> Path:  # fmt: skip
    path = folder / f"{name}.{report_format.value}"
    with path.open("wb") as target:
        await export(store.engine, report_format, report or ReportFilter(), target,
                     labels=labels_for(load_owners(OWNERS_FILE)), created=created)  # fmt: skip
    return path


def rows_of(path: Path) -> list[dict]:
    sheet = openpyxl.load_workbook(path)["Kohdat"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    return [dict(zip(HEADERS, row, strict=True)) for row in rows[1:]]


def routed(events: list) -> list[tuple[str, str, str]]:
    """(statement, section, owner) of every routed paragraph of `events`."""
    return [
        (e.response_id, r.section_id or "", o) for e in events for r in e.routes for _ in r.paragraphs for o in r.owners
    ]


def expected_coverage(events: list) -> dict[tuple[str, str], tuple[int, int]]:
    cells: dict[tuple[str, str], tuple[int, int]] = {}
    for event in events:
        for route in event.routes:
            key = (route.section_id or "", event.respondent_type.value)
            statements, paragraphs = cells.get(key, (0, 0))
            cells[key] = (statements + 1, paragraphs + len(route.paragraphs))
    return cells


def under(document, heading: str) -> list[str]:  # noqa: ANN001 - a python-docx Document
    """The texts of the paragraphs under a heading, up to the next heading."""
    paragraphs = document.paragraphs
    start = next(n for n, p in enumerate(paragraphs) if p.text == heading and p.style.name.startswith("Heading"))
    texts = []
    for paragraph in paragraphs[start + 1 :]:
        if paragraph.style.name.startswith("Heading"):
            break
        texts.append(paragraph.text)
    return texts


def section_rank(section_id: str | None) -> int:
    return RANK.get(section_id, len(RANK) + 1) if section_id else len(RANK) + 1


async def test_the_spreadsheet_has_a_row_per_routed_paragraph_in_the_strategys_order(store, tmp_path: Path) -> None:
    workspace, data = store
    path = await made(workspace, Format.XLSX, tmp_path)
    rows = rows_of(path)
    assert sorted((r["Lausunto"], r["Luku"] or "", r["Vastuurooli"]) for r in rows) == sorted(
        (rid, section, load_owners(OWNERS_FILE).get(owner).name) for rid, section, owner in routed(data.latest)
    )
    ranks = [section_rank(r["Luku"]) for r in rows]
    assert ranks == sorted(ranks), "rows follow the strategy's sections"
    assert {r["Versio"] for r in rows if r["Lausunto"] == "riihimaki-1"} == {2}, "the latest revision only"
    city = next(r for r in rows if r["Lausunto"] == "riihimaki-1" and r["Luku"] == "5.2.2")
    assert city["Organisaatio"] == "Riihimäen kaupunki" and city["Vastaajaryhmä"] == "Kunta tai kaupunki"
    assert city["Kysymys"] == 27 and city["Kysymyksen teksti"].startswith("Miltä luvun 5 painopisteiden sisällöt")
    assert city["Luvun otsikko"] == "Turvallisuus ja kriisinkestävyys"
    assert city["Saapunut"] == datetime(2026, 4, 20, 12, 0), "received, in Helsinki time"
    no_section = next(r for r in rows if r["Lausunto"] == "yritys-1")
    assert no_section["Luku"] is None and no_section["Luvun otsikko"] == "Ei tunnistettua lukua"
    assert rows[-1]["Lausunto"] == "yritys-1", "paragraphs that matched no section come last"

    sheet = openpyxl.load_workbook(path)["Kohdat"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:P{len(rows) + 1}"
    assert sheet.column_dimensions["G"].width == 80 and sheet.column_dimensions["A"].width == 20
    assert sheet["G2"].alignment.wrap_text and sheet["A1"].font.bold
    assert sheet["P2"].number_format == "d.m.yyyy h:mm"


async def test_the_corrected_route_the_note_and_what_nobody_has_handled_are_in_the_rows(store, tmp_path: Path) -> None:
    workspace, _ = store
    rows = rows_of(await made(workspace, Format.XLSX, tmp_path))
    moved = next(r for r in rows if r["Lausunto"] == "hattula-1" and r["Luku"] == "5.1.1")
    assert moved["Ohjaus"] == "korjattu (Strategiatoimisto)"
    assert f"siirretty tänne käsin (strategiatoimisto): ”{CORRECTION_REASON}”" in moved["Ohjauksen perusteet"]
    noted = next(r for r in rows if r["Lausunto"] == "hattula-1" and r["Luku"] == "5.2.2")
    assert (noted["Tila"], noted["Käsittely"], noted["Muistiinpano"]) == ("Käsitelty", "Käsitelty", NOTE)
    assert noted["Ohjaus"] == "automaattinen" and noted["Ohjauksen perusteet"] == "mainitsee luvun: ”luku 5.2.2”"
    waiting = next(r for r in rows if r["Lausunto"] == "riihimaki-1" and r["Luku"] == "5.2.2")
    assert (waiting["Tila"], waiting["Käsittely"], waiting["Muistiinpano"]) == ("Uusi", "Käsittelemättä", None)
    assert {r["Ohjaus"] for r in rows if r["Lausunto"] != "hattula-1"} == {"automaattinen"}


async def test_text_that_looks_like_a_formula_is_a_string_cell_and_markup_stays_text(store, tmp_path: Path) -> None:
    workspace, _ = store
    path = await made(workspace, Format.XLSX, tmp_path)
    sheet = openpyxl.load_workbook(path)["Kohdat"]
    cells = {cell.value: cell for row in sheet.iter_rows(min_col=7, max_col=7) for cell in row}
    formula = cells[FORMULA]
    assert formula.data_type == "s" and formula.quotePrefix, "a string, kept a string when edited"
    assert cells[MARKUP + " Täydennetty."].data_type == "s"
    with zipfile.ZipFile(path) as package:
        worksheets = [package.read(n).decode() for n in package.namelist() if n.startswith("xl/worksheets/")]
    assert not any("<f>" in xml or "<f " in xml for xml in worksheets), "no formula anywhere"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in worksheets[0]


async def test_the_coverage_sheet_counts_statements_and_paragraphs_by_section_and_respondent_type(
    store, tmp_path: Path
) -> None:
    workspace, data = store
    sheet = openpyxl.load_workbook(await made(workspace, Format.XLSX, tmp_path))["Kattavuus"]
    rows = list(sheet.iter_rows(values_only=True))
    types = list(RespondentType)
    assert rows[0][2:4] == ("Oma Hämeen lautakunta: lausuntoja", "Oma Hämeen lautakunta: kohtia")
    assert rows[0][-2:] == ("Yhteensä: lausuntoja", "Yhteensä: kohtia")
    assert [r[0] for r in rows[1:]] == [*TAXONOMY.ids(), None], "every section in the strategy's order, then none"
    expected = expected_coverage(data.latest)
    for row in rows[1:]:
        section = row[0] or ""
        for n, rtype in enumerate(types):
            assert row[2 + 2 * n : 4 + 2 * n] == expected.get((section, rtype.value), (0, 0)), (section, rtype)
        total = [v for (s, _), v in expected.items() if s == section]
        assert row[-2:] == (sum(t[0] for t in total), sum(t[1] for t in total))
    assert rows[-1][1] == "Ei tunnistettua lukua"
    assert (
        openpyxl.load_workbook(await made(workspace, Format.XLSX, tmp_path, name="b"))["Kattavuus"].freeze_panes == "A2"
    )


async def test_respondents_are_organisations_with_their_statements_and_no_file_holds_contact_data(
    store, tmp_path: Path
) -> None:
    workspace, data = store
    xlsx = await made(workspace, Format.XLSX, tmp_path)
    rows = list(openpyxl.load_workbook(xlsx)["Vastaajat"].iter_rows(values_only=True))
    assert rows[0] == ("Organisaatio", "Vastaajaryhmä", "Lausuntoja", "Lausuntojen tunnisteet")
    assert sorted(r[0] for r in rows[1:]) == sorted(e.respondent.organization for e in data.latest)
    assert ("Hattulan seurakunta", "Järjestö tai seurakunta", 1, "hattula-1") in rows
    document = await made(workspace, Format.DOCX, tmp_path)
    for path in (xlsx, document):
        everything = package_text(path)
        assert "Kanta-Hämeen järjestöneuvottelukunta" in everything
        for contact in CONTACT_DATA:
            assert not re.search(rf"(?<!\w){re.escape(contact)}(?!\w)", everything), f"{contact!r} in {path.name}"
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", everything), "no email address at all"


async def test_the_document_follows_the_strategy_with_counts_notes_unhandled_and_silent_sections(
    store, tmp_path: Path
) -> None:
    workspace, data = store
    document = docx.Document(str(await made(workspace, Format.DOCX, tmp_path)))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Title", "Lausuntoyhteenveto")
    texts = [text for _, text in paragraphs]
    assert "Lausunnot saapuneet: 20.3.2026–1.5.2026" in texts and "Lausuntoja yhteensä 5." in texts
    title_table = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert title_table[0] == ["Vastaajaryhmä", "Lausuntoja"] and title_table[-1] == ["Yhteensä", "5"]
    assert ["Kunta tai kaupunki", "2"] in title_table and ["Yritys tai yksityinen palveluntuottaja", "1"] in title_table

    headings = [(int(style.split()[-1]), text) for style, text in paragraphs if style.startswith("Heading")]
    sections = [text.split()[0] for _, text in headings if re.match(r"\d", text)]
    assert [section_rank(s) for s in sections] == sorted(section_rank(s) for s in sections)
    addressed = {r.section_id for e in data.latest for r in e.routes if r.section_id}
    assert addressed <= set(sections) and (2, "5.2 Ennaltaehkäisyssä onnistuminen") in headings
    assert (3, "5.2.2 Turvallisuus ja kriisinkestävyys") in headings
    assert [t for _, t in headings][-2:] == [
        "Kohdat ilman tunnistettua lukua",
        "Luvut, joihin lausunnot eivät kohdistuneet",
    ]

    coverage = expected_coverage(data.latest)
    statements = sum(n for (s, _), (n, _) in coverage.items() if s == "5.2.2")
    count = sum(p for (s, _), (_, p) in coverage.items() if s == "5.2.2")
    section = under(document, "5.2.2 Turvallisuus ja kriisinkestävyys")
    assert section[0] == f"Lausuntoja {statements}, ohjattuja kohtia {count}."
    ngos = coverage[("5.2.2", "organization_or_parish")][0]
    assert f"Järjestö tai seurakunta ({ngos} {'lausunto' if ngos == 1 else 'lausuntoa'})" in section
    owner = "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö"
    assert f"Muistiinpano ({owner}, käsitelty): {NOTE}" in section
    riihimaki = section[section.index("Riihimäen kaupunki") :]
    assert riihimaki[2].startswith("Kysymys 27: Miltä luvun 5")
    assert riihimaki[4].startswith("Käsittelemättä"), "nobody has handled the city's paragraph yet"
    assert MARKUP + " Täydennetty." in texts, "markup stays text"
    moved = texts[texts.index("Asiakkaan kohtaaminen seurakunnan diakoniatyössä on ensimmäinen tuki.") + 1]
    assert moved == f"Ohjaus korjattu (Strategiatoimisto, 12.4.2026): ”{CORRECTION_REASON}”"

    silent = under(document, "Luvut, joihin lausunnot eivät kohdistuneet")[1:]
    assert silent == [f"{s.id} {s.title}" for s in TAXONOMY.sections if s.id not in addressed]
    assert len(document.inline_shapes) == 1
    (image,) = [p for p in document.part.package.parts if p.partname.endswith(".png")]
    assert image.blob.startswith(b"\x89PNG")
    xml = document.element.xml
    assert 'TOC \\o "1-4"' in xml and 'descr="Vaakapylväskaavio:' in xml


async def test_the_same_store_gives_the_same_files_whenever_they_are_made(store, tmp_path: Path) -> None:
    workspace, _ = store
    later = datetime(2026, 6, 1, 8, 15, tzinfo=UTC)
    for report_format in Format:
        first = await made(workspace, report_format, tmp_path, name="eka")
        again = await made(workspace, report_format, tmp_path, name="toka")
        assert first.read_bytes() == again.read_bytes(), f"{report_format}: same store, same moment, same bytes"
        other = await made(workspace, report_format, tmp_path, created=later, name="myohemmin")
        with zipfile.ZipFile(first) as a, zipfile.ZipFile(other) as b:
            assert a.namelist() == b.namelist()
            assert {info.date_time for info in a.infolist()} == {(1980, 1, 1, 0, 0, 0)}
            for name in a.namelist():
                if name != "docProps/core.xml":
                    assert a.read(name) == b.read(name), f"{report_format}: {name} differs"
            times = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
            assert times.sub(b"T", a.read("docProps/core.xml")) == times.sub(b"T", b.read("docProps/core.xml"))
    properties = docx.Document(str(first.with_suffix(".docx"))).core_properties
    assert (properties.author, properties.created, properties.modified) == (
        "Oma Hämeen lausuntopalvelu",
        CREATED,
        CREATED,
    )
    workbook = openpyxl.load_workbook(first.with_suffix(".xlsx")).properties
    assert (workbook.creator, workbook.created, workbook.modified) == (
        "Oma Hämeen lausuntopalvelu", CREATED.replace(tzinfo=None), CREATED.replace(tzinfo=None)
    )  # fmt: skip


async def test_a_section_means_its_subtree_and_the_other_filters_narrow_the_rows(store, tmp_path: Path) -> None:
    workspace, data = store

    async def rows(**limits) -> list[dict]:  # noqa: ANN003
        return rows_of(await made(workspace, Format.XLSX, tmp_path, ReportFilter(**limits), name="rajattu"))

    subtree = await rows(sections=("5.2",))
    assert {r["Luku"] for r in subtree} == {s for _, s, _ in routed(data.latest) if s == "5.2" or s.startswith("5.2.")}
    assert {r["Vastaajaryhmä"] for r in await rows(respondent_types=(RespondentType.MUNICIPALITY,))} == {
        "Kunta tai kaupunki"
    }
    april = await rows(since=datetime(2026, 4, 1, tzinfo=HELSINKI), until=datetime(2026, 5, 1, tzinfo=HELSINKI))
    assert {r["Lausunto"] for r in april} == {"riihimaki-1", "hattula-1"}
    handled = await rows(states=(State.HANDLED,))
    assert [(r["Lausunto"], r["Luku"]) for r in handled] == [("hattula-1", "5.2.2")]
    (owner,) = {o for r in data.parish.routes if r.section_id == "5.2.2" for o in r.owners}
    own = await rows(owners=frozenset({owner}))
    assert own and {r["Vastuurooli"] for r in own} == {load_owners(OWNERS_FILE).get(owner).name}
    none = await rows(sections=(NO_SECTION,))
    assert [r["Lausunto"] for r in none] == ["yritys-1"], "no section: the default owner's queue"

    document = docx.Document(str(await made(workspace, Format.DOCX, tmp_path, ReportFilter(sections=("5.2",)))))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == "Lausuntojen kattavuus" and headings[-1] == "Luvut, joihin lausunnot eivät kohdistuneet"
    assert all(h.split()[0] in ("5", "5.2") or h.startswith("5.2.") for h in headings[1:-1])
    addressed = {r.section_id for e in data.latest for r in e.routes}
    within = [s for s in TAXONOMY.sections if s.id == "5.2" or s.id.startswith("5.2.")]
    assert under(document, headings[-1])[1:] == [f"{s.id} {s.title}" for s in within if s.id not in addressed]
    texts = [p.text for p in document.paragraphs]
    assert "Luvut: 5.2 Ennaltaehkäisyssä onnistuminen (alalukuineen)" in texts


async def test_every_revision_when_asked_earlier_ones_marked_as_such(store, tmp_path: Path) -> None:
    workspace, data = store
    rows = rows_of(await made(workspace, Format.XLSX, tmp_path, ReportFilter(all_revisions=True)))
    city = [r for r in rows if r["Lausunto"] == "riihimaki-1"]
    assert sorted(r["Versio"] for r in city) == [1, 1, 1, 2, 2, 2]
    assert {r["Tila"] for r in city if r["Versio"] == 1} == {"Aiempi versio"}
    assert [r["Versio"] for r in city if r["Luku"] == "5.3.1.2"] == [1, 2], "earlier first, within the section"
    ranks = [section_rank(r["Luku"]) for r in rows]
    assert ranks == sorted(ranks)
    assert len(rows) == len(routed(data.latest)) + len(routed([data.city]))
    document = io.BytesIO()
    await export(workspace.engine, Format.DOCX, ReportFilter(all_revisions=True), document,
                 labels=labels_for(load_owners(OWNERS_FILE)), created=CREATED)  # fmt: skip
    texts = [p.text for p in docx.Document(io.BytesIO(document.getvalue())).paragraphs]
    assert any(t.startswith("Lausunto riihimaki-1, versio 1, aiempi versio") for t in texts)
