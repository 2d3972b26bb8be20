"""What the lists and the statement page show: filters by state, section (with everything below it), respondent
type and free text, the counts per state, pages of ten; the whole statement in the form's order with the owner's
own paragraphs marked, and every revision with what changed."""

from __future__ import annotations

import re

import pytest
from workspace_support import (
    OFFICE,
    answers_of,
    classified,
    item_id_of,
    item_links,
    main_text,
    mark,
    one,
    parse,
    seed002,
    text,
)

from feedback_contracts.respondents import RespondentType
from feedback_workspace.pages import PAGE_SIZE

pytestmark = pytest.mark.integration


def _listed(client, path: str = "/toimisto/kohteet", **params) -> list[tuple[str, str]]:  # noqa: ANN001
    """(organisation, section id) of every item a list shows, over all its pages."""
    shown, page = [], 1
    while True:
        document = parse(client.get(path, params={**params, "sivu": page}))
        for heading in document.xpath("//ol[contains(@class,'item-list')]//h2"):
            organization, section = text(heading).rsplit(" – ", 1)
            shown.append((organization, section.split(" ")[0]))
        if not document.xpath("//a[@rel='next']"):
            return shown
        page += 1


def _expected(seeded, section=lambda s: True, organization=lambda o: True, owner=None) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted(
        (event.respondent.organization, route.section_id)
        for event in (seeded.ngo, seeded.city)
        for route in event.routes
        for o in route.owners
        if section(route.section_id) and organization(event.respondent.organization) and owner in (None, o)
    )


def _counts(response) -> dict[str, int]:  # noqa: ANN001
    counts = {}
    for link in parse(response).xpath("//nav[@aria-label='Tilat']//a"):
        label, number = text(link).rsplit(" ", 1)
        counts[label] = int(number)
    return counts


def test_the_section_filter_takes_a_section_and_everything_below_it(workspace, seeded) -> None:
    office = workspace.signed_in(OFFICE)
    below_5_2 = _listed(office, luku="5.2")
    assert sorted(below_5_2) == _expected(seeded, lambda s: s == "5.2" or s.startswith("5.2."))
    assert {section for _, section in below_5_2} == {"5.2", "5.2.1", "5.2.2"}
    assert sorted(_listed(office, luku="5.3.1")) == _expected(seeded, lambda s: s.startswith("5.3.1"))
    assert sorted(_listed(office, luku="5.2.2")) == _expected(seeded, lambda s: s == "5.2.2")
    assert sorted(_listed(office, luku="5")) == _expected(seeded, lambda s: s.startswith("5.")), "chapter 5 whole"
    assert _listed(office, luku="8") == [("Hämeenlinnan kaupunki", "8")], "8 is not a prefix of 8x"
    for wildcard in ("%", "5_2", "5.%"):
        assert _listed(office, luku=wildcard) == [], f"{wildcard!r} is matched as text, not as a pattern"


def test_the_respondent_type_and_free_text_filters_and_an_unknown_value_is_said(workspace, seeded) -> None:
    office = workspace.signed_in(OFFICE)
    municipality = _listed(office, vastaajaryhma="municipality")
    assert sorted(municipality) == _expected(seeded, organization=lambda o: o == "Hämeenlinnan kaupunki")
    assert _listed(office, haku="VALTAMEDIA") == [("Kanta-Hämeen järjestöneuvottelukunta", "5.2.2")]
    assert sorted(_listed(office, haku="hämeenlinnan kaupunki")) == sorted(municipality), "organisation too"
    assert _listed(office, haku="valtamedia", vastaajaryhma="municipality") == []
    assert _listed(office, haku="100 %") == [("Kanta-Hämeen järjestöneuvottelukunta", "5.3.1.3")]

    unknown = office.get("/toimisto/kohteet", params={"tila": "hylätty", "vastaajaryhma": "marsilaiset"})
    summary = text(one(parse(unknown), "//main//div[contains(@class,'error-summary')]"))
    assert "Tuntematon tila." in summary and "Tuntematon vastaajaryhmä." in summary


