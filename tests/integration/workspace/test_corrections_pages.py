"""Correcting routes in the workspace's pages (plain HTTP, as a browser without JavaScript posts the forms), on the
real broker and a real database: an owner sends a paragraph of theirs to the section it belongs to with a reason,
the page says it is being re-routed, the correction is published and shown on the statement page beside the
routes; after classify's re-routing the new owner has it as a new item and the old owner's item is withdrawn;
a correction without a reason is refused with a Finnish error and changes nothing; corrections a later revision
dropped stay visible."""

from __future__ import annotations

import pytest
from corrections_support import paragraph_of, rerouted
from workspace_support import (
    OFFICE,
    answers_of,
    classified,
    item_id_of,
    item_links,
    main_text,
    one,
    parse,
    seed002,
    text,
)

from feedback_contracts.events import CORRECTIONS_TOPIC, AppliedCorrection, RouteCorrected

pytestmark = pytest.mark.integration

REASON = "Kansainvälinen rekrytointi kuuluu henkilöstön saatavuuteen."
GAINER = "henkilosto"  # owns 5.4.3


def _form(page, paragraph: str):
    return one(parse(page), f"//div[@id='kohta-{paragraph}']//form[contains(@class,'correction-form')]")


def _post(client, page, paragraph: str, **fields: object):
    """Post the paragraph's correction form as a browser does: its hidden fields plus what was chosen."""
    form = _form(page, paragraph)
    data = {i.get("name"): i.get("value", "") for i in form.xpath(".//input[@type='hidden']")}
    data.update(fields)
    return client.post(form.get("action"), data=data)


def test_an_owner_moves_their_paragraph_to_the_right_section_and_it_reaches_the_new_owner(
    workspace,
    topics,
) -> None:
    event = classified(seed002(), response_id=f"siirrettava-{workspace.settings.workspace_group_id}")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    owner = "turvallisuus"
    item_id = item_id_of(workspace, owner, event.response_id, "5.2.2")
    client = workspace.signed_in(owner)

    page = client.get(f"/kohteet/{item_id}")
    form = _form(page, paragraph)
    removable = [(i.get("value"), text(i.getparent())) for i in form.xpath(".//input[@name='poista']")]
    assert removable == [("5.2.2", "5.2.2 Turvallisuus ja kriisinkestävyys")], "an owner removes their own section"
    options = form.xpath(".//select[@name='lisaa']/option/@value")
    assert options[:3] == ["1", "2", "2.1"] and "5.2.2" not in options and "5.4.3" in options, "the draft's order"
    assert form.xpath(".//label[@for=$id]", id=form.xpath(".//textarea/@id")[0])[0].text_content() == "Perustelu"

    answer = _post(client, page, paragraph, poista="5.2.2", lisaa="5.4.3", syy=REASON)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/kohteet/{item_id}?korjattu={paragraph}#kohta-{paragraph}"
    after = client.get(answer.headers["location"])
    notice = one(parse(after), f"//div[@id='kohta-{paragraph}']//div[@role='status']")
    assert text(notice).startswith(
        "Korjaus tallennettu. Kohta ohjataan nyt uudelleen: muutos näkyy tällä sivulla sekunnin parin kuluttua"
    )
    assert "Ohjataan uudelleen Ohjausta korjattu" in main_text(after)

    (record,) = topics.wait_for(CORRECTIONS_TOPIC, lambda r: r.key == event.response_id.encode(), timeout=30)
    published = RouteCorrected.model_validate_json(record.value)
    assert (published.by_role, published.add, published.remove, published.reason) == (owner, ("5.4.3",), ("5.2.2",), REASON)  # fmt: skip
    assert workspace.registry.get_sample_value("feedback_workspace_corrections_total", {"by": "owner"}) == 1

    statement = main_text(client.get(f"/lausunnot/{event.response_id}"))
    assert "Ohjauksen korjaukset" in statement and f"Perustelu: ”{REASON}”" in statement
    assert "poistettu luvusta 5.2.2 Turvallisuus ja kriisinkestävyys" in statement
    assert "lisätty lukuun 5.4.3 Sitoutunut ja kyvykäs henkilöstö" in statement

    workspace.record(rerouted(event, published))  # classify's re-routing, consumed
    statement_page = parse(client.get(f"/lausunnot/{event.response_id}"))
    moved = one(statement_page, f"//div[@id='kohta-{paragraph}']")
    assert "Ohjattu: 5.4.3 Sitoutunut ja kyvykäs henkilöstö" in text(moved)
    assert f"siirretty tänne käsin ({owner}): ”{REASON}”" in text(moved), "the correction reason beside the route"
    assert "Voimassa" in text(one(statement_page, "//section[@aria-labelledby='korjaukset']"))
    assert moved.xpath(".//form") and not moved.xpath(".//input[@name='poista']"), "once theirs: may add, not remove"
    mine = parse(client.get(f"/kohteet/{item_id}"))
    assert "Siirretty pois tästä luvusta" in text(one(mine, "//main//p[@class='meta']"))
    assert "kohta siirretty pois tästä luvusta korjauksella" in text(one(mine, "//table[@class='history']"))

    gainer = workspace.signed_in(GAINER)
    (link,) = item_links(gainer.get("/saapuneet"))
    gained = parse(gainer.get(link))
    assert text(one(gained, "//main//p[@class='meta']//span[contains(@class,'tag')]")) == "Uusi"
    history = text(one(gained, "//table[@class='history']"))
    assert "kohta siirretty tähän lukuun korjauksella" in history and REASON in history
    assert "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö" in history, "who moved it, by the role's name"


