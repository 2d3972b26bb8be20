"""The office's summary as people get it from a running workspace (uvicorn on a free port, the real broker, SQLite
and PostgreSQL): `feedback report` with the admin token, the API it calls, and the downloads of the pages, where
the office gets everything and an owner only their own items."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docx
import openpyxl
import pytest
from report_support import NOTE, Consultation, consultation
from workspace_support import OWNERS_FILE, Workspace, make_workspace, parse

from feedback_contracts.owners import load_owners
from feedback_workspace.items import State

pytestmark = pytest.mark.integration
ADMIN = "test-admin-token-of-the-reports"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def reporting(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[tuple[Workspace, Consultation]]:
    """A workspace holding the report tests' consultation, with an admin token for its API."""
    served = make_workspace(kafka_bootstrap, database_url, f"reports-{unique}", admin_api_tokens=ADMIN).start()
    try:
        data = consultation()
        served.record(data.city, data.parish, data.company, *data.seeds)
        served.record(data.city_edited)
        (item,) = [i for i in served.items_of("hattula-1") if i["section_id"] == "5.2.2"]
        store = served.app.state.store
        served.run(store.set_state(item["id"], item["owner_id"], State.HANDLED, NOTE, datetime.now(UTC)))
        yield served, data
    finally:
        served.stop()


def sheet_rows(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content))["Kohdat"].iter_rows(min_row=2, values_only=True))


