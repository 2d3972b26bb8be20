"""The workspace in a real browser (Debian's Chromium through Playwright), as owners and the strategy office use
it: signing in with the link from an alert, reading the inbox and a statement, marking items; every page visited
passes axe-core's WCAG 2.1 A/AA checks and is screenshotted (var/test-artifacts/workspace/); the pages work by
keyboard alone, with a visible focus, and without JavaScript."""

from __future__ import annotations

import re

import pytest
from browser_support import as_json, axe_violations, focus_report, mark_focusables
from workspace_support import OFFICE, answers_of, classified, item_id_of, owner_paragraphs, owners_of, seed002

from feedback_contracts.events import Reason
from feedback_contracts.wording import explain

pytestmark = pytest.mark.integration

NOTE = "Huomioitu luvun 5.2.2 viestintäosuudessa; järjestöt mukaan valmiussuunnitteluun."


def _page(browser, workspace, **options):  # noqa: ANN001, ANN202
    context = browser.new_context(base_url=workspace.url, locale="fi-FI", viewport={"width": 1280, "height": 900}, **options)  # fmt: skip
    return context.new_page()


def _sign_in(page, workspace, owner: str, next_path: str = "/") -> None:  # noqa: ANN001
    page.goto(workspace.link(owner, next_path))
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_load_state()


def _state_shown(page) -> str:  # noqa: ANN001
    return page.locator("main p.meta .tag").first.inner_text()


def test_an_owner_signs_in_with_the_link_reads_the_inbox_and_marks_an_item_handled(
    browser, workspace, seeded, visits
) -> None:
    page = _page(browser, workspace)
    answer = page.goto(workspace.link(seeded.owner))
    assert answer.status == 200
    buttons = page.locator("main").get_by_role("button")
    assert buttons.count() == 1 and buttons.inner_text() == "Kirjaudu sisään"
    assert "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö" in page.locator("main").inner_text()
    visits.check(page, "sign-in")

    # Opening the link (as a mail scanner does) signed nobody in.
    other_tab = page.context.new_page()
    assert other_tab.goto("/saapuneet").status == 401
    assert other_tab.locator("h1").inner_text() == "Kirjaudu sisään"
    other_tab.close()

    buttons.click()
    page.wait_for_url(re.compile(r"/saapuneet$"))
    assert page.locator("h1").inner_text() == "Saapuneet"
    titles = page.locator(".item-list h2").all_inner_texts()
    assert titles == [
        "Kanta-Hämeen järjestöneuvottelukunta – 5.2.2 Turvallisuus ja kriisinkestävyys",
        "Hämeenlinnan kaupunki – 5.2.2 Turvallisuus ja kriisinkestävyys",
    ], "newest first: seed 002 was recorded after seed 000"
    ngo_card = page.locator(".item-card").first
    (paragraph,) = owner_paragraphs(seeded.ngo, seeded.owner)
    assert paragraph[:80] in ngo_card.inner_text()
    route = next(r for r in seeded.ngo.routes if r.section_id == "5.2.2")
    reason: Reason = route.paragraphs[0].reasons[0]
    assert ngo_card.locator("mark").first.inner_text() == paragraph[reason.span[0] : reason.span[1]]
    ngo_card.get_by_text("Miksi kohta ohjattiin tähän lukuun").click()
    assert explain(reason, seeded.ngo.respondent_type) in ngo_card.locator(".reasons").inner_text()
    assert " ".join(page.locator(".state-counts").inner_text().split()) == "Uusi 2 Luettu 0 Käsitelty 0 Ei minulle 0"
    visits.check(page, "inbox")

    ngo_card.locator("h2 a").click()
    page.wait_for_url(re.compile(r"/kohteet/\d+$"))
    item_url = page.url
    assert _state_shown(page) == "Uusi"
    visits.check(page, "item")

    page.get_by_label("Käsitelty").check()
    page.get_by_label("Muistiinpano").fill(NOTE)
    page.get_by_role("button", name="Tallenna").click()
    page.wait_for_url(re.compile(r"/kohteet/\d+\?tallennettu=1$"))
    assert page.get_by_role("status").inner_text() == "Tallennettu."

    page.goto(item_url)
    assert _state_shown(page) == "Käsitelty"
    assert page.get_by_label("Käsitelty").is_checked()
    assert page.get_by_label("Muistiinpano").input_value() == NOTE
    history = page.locator("table.history tbody tr").last.inner_text()
    assert "Käsitelty" in history and NOTE in history
    assert "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö" in history, "who did it, by the role's name"

    # "Not mine" needs a reason: without one, the errors are summarised at the top and nothing changes.
    page.get_by_label("Ei minulle").check()
    page.get_by_label("Muistiinpano").fill("")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Tallenna").click()
    assert posted.value.status == 422
    first = page.locator("main > *").first
    assert "error-summary" in first.get_attribute("class")
    assert first.locator("h2").inner_text() == "Korjaa seuraavat kohdat"
    assert "miksi kohta ei kuulu sinulle" in first.inner_text()
    assert page.title().startswith("Virhe:")
    assert page.get_by_label("Ei minulle").is_checked(), "what was entered stays entered"
    assert page.evaluate("document.activeElement.className") == "error-summary", "the summary has the focus"
    visits.check(page, "item with errors")
    first.get_by_role("link").click()
    assert focus_report(page)["id"] == "muistiinpano", "the summary's link takes the focus to the field"
    page.goto(item_url)
    assert _state_shown(page) == "Käsitelty"
    assert page.get_by_label("Muistiinpano").input_value() == NOTE

    page.get_by_role("link", name="Avaa koko lausunto").click()
    page.wait_for_url(re.compile(r"/lausunnot/"))
    assert page.locator("h1").inner_text() == "Lausunto: Kanta-Hämeen järjestöneuvottelukunta"
    shown = page.locator(".paragraph")
    assert shown.count() == len(seeded.ngo.paragraphs)
    mine = page.locator(".paragraph.mine")
    assert mine.count() == 1 and paragraph[:80] in mine.inner_text() and "Sinulle ohjattu" in mine.inner_text()
    visits.check(page, "statement")
    page.context.close()


