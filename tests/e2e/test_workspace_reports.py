"""The strategy office's summary as the office and an owner get it: `feedback dev up`, the NGO council's statement
posted by the form and the city's imported from its document, then in a real browser (Chromium) the download
buttons of the overview (with and without a filter, by mouse and by keyboard) and of an owner's section list,
each file opened as the office opens it; and `feedback report` against the same stack. axe-core checks every
page visited; screenshots are kept under var/test-artifacts/e2e-workspace-reports/."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import docx
import httpx
import openpyxl
import pytest
from devstack_support import DevStack, StartDevUp

from feedback_contracts.owners import load_owners
from feedback_contracts.taxonomy import load_taxonomy
from feedback_runtime.signin import SignInLinks

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "workspace"))
from browser_support import Visits, as_json, focus_report, mark_focusables  # noqa: E402
from workspace_support import consumer_group_at_end  # noqa: E402

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "test-artifacts" / "e2e-workspace-reports"
TOKEN = "e2e-reports-form-token"
ADMIN = "e2e-reports-admin-token"
SECRET = "e2e-reports-workspace-secret-0123456789"
OFFICE = "strategiatoimisto"
OWNER = "turvallisuus"  # owns 5.2.2, which both seed statements address
RANK = {s.id: n for n, s in enumerate(load_taxonomy().sections)}


@pytest.fixture
def stack(dev_up: StartDevUp, kafka_bootstrap: str, unique: str) -> DevStack:
    """dev up with tokens and a secret of the test's, its workspace reading only what is classified from now on."""
    group = f"workspace-reports-{unique}"
    consumer_group_at_end(kafka_bootstrap, group)
    return dev_up(env={"INGEST_API_TOKENS": TOKEN, "ADMIN_API_TOKENS": ADMIN, "WORKSPACE_SECRET": SECRET,
                       "WORKSPACE_GROUP_ID": group})  # fmt: skip


def post_the_seeds(stack: DevStack, seed002_response: dict, unique: str) -> tuple[str, str]:
    """Seed 002 as the form posts it, seed 000 as the office imports its document: their response ids."""
    ngo = f"jnk-{unique}"
    seed002_response["response_id"] = ngo
    posted = httpx.post(f"{stack.ingest}/v1/responses", json=seed002_response,
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)  # fmt: skip
    assert posted.status_code == 202, posted.text
    document = REPO / "tests" / "fixtures" / "seed000_hameenlinna.txt"
    command = [sys.executable, "-m", "feedback_cli.main", "import", str(document), "--respondent-type", "municipality",
               "--response-id", f"hml-{unique}", "--submit", "--url", stack.ingest, "--token", TOKEN]  # fmt: skip
    imported = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    return ngo, json.loads(imported.stdout)["response_id"]


FORMULA = '=HYPERLINK("https://esimerkki.invalid/","Lue lisää") on laskentataulukossa vain tekstiä.'
NOTE = "Huomioitu varautumisen linjauksissa; palataan asiaan järjestöjen kanssa."
REASON = "Kohta koskee varautumista ja kriisinkestävyyttä."


def post_a_formula(stack: DevStack, template: dict, response_id: str) -> None:
    """A company's statement whose only paragraph looks like a spreadsheet formula."""
    body = {**template, "response_id": response_id, "respondent_type": "company",
            "respondent": {**template["respondent"], "organization": "Hämeen Kaava Oy"},
            "answers": [{"question": 45, "text": FORMULA}]}  # fmt: skip
    posted = httpx.post(f"{stack.ingest}/v1/responses", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=30)  # fmt: skip
    assert posted.status_code == 202, posted.text


def correct_a_route(stack: DevStack, response_id: str) -> dict:
    """Support moves one of the statement's paragraphs into 5.2.2 through the workspace's API; the paragraph."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    statement = httpx.get(f"{stack.workspace}/api/statements/{response_id}", headers=admin, timeout=30).json()
    moved = next(
        p for p in statement["paragraphs"]
        if p["routes"] and all(r["section_id"] not in (None, "5.2.2") for r in p["routes"])
    )  # fmt: skip
    body = {"response_id": response_id, "paragraph_id": moved["paragraph_id"], "add": ["5.2.2"],
            "remove": [moved["routes"][0]["section_id"]], "reason": REASON}  # fmt: skip
    answer = httpx.post(f"{stack.workspace}/api/corrections", headers=admin, json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    while True:
        now = httpx.get(f"{stack.workspace}/api/statements/{response_id}", headers=admin, timeout=30).json()
        routes = next(p["routes"] for p in now["paragraphs"] if p["paragraph_id"] == moved["paragraph_id"])
        if any(r["section_id"] == "5.2.2" for r in routes):
            return moved
        assert time.monotonic() < deadline, "the correction never re-routed the paragraph"
        time.sleep(0.5)


def wait_for_statements(stack: DevStack, response_ids: set[str], timeout: float = 120) -> None:
    """Until the workspace's reports hold both statements (it reads the classified events beside notify)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{stack.workspace}/api/reports/xlsx", headers={"Authorization": f"Bearer {ADMIN}"},
                           timeout=60)  # fmt: skip
        assert answer.status_code == 200, answer.text
        held = {r[0] for r in workbook_rows(answer.content, "Kohdat")}
        if response_ids <= held:
            return
        assert time.monotonic() < deadline, f"the workspace holds {held & response_ids} of {response_ids}"
        time.sleep(1)