def test_the_state_filter_and_the_counts_per_state_follow_what_owners_mark(workspace, seeded) -> None:
    owner = workspace.signed_in(seeded.owner)
    ngo_item = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    city_item = item_id_of(workspace, seeded.owner, seeded.city.response_id, "5.2.2")
    assert _counts(owner.get("/saapuneet")) == {"Uusi": 2, "Luettu": 0, "Käsitelty": 0, "Ei minulle": 0}

    assert mark(owner, ngo_item, "kasitelty", "Huomioitu.").status_code == 303
    assert mark(owner, city_item, "ei_minulle", "Kuuluu kuntayhteistyölle.").status_code == 303
    inbox = owner.get("/saapuneet")
    assert _counts(inbox) == {"Uusi": 0, "Luettu": 0, "Käsitelty": 1, "Ei minulle": 1}
    assert item_links(owner.get("/saapuneet", params={"tila": "kasitelty"})) == [f"/kohteet/{ngo_item}"]
    assert item_links(owner.get("/saapuneet", params={"tila": "uusi"})) == []

    office = workspace.signed_in(OFFICE)
    not_mine = office.get("/toimisto/kohteet", params={"tila": "ei_minulle"})
    assert item_links(not_mine) == [f"/kohteet/{city_item}"], "the office's 'not mine' queue"
    assert "Kuuluu kuntayhteistyölle." in main_text(office.get(f"/kohteet/{city_item}"))
    every = len(_expected(seeded))
    assert _counts(office.get("/toimisto/kohteet"))["Uusi"] == every - 2
    filtered = office.get("/toimisto/kohteet", params={"luku": "5.2.2"})
    assert _counts(filtered) == {"Uusi": 0, "Luettu": 0, "Käsitelty": 1, "Ei minulle": 1}, "counts follow the filter"