def test_another_owner_cannot_open_or_change_that_item_nor_a_statement_without_their_items(
    browser, workspace, seeded, visits
) -> None:
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    page = _page(browser, workspace)
    _sign_in(page, workspace, seeded.outsider)
    assert page.locator("h1").inner_text() == "Saapuneet"
    token = page.locator("input[name=csrf]").first.get_attribute("value")

    answer = page.goto(f"/kohteet/{item_id}")
    assert answer.status == 403
    assert page.locator("h1").inner_text() == "Ei käyttöoikeutta"
    assert "Turvallisuus" not in page.locator("main").inner_text()
    visits.check(page, "forbidden")

    posted = page.request.post(f"/kohteet/{item_id}/tila", form={"csrf": token, "tila": "kasitelty", "muistiinpano": "x"})  # fmt: skip
    assert posted.status == 403
    assert page.goto(f"/lausunnot/{seeded.city.response_id}").status == 403
    assert page.goto(f"/lausunnot/{seeded.ngo.response_id}").status == 200, "their own statement opens"
    (item,) = [i for i in workspace.items_of(seeded.ngo.response_id) if i["id"] == item_id]
    assert item["state"] == "uusi" and item["note"] is None
    page.context.close()


def test_the_office_sees_the_coverage_matrix_every_item_and_the_queues(browser, workspace, seeded, visits) -> None:
    page = _page(browser, workspace)
    _sign_in(page, workspace, seeded.office)
    page.wait_for_url(re.compile(r"/toimisto$"))
    assert page.locator("h1").inner_text() == "Toimiston yleiskuva"
    matrix = page.locator("table.coverage")
    row = matrix.locator("tbody tr", has=page.locator("th", has_text="5.2.2 Turvallisuus"))
    cells = row.locator("td a")
    assert cells.count() == 2, "seed 000 (municipality) and seed 002 (NGO) each reached 5.2.2"
    visits.check(page, "overview")

    row.get_by_role("link", name=re.compile("järjestö tai seurakunta")).click()
    page.wait_for_url(re.compile(r"/toimisto/kohteet\?"))
    assert page.locator(".item-list h2").all_inner_texts() == [
        "Kanta-Hämeen järjestöneuvottelukunta – 5.2.2 Turvallisuus ja kriisinkestävyys"
    ]
    assert page.get_by_label("Luku").input_value() == "5.2.2"
    visits.check(page, "all items, one cell")

    page.goto("/toimisto/kohteet")
    total = sum(len(r.owners) for e in (seeded.ngo, seeded.city) for r in e.routes)
    assert page.locator("p.summary").inner_text().startswith(f"{total} kohdetta")
    visits.check(page, "all items")

    page.goto("/toimisto")
    page.get_by_role("link", name="”Ei minulle” -jono").click()
    assert page.get_by_label("Tila", exact=True).input_value() == "ei_minulle"
    assert page.locator("p.summary").inner_text().startswith("0 kohdetta")

    page.goto("/toimisto")
    page.get_by_role("link", name="Pisimpään odottaneet").click()
    page.wait_for_url(re.compile(r"/toimisto/odottavat$"))
    assert page.locator("h1").inner_text() == "Pisimpään odottaneet"
    assert page.locator("main h2").count() >= 2, "the waiting items are grouped by owner"
    visits.check(page, "waiting")
    page.context.close()


