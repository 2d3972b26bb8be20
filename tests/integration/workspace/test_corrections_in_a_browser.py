"""Correcting a route in a real browser (Debian's Chromium through Playwright): the form on the item page is used by
keyboard alone with JavaScript off; with it on, axe-core finds no WCAG 2.1 A/AA violation on the open form, on
the form with an error, and on the statement page showing the correction beside the routes; screenshots are kept
under var/test-artifacts/workspace/."""

from __future__ import annotations

import re

import pytest
from browser_support import focus_report
from corrections_support import paragraph_of, rerouted
from workspace_support import classified, item_id_of, seed002

pytestmark = pytest.mark.integration

OWNER = "turvallisuus"
REASON = "Kansainvälinen rekrytointi kuuluu henkilöstön saatavuuteen."


def _page(browser, workspace, **options):
    context = browser.new_context(base_url=workspace.url, locale="fi-FI", viewport={"width": 1280, "height": 900}, **options)  # fmt: skip
    return context.new_page()


def _sign_in(page, workspace, owner: str, next_path: str) -> None:
    page.goto(workspace.link(owner, next_path))
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def _tab_to(page, wanted, presses: int = 80) -> dict:
    for _ in range(presses):
        page.keyboard.press("Tab")
        report = focus_report(page)
        if wanted(report):
            return report
    raise AssertionError("Tab never reached it")


def test_an_owner_corrects_a_route_by_keyboard_alone_without_javascript(browser, workspace) -> None:
    event = classified(seed002(), response_id="nappaimistolla")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    item_id = item_id_of(workspace, OWNER, event.response_id, "5.2.2")
    page = _page(browser, workspace, java_script_enabled=False)
    _sign_in(page, workspace, OWNER, f"/kohteet/{item_id}")

    _tab_to(page, lambda r: r["tag"] == "summary" and r["text"].startswith("Korjaa ohjausta"))
    page.keyboard.press("Enter")  # a <details> opens without JavaScript
    page.keyboard.press("Tab")
    report = focus_report(page)
    assert (report["name"], report["value"]) == ("poista", "5.2.2")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert focus_report(page)["name"] == "lisaa"
    for _ in range(80):
        page.keyboard.press("ArrowDown")
        if focus_report(page)["value"] == "5.4.3":
            break
    assert focus_report(page)["value"] == "5.4.3"
    page.keyboard.press("Tab")
    assert focus_report(page)["id"] == f"syy-{paragraph}"
    page.keyboard.type(REASON)
    page.keyboard.press("Tab")
    assert focus_report(page)["text"] == "Lähetä korjaus"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/kohteet/{item_id}\?korjattu="))
    assert page.get_by_role("status").inner_text().startswith("Korjaus tallennettu. Kohta ohjataan nyt uudelleen")

    (stored,) = workspace.run(workspace.app.state.corrections.routes(event.response_id)).corrections
    assert (stored.add, stored.remove, stored.reason, stored.by_role) == (("5.4.3",), ("5.2.2",), REASON, OWNER)
    page.context.close()


def test_the_correction_form_its_errors_and_the_corrected_statement_pass_axe_core(browser, workspace, visits) -> None:
    event = classified(seed002(), response_id="saavutettava")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    item_id = item_id_of(workspace, OWNER, event.response_id, "5.2.2")
    page = _page(browser, workspace)
    _sign_in(page, workspace, OWNER, f"/kohteet/{item_id}")

    form = page.locator(f"#kohta-{paragraph} details.correction")
    form.locator("summary").click()
    assert form.get_by_label("5.2.2 Turvallisuus ja kriisinkestävyys").is_visible()
    visits.check(page, "correction form")

    form.get_by_label("Lisää kohta lukuun").select_option("5.4.3")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.get_by_role("button", name="Lähetä korjaus").click()
    assert posted.value.status == 422
    summary = page.locator("main > .error-summary")
    assert summary.locator("li").inner_text() == "Kerro lyhyesti, miksi ohjausta korjataan."
    visits.check(page, "correction form with an error")
    summary.get_by_role("link").click()
    assert focus_report(page)["id"] == f"syy-{paragraph}", "the summary's link takes the focus to the field"

    page.keyboard.type(REASON)
    page.locator(f"#kohta-{paragraph} details.correction").get_by_label(
        "5.2.2 Turvallisuus ja kriisinkestävyys"
    ).check()
    page.locator(f"#kohta-{paragraph} details.correction").get_by_role("button", name="Lähetä korjaus").click()
    page.wait_for_url(re.compile(r"\?korjattu="))
    visits.check(page, "correction saved")

    (stored,) = workspace.run(workspace.app.state.corrections.routes(event.response_id)).corrections
    workspace.record(rerouted(event, stored.event(event.respondent_type)))
    page.goto(f"/lausunnot/{event.response_id}")
    listed = page.locator("section", has=page.get_by_role("heading", name="Ohjauksen korjaukset"))
    assert "Voimassa" in listed.inner_text() and REASON in listed.inner_text()
    page.locator(f"#kohta-{paragraph} details").first.locator("summary").click()
    assert "siirretty tänne käsin" in page.locator(f"#kohta-{paragraph} .reasons").inner_text()
    visits.check(page, "statement with a correction")
    page.context.close()
