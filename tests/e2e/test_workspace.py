"""The owners' workspace as owners use it: `feedback dev up`, the form posts the NGO council's statement, an owner
opens the personal link in their alert in a real browser (Chromium), signs in, reads their paragraphs, marks one
handled with a note and finds it so after a reload; another owner signed in with their own link can neither open
that item nor change it. axe-core checks every page visited; screenshots of the pages are kept as artifacts."""

from __future__ import annotations

import html.parser
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from feedback_cli.devstack import read_mailbox

if TYPE_CHECKING:
    from playwright.sync_api import Browser

from browser_support import Visits  # noqa: E402
from devstack_support import DevStack, StartDevUp  # noqa: E402

pytestmark = pytest.mark.e2e
TOKEN = "e2e-workspace-form-token"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "test-artifacts" / "e2e-workspace"
ORGANISATION = "Kanta-Hämeen järjestöneuvottelukunta"
# Two owners seed 002 concerns: the one who handles an item, and another who must not touch it.
OWNER = ("turvallisuus@example.org", "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö")
OTHER = "asiakasmaksut@example.org"
NOTE = "Huomioitu varautumisen linjauksissa; palataan asiaan järjestöjen kanssa."


@pytest.fixture
def stack(dev_up: StartDevUp, unique: str) -> DevStack:
    """The workspace reads in a consumer group of its own."""
    return dev_up(env={"INGEST_API_TOKENS": TOKEN, "WORKSPACE_GROUP_ID": f"workspace-e2e-{unique}"})