def _tab_through(page, stops: list[dict]) -> list[dict]:  # noqa: ANN001
    """Press Tab until the focus leaves the page or comes round again; what had the focus at each press."""
    reached = []
    for _ in range(len(stops) + 5):
        page.keyboard.press("Tab")
        report = focus_report(page)
        if report["tag"] == "body" or (reached and report["key"] == reached[0]["key"]):
            break
        reached.append(report)
    return reached


@pytest.mark.parametrize("path", ["/saapuneet", "item", "statement", "/toimisto", "/toimisto/kohteet"])
def test_the_keyboard_reaches_the_skip_link_first_then_every_link_and_control_with_a_visible_focus(
    browser, workspace, seeded, path: str
) -> None:
    # The office opens an owner's item (it sees every item): the NGO partnerships owner's, seed 002's largest.
    item_id = item_id_of(workspace, "jarjestoyhteistyo", seeded.ngo.response_id, "5.3.1.3")
    path = {"item": f"/kohteet/{item_id}", "statement": f"/lausunnot/{seeded.ngo.response_id}"}.get(path, path)
    page = _page(browser, workspace)
    _sign_in(page, workspace, seeded.office, path)
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    stops = mark_focusables(page)
    reached = _tab_through(page, stops)

    first = reached[0]
    assert (first["tag"], first["text"]) == ("a", "Siirry sisältöön") and first["visible"], as_json(first)
    assert [r["key"] for r in reached] == [s["key"] for s in stops], "Tab order:\n" + as_json(
        {"expected": [s["text"] or s["name"] for s in stops], "reached": [r["text"] or r["name"] for r in reached]}
    )
    for report in reached:
        shows = report["outlineStyle"] != "none" and report["outlineWidth"] >= 2
        assert shows and report["visible"], "no visible focus on " + as_json(report)

    page.goto(path)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert focus_report(page)["id"] == "sisalto", "the skip link moves the focus to the main content"
    page.context.close()


def test_the_state_form_can_be_used_with_the_keyboard_alone(browser, workspace, seeded) -> None:
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    page = _page(browser, workspace)
    _sign_in(page, workspace, seeded.owner, f"/kohteet/{item_id}")
    page.wait_for_url(re.compile(rf"/kohteet/{item_id}$"))

    for _ in range(60):
        page.keyboard.press("Tab")
        if focus_report(page)["name"] == "tila":
            break
    assert focus_report(page)["value"] == "uusi", "Tab reaches the group's checked state"
    while focus_report(page)["value"] != "kasitelty":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert focus_report(page)["id"] == "muistiinpano"
    page.keyboard.type(NOTE)
    page.keyboard.press("Tab")
    assert focus_report(page)["text"] == "Tallenna"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?tallennettu=1$"))
    assert _state_shown(page) == "Käsitelty"
    assert page.get_by_label("Muistiinpano").input_value() == NOTE
    page.context.close()


def test_without_javascript_an_owner_signs_in_reads_the_inbox_and_changes_a_state(browser, workspace, seeded) -> None:
    page = _page(browser, workspace, java_script_enabled=False)
    _sign_in(page, workspace, seeded.owner)
    page.wait_for_url(re.compile(r"/saapuneet$"))
    assert page.locator(".item-list h2").count() == 2
    page.locator(".item-list h2 a").first.click()
    page.wait_for_url(re.compile(r"/kohteet/\d+$"))
    page.get_by_label("Luettu").check()
    page.get_by_role("button", name="Tallenna").click()
    page.wait_for_url(re.compile(r"\?tallennettu=1$"))
    assert _state_shown(page) == "Luettu"
    page.goto("/saapuneet?tila=luettu")
    assert page.locator(".item-list h2").count() == 1
    page.get_by_role("button", name="Kirjaudu ulos").click()
    page.wait_for_url(re.compile(r"/kirjaudu\?ulos=1$"))
    assert page.goto("/saapuneet").status == 401
    page.context.close()