def feedback(*args: str, token: str | None = ADMIN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FEEDBACK_ADMIN_TOKEN", "WORKSPACE_URL")}
    if token is not None:
        env["FEEDBACK_ADMIN_TOKEN"] = token
    command = [sys.executable, "-m", "feedback_cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_feedback_report_writes_the_files_the_office_opens(reporting, tmp_path: Path) -> None:
    workspace, data = reporting
    out = tmp_path / "out"
    sheet = out / "yhteenveto" / "luku-5.2.xlsx"
    done = feedback("report", "--format", "xlsx", "--output", str(sheet), "--section", "5.2",
                    "--respondent-type", "municipality", "--url", workspace.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"wrote {sheet}" in done.stderr
    rows = openpyxl.load_workbook(sheet)["Kohdat"].iter_rows(min_row=2, values_only=True)
    found = {(r[0], r[7]) for r in rows}
    assert ("riihimaki-1", "5.2.2") in found and ("riihimaki-1", "5.2.1") in found
    assert all(section == "5.2" or section.startswith("5.2.") for _, section in found)
    assert "hattula-1" not in {rid for rid, _ in found}, "a parish is not a municipality"

    summary = out / "yhteenveto.docx"
    done = feedback("report", "--format", "docx", "--output", str(summary), "--since", "2026-04-01",
                    "--until", "2026-04-30", "--url", workspace.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = docx.Document(str(summary))
    texts = [p.text for p in document.paragraphs]
    assert "Lausunnot saapuneet: 1.4.2026–30.4.2026" in texts and "Lausuntoja yhteensä 2." in texts
    assert any(NOTE in t for t in texts)
    assert sorted(p.name for p in out.iterdir()) == ["yhteenveto", "yhteenveto.docx"], "no partial files left"


def test_feedback_report_says_what_is_wrong_and_writes_nothing(reporting, tmp_path: Path) -> None:
    workspace, _ = reporting
    output = tmp_path / "out" / "ei.xlsx"
    refused = feedback("report", "--format", "xlsx", "--output", str(output), "--url", workspace.url, token="wrong")
    assert refused.returncode == 2 and "401" in refused.stderr and "missing or invalid bearer token" in refused.stderr
    garbled = feedback("report", "--format", "xlsx", "--output", str(output), "--url", workspace.url, token="väärä")
    assert garbled.returncode == 2 and "FEEDBACK_ADMIN_TOKEN holds characters no token has" in garbled.stderr
    unknown = feedback("report", "--format", "xlsx", "--output", str(output), "--section", "9.9", "--state", "valmis",
                       "--url", workspace.url)  # fmt: skip
    assert unknown.returncode == 2
    assert "unknown section: '9.9'" in unknown.stderr and "unknown state: 'valmis'" in unknown.stderr
    no_token = feedback("report", "--format", "docx", "--output", str(output), "--url", workspace.url, token=None)
    assert no_token.returncode == 2 and "FEEDBACK_ADMIN_TOKEN" in no_token.stderr
    assert list(output.parent.iterdir()) == []


def test_the_reports_api_needs_the_admin_token_and_answers_in_english(reporting) -> None:
    workspace, data = reporting
    client = workspace.anonymous()
    refused = client.get("/api/reports/xlsx")
    assert refused.status_code == 401 and refused.json() == {"detail": "missing or invalid bearer token"}
    headers = {"Authorization": f"Bearer {ADMIN}"}
    wrong = client.get("/api/reports/xlsx", params={"since": "eilen", "owner": "nobody"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == [
        "since 'eilen' is not a date or time (e.g. 2026-04-01, 2026-04-01T12:00:00+03:00)",
        "unknown owner: 'nobody'",
    ]
    assert client.get("/api/reports/pdf", headers=headers).status_code == 404
    answer = client.get("/api/reports/xlsx", params=[("state", "kasitelty"), ("state", "uusi")], headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX
    assert answer.headers["content-disposition"].startswith('attachment; filename="lausuntoyhteenveto-')
    assert {r[12] for r in sheet_rows(answer.content)} == {"Käsitelty", "Uusi"}


def test_the_office_downloads_everything_and_an_owner_only_their_own_items(reporting) -> None:
    workspace, data = reporting
    office = workspace.signed_in("strategiatoimisto")
    everything = office.get("/raportit/xlsx")
    assert everything.status_code == 200 and everything.headers["content-type"] == XLSX
    routed = [(e.response_id, r.section_id or "", o) for e in data.latest for r in e.routes for _ in r.paragraphs
              for o in r.owners]  # fmt: skip
    assert len(sheet_rows(everything.content)) == len(routed)

    (owner,) = {o for r in data.parish.routes if r.section_id == "5.2.2" for o in r.owners}
    name = load_owners(OWNERS_FILE).get(owner).name
    client = workspace.signed_in(owner)
    own = sheet_rows(client.get("/raportit/xlsx", params={"luku": "5.2", "omat": "1"}).content)
    assert own and {r[9] for r in own} == {name} and {r[7] for r in own} == {"5.2.2"}
    mine = [x for x in routed if x[2] == owner]
    assert len(sheet_rows(client.get("/raportit/xlsx").content)) == len(mine), "an owner's report is their items"
    others = next(o for _, _, o in routed if o != owner)
    assert client.get("/raportit/xlsx", params={"omistaja": others}).status_code == 403
    summary = client.get("/raportit/docx", params={"luku": "5.2.2"})
    assert summary.status_code == 200
    assert "Luvut: 5.2.2 Turvallisuus ja kriisinkestävyys (alalukuineen)" in [
        p.text for p in docx.Document(io.BytesIO(summary.content)).paragraphs
    ]

    problem = office.get("/raportit/docx", params={"luku": "9.9", "alkaen": "31.2.2026"})
    assert problem.status_code == 422
    page = parse(problem)
    assert [li.text_content() for li in page.xpath("//div[@class='error-summary']//li")] == [
        "Tuntematon luku: ”9.9”.",
        "Päivämäärä ”31.2.2026” ei kelpaa (alkupäivä); kirjoita esim. 2026-04-01 tai 1.4.2026.",
    ]
    assert workspace.anonymous().get("/raportit/xlsx").status_code == 401, "signed in or nothing"


def test_the_overview_shows_the_coverage_chart_and_the_download_buttons(reporting) -> None:
    workspace, _ = reporting
    office = workspace.signed_in("strategiatoimisto")
    page = parse(office.get("/toimisto"))
    (image,) = page.xpath("//main//figure/img")
    assert image.get("src") == "/toimisto/kattavuus.svg" and image.get("alt")
    buttons = {b.text_content(): b.get("formaction") for b in page.xpath("//form[@class='report-form']//button")}
    assert buttons == {"Lataa taulukko (xlsx)": "/raportit/xlsx", "Lataa yhteenveto (docx)": "/raportit/docx"}
    chart = office.get("/toimisto/kattavuus.svg")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert "5.2.2 Turvallisuus ja kriisinkestävyys".encode() in chart.content
    assert office.get("/toimisto/kattavuus.svg").content == chart.content

    owner = workspace.signed_in("turvallisuus")
    assert owner.get("/toimisto/kattavuus.svg").status_code == 403
    listed = parse(owner.get("/saapuneet", params={"luku": "5.2.2"}))
    form = listed.xpath("//form[@class='report-downloads']")[0]
    hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    assert hidden == {"luku": "5.2.2", "omat": "1"}
    assert [b.get("formaction") for b in form.xpath(".//button")] == ["/raportit/xlsx", "/raportit/docx"]
    assert not parse(owner.get("/saapuneet")).xpath("//form[@class='report-downloads']"), "on a section's list only"