def test_a_long_list_comes_in_pages_that_together_show_every_item_once(workspace, seeded) -> None:
    office = workspace.signed_in(OFFICE)
    first = office.get("/toimisto/kohteet")
    every = len(_expected(seeded))
    pages = -(-every // PAGE_SIZE)
    assert pages >= 2
    assert len(item_links(first)) == PAGE_SIZE
    assert f"{every} kohdetta, sivu 1/{pages}." in main_text(first)
    shown = list(item_links(first))
    for number in range(2, pages + 1):
        shown += item_links(office.get("/toimisto/kohteet", params={"sivu": number}))
    assert len(shown) == len(set(shown)) == every, "every item once, over all the pages"


def test_the_default_owners_queue_lists_the_paragraphs_no_section_got(workspace, seeded) -> None:
    # A board's statement has no partner section: text that names nothing of the strategy reaches no section.
    nothing_matches = {3: "Kiitos mahdollisuudesta lausua."}
    event = classified(seed002(), response_id="ei-lukua", answers=nothing_matches, organization="Oma Hämeen lautakunta X", respondent_type=RespondentType.BOARD)  # fmt: skip
    assert [(r.section_id, r.owners) for r in event.routes] == [(None, (OFFICE,))], "the test needs an unrouted text"
    workspace.record(event)
    office = workspace.signed_in(OFFICE)
    queue = office.get("/toimisto/kohteet", params={"luku": "-"})
    assert _listed(office, luku="-") == [("Oma Hämeen lautakunta X", "Ei")]
    assert "Oma Hämeen lautakunta X – Ei tunnistettua lukua" in main_text(queue)
    assert "Kiitos mahdollisuudesta lausua." in main_text(queue)
    overview = parse(office.get("/toimisto"))
    row = one(overview, "//table[contains(@class,'coverage')]//tr[th[normalize-space()='Ei tunnistettua lukua']]")
    (cell,) = row.xpath(".//a")
    assert text(cell).startswith("1 / 1") and "luku=-" in cell.get("href")


def test_the_statement_page_shows_every_paragraph_in_the_forms_order_and_marks_the_owners_own(
    workspace, seeded
) -> None:
    owner = workspace.signed_in(seeded.owner)
    page = parse(owner.get(f"/lausunnot/{seeded.ngo.response_id}"))
    paragraphs = page.xpath("//main//div[contains(@class,'paragraph')]")
    shown = [text(p.xpath("./p[not(@class)]")[0]) for p in paragraphs]
    assert shown == [re.sub(r"\s+", " ", p.text).strip() for p in seeded.ngo.paragraphs]
    mine = [i for i, p in enumerate(paragraphs) if "mine" in p.get("class").split()]
    route = next(r for r in seeded.ngo.routes if r.section_id == "5.2.2")
    assert mine == [rp.paragraph for rp in route.paragraphs]
    assert all("Sinulle ohjattu" in text(paragraphs[i]) for i in mine)
    (own_item,) = paragraphs[mine[0]].xpath(".//p[@class='mine-label']/a")
    assert text(own_item) == "5.2.2 Turvallisuus ja kriisinkestävyys: Uusi", "the owner's item and its state"
    assert own_item.get("href") == f"/kohteet/{item_id_of(workspace, seeded.owner, seeded.ngo.response_id, '5.2.2')}"
    questions = [text(h) for h in page.xpath("//main//h3[contains(@class,'question-heading')]")]
    assert [q.split(":")[0] for q in questions] == [f"Kysymys {n}" for n in sorted({p.question for p in seeded.ngo.paragraphs})]  # fmt: skip
    routes_of_8 = text(paragraphs[route.paragraphs[0].paragraph].xpath(".//details/summary")[0])
    assert routes_of_8 == "Ohjattu: 5.2.2 Turvallisuus ja kriisinkestävyys"


def test_the_statement_page_lists_every_revision_and_what_changed_between_them(workspace) -> None:
    response = seed002()
    answers = answers_of(response)
    first = classified(response, response_id="versioitu")
    removed = answers.pop(37)
    answers[44] = answers[44] + " Uusi lisäys."
    second = classified(response, response_id="versioitu", revision=2, answers=answers)
    workspace.record(first)
    workspace.record(second)
    office = workspace.signed_in(OFFICE)

    latest = parse(office.get("/lausunnot/versioitu"))
    versions = [text(li) for li in latest.xpath("//nav[@aria-label='Versiot']//li")]
    assert [v.split(" – ")[0] for v in versions] == ["Versio 2", "Versio 1"]
    changes = text(one(latest, "//section[@aria-labelledby='muutokset']"))
    assert "Muutokset versioon 1 verrattuna" in changes
    assert f"Poistettu (kysymys 37): {removed.splitlines()[0]}" in changes
    assert re.search(r"Aiemmin \(kysymys 44\): [^.]+\..*Nyt \(kysymys 44\): .* Uusi lisäys\.", changes)
    assert "Uusi lisäys." in main_text(office.get("/lausunnot/versioitu"))

    earlier = office.get("/lausunnot/versioitu", params={"versio": 1})
    assert "Näytetään versio 1" in main_text(earlier)
    assert removed.split("\n")[0][:60] in main_text(earlier)
    assert not parse(earlier).xpath("//section[@aria-labelledby='muutokset']"), "nothing before the first"


def test_a_mistyped_page_number_or_version_in_the_address_shows_a_page_not_an_error(workspace, seeded) -> None:
    office = workspace.signed_in(OFFICE)
    for params in ({"sivu": "kaksi"}, {"sivu": "0"}, {"sivu": "9" * 30}, {"poistuneet": "ehkä"}):
        answer = office.get("/toimisto/kohteet", params=params)
        assert answer.status_code == 200 and text(one(parse(answer), "//h1")) == "Kaikki kohteet", params
    assert office.get("/saapuneet", params={"sivu": "-1"}).status_code == 200
    statement = office.get(f"/lausunnot/{seeded.ngo.response_id}", params={"versio": "uusin"})
    assert statement.status_code == 200 and "Näytetään versio 1 (uusin)" in main_text(statement)