class _Links(html.parser.HTMLParser):
    """The links of an HTML part with their text, as a mail reader shows them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def _quotes(document: str) -> list[str]:
    """The paragraphs an HTML alert quotes (its <blockquote>s), as text."""
    return [
        " ".join(re.sub(r"<[^>]+>", " ", block).replace("&quot;", '"').replace("&#34;", '"').split())
        for block in re.findall(r"<blockquote>(.*?)</blockquote>", document, flags=re.S)
    ]


@dataclass(frozen=True)
class Alert:
    link: str  # the personal sign-in link the owner clicks
    paragraphs: list[str]  # the paragraphs the alert quotes


def alert_to(stack: DevStack, address: str, response_id: str, timeout: float = 90) -> Alert:
    """The alert this owner received about the statement, read from the .eml files as a mail reader would."""
    deadline = time.monotonic() + timeout
    while True:
        messages = [
            m
            for m in read_mailbox(stack.mail)
            if m["To"] == address and f"Lausunnon tunniste: {response_id}," in m.get_body(("plain",)).get_content()
        ]
        if messages or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(messages) == 1, f"{len(messages)} alerts to {address} about {response_id}"
    (message,) = messages
    document = message.get_body(("html",)).get_content()
    parser = _Links()
    parser.feed(document)
    (link,) = {href for href, text in parser.links if text == "Avaa lausunto lausuntopalvelun työtilassa"}
    plain = message.get_body(("plain",)).get_content()
    assert link in plain and "Linkki on henkilökohtainen" in plain and "Linkki on voimassa 14 päivää." in plain
    return Alert(link, _quotes(document))


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_an_owner_opens_the_link_in_their_alert_handles_an_item_and_another_owner_cannot_touch_it(
    stack: DevStack, browser: Browser, seed002_response: dict, unique: str
) -> None:
    assert f"workspace={stack.workspace}" in stack.ready_line().split()

    response_id = f"ws-e2e-{unique}"
    seed002_response["response_id"] = response_id
    answer = httpx.post(
        f"{stack.ingest}/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    mine, theirs = alert_to(stack, OWNER[0], response_id), alert_to(stack, OTHER, response_id)
    assert urlsplit(mine.link).netloc == urlsplit(stack.workspace).netloc
    assert parse_qs(urlsplit(mine.link).query)["seuraava"] == [f"/lausunnot/{response_id}"]
    assert mine.paragraphs and mine.link != theirs.link
    visits = Visits(ARTIFACTS)

    owner = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900})
    other = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900})
    try:
        # --- the owner follows the link: a page with one button, which signs in -------------------------------
        page = owner.new_page()
        response = page.goto(mine.link)
        assert response is not None and response.status == 200
        assert page.get_by_role("heading", level=1).inner_text() == "Kirjaudu sisään"
        assert f"Kirjaudut vastuuroolilla {OWNER[1]}." in squeeze(page.locator("main").inner_text())
        assert "Saapuneet" not in page.locator("header").inner_text()  # following the link signed nobody in
        visits.check(page, "sign-in")
        page.get_by_role("button", name="Kirjaudu sisään").click()
        page.wait_for_url(f"{stack.workspace}/lausunnot/{response_id}")
        deadline = time.monotonic() + 30
        while page.get_by_role("heading", level=1).inner_text() == "Lausuntoa ei löydy":
            assert time.monotonic() < deadline, "the workspace never recorded the statement"
            time.sleep(0.5)  # the workspace reads the classified event beside notify: it may be a moment behind
            page.reload()

        # --- the statement page: the whole statement, the owner's paragraphs marked ---------------------------
        assert page.get_by_role("heading", level=1).inner_text() == f"Lausunto: {ORGANISATION}"
        marked = [squeeze(p) for p in page.locator(".paragraph.mine").all_inner_texts()]
        assert marked, "none of the owner's paragraphs is marked on the statement page"
        for quoted in mine.paragraphs:
            assert any(quoted in p for p in marked), f"the alert's paragraph is not marked as theirs: {quoted[:80]}"
        assert len(page.locator(".paragraph").all()) > len(marked)  # the whole statement, not only theirs
        visits.check(page, "statement")

        # --- the inbox: the statement's items, the owner's paragraphs in them ---------------------------------
        page.get_by_role("link", name="Saapuneet").click()
        page.wait_for_url(f"{stack.workspace}/saapuneet")
        cards = page.locator(".item-card").filter(has_text=ORGANISATION)
        assert cards.count() >= 1
        listed = squeeze(" ".join(cards.all_inner_texts()))
        for quoted in mine.paragraphs:
            assert quoted in listed, f"the inbox lacks the owner's paragraph: {quoted[:80]}"
        visits.check(page, "inbox")

        # --- one item marked handled, with a note, and found so after a reload --------------------------------
        cards.first.get_by_role("link", name=re.compile(f"^{ORGANISATION} – ")).click()
        page.wait_for_url(re.compile(r".*/kohteet/\d+$"))
        item_url = page.url
        item_id = int(item_url.rsplit("/", 1)[1])
        visits.check(page, "item")
        page.get_by_label("Käsitelty").check()
        page.get_by_label(re.compile("^Muistiinpano")).fill(NOTE)
        page.get_by_role("button", name="Tallenna").click()
        page.wait_for_url(f"{item_url}?tallennettu=1")
        assert page.get_by_role("status").filter(has_text="Tallennettu.").is_visible()
        visits.check(page, "item-saved")
        page.goto(item_url)
        page.reload()
        assert page.get_by_label("Käsitelty").is_checked()
        assert page.get_by_label(re.compile("^Muistiinpano")).input_value() == NOTE
        assert f"Muistiinpano: {NOTE}" in squeeze(page.locator("main").inner_text())
        assert page.locator(".meta .tag").first.inner_text() == "Käsitelty"

        # --- another owner, signed in with their own link, gets 403 for that item and cannot change it -----------
        intruder = other.new_page()
        intruder.goto(theirs.link)
        visits.check(intruder, "sign-in-other-owner")
        intruder.get_by_role("button", name="Kirjaudu sisään").click()
        intruder.wait_for_url(f"{stack.workspace}/lausunnot/{response_id}")
        refused = intruder.goto(item_url)
        assert refused is not None and refused.status == 403
        assert intruder.get_by_role("heading", level=1).inner_text() == "Ei käyttöoikeutta"
        assert NOTE not in intruder.content()
        assert "Kirjautuneena: Asiakasmaksujen vastuuhenkilö" in intruder.locator("header").inner_text()
        visits.check(intruder, "forbidden-item")

        # Their own item's form, with its own valid form token, aimed at the first owner's item: refused by role.
        intruder.goto(f"{stack.workspace}/saapuneet")
        intruder.locator(".item-card").filter(has_text=ORGANISATION).first.get_by_role(
            "link", name=re.compile(f"^{ORGANISATION} – ")
        ).click()
        intruder.wait_for_url(re.compile(r".*/kohteet/\d+$"))
        own_item = intruder.url
        assert int(own_item.rsplit("/", 1)[1]) != item_id
        form = intruder.locator("form.state-form")
        token = form.locator("input[name=csrf]").input_value()
        assert token, "the page carries no form token"
        form.evaluate("(f, id) => f.setAttribute('action', `/kohteet/${id}/tila`)", item_id)
        intruder.get_by_label("Uusi").check()
        intruder.get_by_label(re.compile("^Muistiinpano")).fill("Ei minun, mutta muutan silti.")
        with intruder.expect_response(lambda r: r.request.method == "POST") as posted:
            intruder.get_by_role("button", name="Tallenna").click()
        assert posted.value.status == 403
        intruder.wait_for_load_state()
        assert intruder.get_by_role("heading", level=1).inner_text() == "Ei käyttöoikeutta"
        visits.check(intruder, "forbidden-state-change")
        # The same token is good: their own item takes the same form.
        intruder.goto(own_item)
        assert intruder.locator("form.state-form input[name=csrf]").input_value() == token
        intruder.get_by_label("Luettu").check()
        intruder.get_by_role("button", name="Tallenna").click()
        intruder.wait_for_url(f"{own_item}?tallennettu=1")

        # --- the first owner's item is as they left it ------------------------------------------------------
        page.reload()
        assert page.get_by_label("Käsitelty").is_checked()
        assert page.get_by_label(re.compile("^Muistiinpano")).input_value() == NOTE
        history = squeeze(page.locator("table.history").inner_text())
        assert "Ei minun, mutta muutan silti." not in history and "tila: Uusi" not in history
        assert history.count("tila: Käsitelty") == 1
    finally:
        owner.close()
        other.close()
    for name in ("inbox", "statement"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