def workbook_rows(content: bytes, sheet: str) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content))[sheet].iter_rows(min_row=2, values_only=True))


def signed_in(browser: Browser, stack: DevStack, owner: str, next_path: str) -> Page:
    context = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(SignInLinks(SECRET).url(stack.workspace, owner, next_path))
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_url(f"{stack.workspace}{next_path}")
    return page


def downloaded(page: Page, press: Callable[[], object], folder: Path) -> Path:
    """The file a button gives, saved under its suggested name."""
    with page.expect_download() as download:
        press()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path


def keyboard_reaches_everything(page: Page) -> None:
    """Tab from the top reaches every link and control in order, each with a visible focus (no JavaScript needed)."""
    stops = mark_focusables(page)
    page.locator('[data-focus-key="0"]').first.focus()  # the skip link: where Tab starts on a fresh page
    reached = [focus_report(page)]
    for _ in range(len(stops) + 5):
        page.keyboard.press("Tab")
        report = focus_report(page)
        if report["tag"] == "body" or (reached and report["key"] == reached[0]["key"]):
            break
        reached.append(report)
    assert [r["key"] for r in reached] == [s["key"] for s in stops], as_json([r["text"] or r["name"] for r in reached])
    for report in reached:
        assert report["outlineStyle"] != "none" and report["outlineWidth"] >= 2, as_json(report)


def section_rank(section: str | None) -> int:
    return RANK.get(section or "", len(RANK))


