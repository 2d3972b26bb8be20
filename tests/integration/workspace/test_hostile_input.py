"""Statement text is the public's: markup, scripts and template syntax in it (and in an owner's note) show as the
text they are on every page, and never become elements, attributes or evaluated expressions."""

from __future__ import annotations

import re

import pytest
from workspace_support import classified, item_id_of, mark, one, owners_of, parse, seed002, text

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert('lausunto')</script>"
IMAGE = '<img src="x" onerror="alert(1)">'
TEMPLATE = "{{ 7 * 7 }} {% if true %}kyllä{% endif %}"
MARKUP = '<a href="javascript:alert(2)">linkki</a> <b>lihavoitu</b> </textarea></p><h1>Otsikko</h1>'
HOSTILE = f"Luvussa 5.2.2 Turvallisuus ja kriisinkestävyys {SCRIPT} {IMAGE} {TEMPLATE} {MARKUP} & &amp; &lt;"
ORGANIZATION = f"Yhdistys {IMAGE} {{{{ config }}}}"


@pytest.fixture
def hostile(workspace):  # noqa: ANN001, ANN201
    event = classified(seed002(), response_id="vihamielinen-1", answers={38: HOSTILE}, organization=ORGANIZATION)
    workspace.record(event)
    (owner,) = owners_of(event, "5.2.2")
    return event, owner, item_id_of(workspace, owner, event.response_id, "5.2.2")


def _assert_shown_as_text(page) -> None:  # noqa: ANN001
    assert page.status_code == 200
    document = parse(page)
    main = one(document, "//main")
    assert not document.xpath("//script"), "no script element on the page"
    assert not main.xpath(".//img | .//b | .//main//h1[2] | .//a[starts-with(@href, 'javascript')]")
    assert not document.xpath("//@*[starts-with(name(), 'on')]"), "no event handler attribute"
    assert len(main.xpath(".//h1")) == 1
    shown = text(main)
    for part in (SCRIPT, IMAGE, TEMPLATE, MARKUP, "& &amp; &lt;"):
        assert part in shown, part
    assert ORGANIZATION in shown
    assert not re.search(r"\b49\b", shown), "template syntax is not evaluated"


def test_markup_and_scripts_in_a_statement_show_as_text_in_the_inbox_the_item_and_the_statement(
    workspace, hostile
) -> None:
    event, owner, item_id = hostile
    client = workspace.signed_in(owner)
    _assert_shown_as_text(client.get("/saapuneet"))
    _assert_shown_as_text(client.get(f"/kohteet/{item_id}"))
    _assert_shown_as_text(client.get(f"/lausunnot/{event.response_id}"))
    _assert_shown_as_text(client.get("/saapuneet", params={"haku": "<script>"}))


def test_markup_in_an_owners_note_shows_as_text(workspace, hostile) -> None:
    _, owner, item_id = hostile
    client = workspace.signed_in(owner)
    assert mark(client, item_id, "kasitelty", note=f"{SCRIPT} {TEMPLATE}").status_code == 303
    page = parse(client.get(f"/kohteet/{item_id}"))
    assert not page.xpath("//script")
    history = text(one(page, "//table[contains(@class,'history')]"))
    assert f"{SCRIPT} {TEMPLATE}" in history
    textarea = one(page, "//textarea[@id='muistiinpano']")
    assert textarea.text == f"{SCRIPT} {TEMPLATE}", "the note is the textarea's text, not markup after it"