def test_a_statement_with_two_revisions_and_the_items_an_edit_withdrew_are_shown_and_pass_the_checks(
    browser, workspace, visits
) -> None:
    response = seed002()
    answers = answers_of(response)
    first = classified(response, response_id="muokattu")
    del answers[37]
    answers[44] += " Lisäksi vapaaehtoistoiminta on huomioitava mittareissa."
    workspace.record(first, classified(response, response_id="muokattu", revision=2, answers=answers))
    (withdrawn,) = owners_of(first, "5.3.1.1")

    page = _page(browser, workspace)
    _sign_in(page, workspace, OFFICE, "/lausunnot/muokattu")
    assert page.locator("h1").inner_text() == "Lausunto: Kanta-Hämeen järjestöneuvottelukunta"
    assert page.get_by_role("navigation", name="Versiot").get_by_role("link").all_inner_texts() == ["Versio 1"]
    changes = page.locator("section", has=page.get_by_role("heading", name="Muutokset versioon 1 verrattuna"))
    assert "Lisäksi vapaaehtoistoiminta" in changes.inner_text()
    visits.check(page, "statement with two revisions")
    page.context.close()

    page = _page(browser, workspace)
    _sign_in(page, workspace, withdrawn)
    assert page.locator(".item-list h2").count() == 0
    page.get_by_role("link", name="Näytä muokatuista lausunnoista poistuneet kohteet").click()
    assert page.locator(".item-list h2").all_inner_texts() == ["Kanta-Hämeen järjestöneuvottelukunta – 5.3.1.1 Yritysyhteistyö"]  # fmt: skip
    visits.check(page, "withdrawn items")
    page.locator(".item-list h2 a").click()
    assert "Poistunut muokatusta lausunnosta" in page.locator("main p.meta").inner_text()
    visits.check(page, "withdrawn item")
    page.go_back()
    page.get_by_role("link", name="Näytä nykyiset kohteet").click()
    assert page.locator(".item-list h2").count() == 0
    page.context.close()


def test_in_a_browser_markup_in_a_statement_runs_nothing_and_reads_as_text(browser, workspace, visits) -> None:
    hostile = "Luvussa 5.2.2 <script>alert('x')</script> <img src=x onerror=\"alert('y')\"> {{ 7*7 }} <b>lihava</b>"
    event = classified(seed002(), response_id="vihamielinen", answers={38: hostile}, organization="<i>Yhdistys</i>")
    workspace.record(event)
    (owner,) = owners_of(event, "5.2.2")
    page = _page(browser, workspace)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, workspace, owner)
    assert hostile in page.locator(".item-card").first.inner_text()
    visits.check(page, "hostile inbox")
    page.locator(".item-list h2 a").first.click()
    assert page.locator("h1").inner_text() == "<i>Yhdistys</i> – 5.2.2 Turvallisuus ja kriisinkestävyys"
    page.get_by_role("link", name="Avaa koko lausunto").click()
    assert hostile in page.locator("main").inner_text()
    visits.check(page, "hostile statement")
    assert page.locator("main img, main b, main i, main script").count() == 0
    assert dialogs == []
    page.context.close()


def test_the_accessibility_check_does_find_violations_on_a_page_that_has_them(browser) -> None:
    page = browser.new_page()
    page.set_content('<html><body><img src="kuva.png"><input type="text"><a href="#"></a></body></html>')
    found = {v["id"] for v in axe_violations(page)}
    assert {"html-has-lang", "image-alt", "label", "link-name"} <= found, found
    page.close()


def test_at_320_pixels_wide_the_pages_reflow_without_sideways_scrolling(browser, workspace, seeded, visits) -> None:
    """WCAG 1.4.10: content reflows at 320 CSS pixels (the coverage matrix scrolls inside its own region)."""
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    page = browser.new_context(base_url=workspace.url, locale="fi-FI", viewport={"width": 320, "height": 640}).new_page()  # fmt: skip
    _sign_in(page, workspace, seeded.owner)
    for name, path in [("inbox", "/saapuneet"), ("item", f"/kohteet/{item_id}"), ("statement", f"/lausunnot/{seeded.ngo.response_id}")]:  # fmt: skip
        page.goto(path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
        visits.check(page, f"narrow {name}")
    page.context.close()
