"""Hostile and mistaken corrections, through the workspace's API and its pages, against the real broker and a real
database (SQLite and PostgreSQL): an unknown section, paragraph or statement, a missing reason, an owner
correcting a paragraph that was never theirs or removing another owner's section, a form posted without its
token: each is refused with a clear error, and nothing is stored, put in the outbox or published. A reason with
markup in it reads as text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "workspace"))
from corrections_support import api, paragraph_of, served_with_api
from workspace_support import OFFICE, Workspace, classified, csrf_of, item_id_of, one, parse, seed002, text

from feedback_contracts.events import CORRECTIONS_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[Workspace]:
    """conftest's workspace, with a token for its API."""
    yield from served_with_api(kafka_bootstrap, database_url, unique)


REASON = "Kuuluu henkilöstölle."
NEVER_THEIRS = "henkilosto"  # owns 5.4.3, which seed 002 does not reach
OWNER = "turvallisuus"  # receives seed 002's paragraph on 5.2.2


@pytest.fixture
def statement(workspace):
    event = classified(seed002(), response_id=f"vihamielinen-{workspace.settings.workspace_group_id}")
    workspace.record(event)
    return event


def _nothing_kept_or_published(workspace, topics, response_id: str) -> None:
    routes = workspace.run(workspace.app.state.corrections.routes(response_id))
    assert routes is None or routes.corrections == (), "nothing stored"
    assert workspace.run(workspace.app.state.corrections.unpublished(100)) == [], "nothing in the outbox"
    assert [r for r in topics.read(CORRECTIONS_TOPIC) if r.key == response_id.encode()] == [], "nothing published"
    assert (workspace.registry.get_sample_value("feedback_workspace_corrections_total", {"by": "office"}) or 0) == 0
    assert (workspace.registry.get_sample_value("feedback_workspace_corrections_total", {"by": "owner"}) or 0) == 0


def test_the_api_refuses_unknown_sections_paragraphs_statements_and_roles_and_corrections_without_reason_or_right(
    workspace, statement, topics
) -> None:
    paragraph = paragraph_of(statement, "5.2.2")
    good = {"response_id": statement.response_id, "paragraph_id": paragraph, "add": ["5.4.3"], "reason": REASON}
    cases = [
        ({**good, "add": ["9.9"]}, 422, "unknown section '9.9': not a section of the strategy"),
        (
            {**good, "add": ["5.4.3"], "remove": ["<script>"]},
            422,
            "unknown section '<script>': not a section of the strategy",
        ),
        (
            {**good, "paragraph_id": "q38-000000000000"},
            404,
            f"paragraph 'q38-000000000000' is not in the latest revision (1) of statement '{statement.response_id}'",
        ),
        ({**good, "response_id": "ei-ole-olemassa"}, 404, "no statement 'ei-ole-olemassa'"),
        ({**good, "reason": ""}, 422, "a reason is required"),
        ({k: v for k, v in good.items() if k != "reason"}, 422, "a reason is required"),
        ({**good, "add": []}, 422, "name at least one section to add or remove"),
        ({**good, "add": ["5.2.2"]}, 409, "the paragraph is already routed to section 5.2.2"),
        (
            {**good, "by_role": NEVER_THEIRS},
            403,
            "the paragraph was never routed to henkilosto: an owner corrects only their own",
        ),
        (
            {**good, "paragraph_id": paragraph_of(statement, "5.3.1.1"), "by_role": OWNER},
            403,
            "the paragraph was never routed to turvallisuus: an owner corrects only their own",
        ),
        ({**good, "by_role": "ei-roolia"}, 422, "unknown role 'ei-roolia': not an owner in the owners directory"),
        (
            {**good, "correction_id": "123"},
            422,
            "correction_id must be at most 100 letters, digits, '-', '_' or '.', not only digits",
        ),
    ]
    client = api(workspace)
    answers = [(client.post("/api/corrections", json=body), status, detail) for body, status, detail in cases]
    assert [(a.status_code, a.json()["detail"]) for a, _, _ in answers] == [(s, d) for _, s, d in answers]
    unreadable = client.post("/api/corrections", json={**good, "add": "5.4.3", "extra": 1})
    assert unreadable.status_code == 422 and isinstance(unreadable.json()["detail"], list)
    _nothing_kept_or_published(workspace, topics, statement.response_id)