def test_a_correction_without_a_reason_is_refused_in_finnish_and_changes_nothing(workspace) -> None:
    event = classified(seed002(), response_id="ilman-syyta")
    workspace.record(event)
    paragraph = paragraph_of(event, "5.2.2")
    client = workspace.signed_in(OFFICE)
    page = client.get(f"/lausunnot/{event.response_id}")

    answer = _post(client, page, paragraph, poista="5.2.2", lisaa=["5.4.3", "8"], syy="  ")
    assert answer.status_code == 422
    document = parse(answer)
    summary = one(document, "//main/div[contains(@class,'error-summary')]")
    assert text(summary) == "Korjaa seuraavat kohdat Kerro lyhyesti, miksi ohjausta korjataan."
    assert summary.xpath(".//a/@href") == [f"#syy-{paragraph}"]
    assert document.findtext(".//title").startswith("Virhe:")
    details = one(document, f"//div[@id='kohta-{paragraph}']//details[@class='correction']")
    assert details.get("open") is not None, "the form with the error is open"
    assert details.xpath(".//select[@name='lisaa']/option[@selected]/@value") == ["5.4.3", "8"], "entered stays"
    assert details.xpath(".//input[@name='poista'][@checked]/@value") == ["5.2.2"]
    assert text(one(details, f".//p[@id='syy-{paragraph}-virhe']")) == "Kerro lyhyesti, miksi ohjausta korjataan."
    corrections = workspace.run(workspace.app.state.corrections.routes(event.response_id)).corrections
    assert corrections == ()


def test_an_owner_gets_forms_only_for_their_paragraphs_and_the_office_for_every_paragraph(workspace) -> None:
    event = classified(seed002(), response_id="lomakkeet")
    workspace.record(event)
    owner_page = parse(workspace.signed_in("turvallisuus").get(f"/lausunnot/{event.response_id}"))
    assert owner_page.xpath("//form[contains(@class,'correction-form')]/input[@name='kohta']/@value") == [
        paragraph_of(event, "5.2.2")
    ]
    office_page = parse(workspace.signed_in(OFFICE).get(f"/lausunnot/{event.response_id}"))
    offered = office_page.xpath("//form[contains(@class,'correction-form')]/input[@name='kohta']/@value")
    assert offered == list(dict.fromkeys(p.paragraph_id for p in event.paragraphs))


def test_a_correction_a_later_revision_dropped_is_shown_on_the_statement_page(workspace) -> None:
    response = seed002()
    first = classified(response, response_id="rauennut")
    workspace.record(first)
    paragraph = paragraph_of(first, "5.2.2")
    client = workspace.signed_in(OFFICE)
    page = client.get("/lausunnot/rauennut")
    assert _post(client, page, paragraph, poista="5.2.2", lisaa="5.4.3", syy=REASON).status_code == 303
    (stored,) = workspace.run(workspace.app.state.corrections.routes("rauennut")).corrections

    answers = answers_of(response)
    old = next(p.text for p in first.paragraphs if p.paragraph_id == paragraph)
    answers[38] = answers[38].replace(old, old + " Tämä on muutettu.")
    dropped = AppliedCorrection(
        correction_id=stored.id, paragraph_id=paragraph, revision=1, add=stored.add, remove=stored.remove,
        by_role=stored.by_role, reason=stored.reason, corrected_at=stored.corrected_at, status="dropped",
    )  # fmt: skip
    edited = classified(response, response_id="rauennut", revision=2, answers=answers)
    workspace.record(edited.model_copy(update={"corrections": (dropped,)}))

    document = parse(client.get("/lausunnot/rauennut"))
    listed = text(one(document, "//section[@aria-labelledby='korjaukset']"))
    assert "Rauennut" in listed and REASON in listed and "Kohta ennen muutosta (kysymys 38)" in listed
    assert "Korjaus raukesi, koska kohta muuttui lausunnon myöhemmässä versiossa." in listed
    assert not document.xpath(f"//div[@id='kohta-{paragraph}']"), "the old paragraph is not in the new revision"