def test_the_office_and_an_owner_download_the_summary_from_the_workspace(
    stack: DevStack, browser: Browser, seed002_response: dict, unique: str, tmp_path: Path
) -> None:
    ngo, city = post_the_seeds(stack, seed002_response, unique)
    formula = f"kaava-{unique}"
    post_a_formula(stack, seed002_response, formula)
    wait_for_statements(stack, {ngo, city, formula})
    visits = Visits(ARTIFACTS)

    # --- one corrected route and one owner's note, as the summary must show them ---------------------------------
    moved = correct_a_route(stack, city)
    noting = signed_in(browser, stack, OWNER, "/saapuneet?luku=5.2.2")
    noting.locator(".item-card").filter(has_text="Kanta-Hämeen järjestöneuvottelukunta").first.get_by_role(
        "link", name=re.compile("^Kanta-Hämeen järjestöneuvottelukunta – ")
    ).click()
    noting.wait_for_url(re.compile(r".*/kohteet/\d+$"))
    noting.get_by_label("Käsitelty").check()
    noting.get_by_label(re.compile("^Muistiinpano")).fill(NOTE)
    noting.get_by_role("button", name="Tallenna").click()
    noting.wait_for_url(re.compile(r".*\?tallennettu=1$"))
    noting.context.close()

    # --- the office: the overview, its chart and the download buttons -------------------------------------------
    page = signed_in(browser, stack, OFFICE, "/toimisto")
    chart = page.locator("figure.coverage-chart img")
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0"), "the coverage chart is drawn"
    assert chart.get_attribute("alt")
    visits.check(page, "overview")
    keyboard_reaches_everything(page)
    sheet = downloaded(page, page.get_by_role("button", name="Lataa taulukko (xlsx)").click, tmp_path)
    assert sheet.name.startswith("lausuntoyhteenveto-") and sheet.suffix == ".xlsx"
    rows = [r for r in workbook_rows(sheet.read_bytes(), "Kohdat") if r[0] in (ngo, city)]
    assert {r[0] for r in rows} == {ngo, city}
    assert [section_rank(r[7]) for r in rows] == sorted(section_rank(r[7]) for r in rows)
    assert {r[2] for r in rows} == {"Kanta-Hämeen järjestöneuvottelukunta", "Hämeenlinnan kaupunki"}
    # The corrected route with who moved it, the note, the unhandled marker, and the formula kept as text.
    (corrected,) = [r for r in rows if r[0] == city and r[6] == moved["text"] and r[7] == "5.2.2"]
    assert corrected[10].startswith("korjattu (") and REASON in (corrected[11] or "")
    assert not [r for r in rows if r[0] == city and r[6] == moved["text"] and r[7] == moved["routes"][0]["section_id"]]
    noted = [r for r in rows if r[0] == ngo and r[7] == "5.2.2"]
    assert noted and all(r[14] == NOTE and r[12] == "Käsitelty" for r in noted)
    assert any(r[13] == "Käsittelemättä" for r in rows)
    book = openpyxl.load_workbook(io.BytesIO(sheet.read_bytes()))
    (cell,) = [row[6] for row in book["Kohdat"].iter_rows(min_row=2) if row[0].value == formula]
    assert cell.value == FORMULA and cell.data_type == "s", "a formula-looking paragraph is a string cell"
    respondents = {r[0]: r for r in workbook_rows(sheet.read_bytes(), "Vastaajat")}
    assert respondents["Hämeenlinnan kaupunki"][3] == city
    with zipfile.ZipFile(sheet) as package:
        everything = "".join(package.read(n).decode() for n in package.namelist() if n.endswith(".xml"))
    assert "vastaaja.testi@example.org" not in everything, "seed 002's contact data stays in ingest"

    # --- by keyboard: the filters opened, 5.2 and the NGOs chosen, the document downloaded -------------------------
    page.locator("form.report-form summary").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Luku", exact=True).fill("5.2")
    page.get_by_label("järjestö tai seurakunta").check()
    page.get_by_label("Alkaen").fill("1.1.2026")
    visits.check(page, "overview-filters")
    keyboard_reaches_everything(page)
    button = page.get_by_role("button", name="Lataa yhteenveto (docx)")
    button.focus()
    summary = downloaded(page, lambda: page.keyboard.press("Enter"), tmp_path)
    document = docx.Document(str(summary))
    texts = [p.text for p in document.paragraphs]
    assert "Luvut: 5.2 Ennaltaehkäisyssä onnistuminen (alalukuineen)" in texts
    assert "Vastaajaryhmät: järjestö tai seurakunta" in texts
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    sections = [h.split()[0] for h in headings if h[0].isdigit()]
    assert "5.2.2" in sections and all(s in ("5", "5.2") or s.startswith("5.2.") for s in sections)
    assert "Kanta-Hämeen järjestöneuvottelukunta" in texts and "Hämeenlinnan kaupunki" not in texts
    assert any(NOTE in t for t in texts), "the owner's note is under its paragraph"
    assert any(t.startswith("Käsittelemättä") for t in texts), "paragraphs nobody handled are marked"
    assert len(document.inline_shapes) == 1

    # --- an owner: their section's list, and its file holds their items only -----------------------------------------
    owner = signed_in(browser, stack, OWNER, "/saapuneet?luku=5.2.2")
    visits.check(owner, "owner-section-list")
    keyboard_reaches_everything(owner)
    own = downloaded(owner, owner.get_by_role("button", name="Lataa taulukko (xlsx)").click, tmp_path)
    own_rows = [r for r in workbook_rows(own.read_bytes(), "Kohdat") if r[0] in (ngo, city)]
    name = load_owners(REPO / "config" / "owners.example.yaml").get(OWNER).name
    assert {r[0] for r in own_rows} == {ngo, city} and {(r[7], r[9]) for r in own_rows} == {("5.2.2", name)}
    assert owner.goto(f"{stack.workspace}/toimisto/kattavuus.svg").status == 403
    for context in (page.context, owner.context):
        context.close()

    # --- the command line, against the same workspace -----------------------------------------------------------
    output = tmp_path / "komento" / "yhteenveto.docx"
    env = {**os.environ, "FEEDBACK_ADMIN_TOKEN": ADMIN}
    command = [sys.executable, "-m", "feedback_cli.main", "report", "--format", "docx", "--output", str(output),
               "--section", "5.3.1", "--url", stack.workspace]  # fmt: skip
    made = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert made.returncode == 0, made.stderr
    headings = [p.text for p in docx.Document(str(output)).paragraphs if p.style.name.startswith("Heading")]
    assert (
        "5.3.1.2 Kuntayhteistyö" in headings and "5.3.1.3 Järjestö- ja seurakuntayhteistyö sekä 4. sektori" in headings
    )
    for name in ("overview", "overview-filters", "owner-section-list"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