def test_an_owner_cannot_correct_a_paragraph_that_was_never_theirs_nor_remove_another_owners_section(
    workspace, statement, topics
) -> None:
    never = workspace.signed_in(NEVER_THEIRS)
    token = csrf_of(never.get("/saapuneet"))
    paragraph = paragraph_of(statement, "5.2.2")
    form = {"csrf": token, "kohta": paragraph, "lisaa": "5.4.3", "syy": REASON}
    refused = never.post(f"/lausunnot/{statement.response_id}/korjaukset", data=form)
    assert refused.status_code == 403 and one(parse(refused), "//h1").text == "Ei käyttöoikeutta"
    assert never.post("/lausunnot/ei-ole-olemassa/korjaukset", data=form).status_code == 403, "ids say nothing"

    owner = workspace.signed_in(OWNER)
    token = csrf_of(owner.get("/saapuneet"))
    other_section = {"csrf": token, "kohta": paragraph_of(statement, "5.3.1.3", "jarjestoyhteistyo"), "poista": "5.3.1.3", "syy": REASON}  # fmt: skip
    assert owner.post(f"/lausunnot/{statement.response_id}/korjaukset", data=other_section).status_code == 403
    own_item = item_id_of(workspace, OWNER, statement.response_id, "5.2.2")
    foreign_item = item_id_of(workspace, "jarjestoyhteistyo", statement.response_id, "5.3.1.3")
    through_another_item = {**form, "csrf": token, "kohde": str(foreign_item)}
    assert owner.post(f"/lausunnot/{statement.response_id}/korjaukset", data=through_another_item).status_code == 403
    assert own_item != foreign_item
    _nothing_kept_or_published(workspace, topics, statement.response_id)


def test_a_form_without_its_token_or_reason_changes_nothing_and_the_office_hears_of_unknown_statements(
    workspace, statement, topics
) -> None:
    office = workspace.signed_in(OFFICE)
    page = office.get(f"/lausunnot/{statement.response_id}")
    paragraph = paragraph_of(statement, "5.2.2")
    form = {"kohta": paragraph, "poista": "5.2.2", "lisaa": "5.4.3", "syy": REASON}
    target = f"/lausunnot/{statement.response_id}/korjaukset"
    assert office.post(target, data=form).status_code == 403, "no token"
    assert office.post(target, data={**form, "csrf": "vaara"}).status_code == 403, "a wrong token"
    other_session = csrf_of(workspace.signed_in(OFFICE).get("/saapuneet"))
    assert office.post(target, data={**form, "csrf": other_session}).status_code == 403, "another session's token"
    assert workspace.anonymous().post(target, data={**form, "csrf": csrf_of(page)}).status_code == 401

    token = csrf_of(page)
    missing = office.post(target, data={**form, "csrf": token, "syy": ""})
    assert missing.status_code == 422
    assert "Kerro lyhyesti, miksi ohjausta korjataan." in text(
        one(parse(missing), "//div[contains(@class,'error-summary')]")
    )
    unknown = office.post(target, data={**form, "csrf": token, "lisaa": "9.9", "poista": []})
    assert unknown.status_code == 422 and "Lukua 9.9 ei ole palvelustrategiassa." in unknown.text
    gone = office.post(target, data={**form, "csrf": token, "kohta": "q38-000000000000"})
    assert gone.status_code == 404 and "Kohtaa ei ole lausunnon uusimmassa versiossa" in gone.text
    nowhere = office.post("/lausunnot/ei-ole-olemassa/korjaukset", data={**form, "csrf": token})
    assert nowhere.status_code == 404 and one(parse(nowhere), "//h1").text == "Lausuntoa ei löydy"
    _nothing_kept_or_published(workspace, topics, statement.response_id)


def test_a_reason_with_markup_reads_as_text_where_it_is_shown(workspace, statement) -> None:
    hostile = "<script>alert('syy')</script> <img src=x onerror=alert(1)> {{ 7*7 }}"
    office = workspace.signed_in(OFFICE)
    page = office.get(f"/lausunnot/{statement.response_id}")
    paragraph = paragraph_of(statement, "5.2.2")
    posted = office.post(
        f"/lausunnot/{statement.response_id}/korjaukset",
        data={"csrf": csrf_of(page), "kohta": paragraph, "poista": "5.2.2", "lisaa": "5.4.3", "syy": hostile},
    )
    assert posted.status_code == 303
    document = parse(office.get(f"/lausunnot/{statement.response_id}"))
    assert not document.xpath("//script | //main//img | //@*[starts-with(name(), 'on')]")
    assert f"Perustelu: ”{hostile}”" in text(one(document, "//section[@aria-labelledby='korjaukset']"))
