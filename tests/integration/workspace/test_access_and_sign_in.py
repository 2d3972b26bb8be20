"""Who may see and change what in the workspace, over HTTP against the served app: every page refuses someone not
signed in (the sign-in page, 401) and another role (403), the strategy office sees everything; a state-changing
form without this session's token changes nothing; forged, expired, tampered and unknown-role sign-in links are
refused with a clear Finnish message."""

from __future__ import annotations

import base64
import json
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from workspace_support import (
    OFFICE,
    SECRET,
    csrf_of,
    form_fields,
    item_id_of,
    item_links,
    main_text,
    make_workspace,
    mark,
    one,
    parse,
    state_on_page,
    text,
)

from feedback_runtime.signin import SALT, SignInLinks

pytestmark = pytest.mark.integration

FORTNIGHT_AND_A_DAY = 15 * 24 * 3600


def _pages(seeded, workspace) -> dict[str, str]:  # noqa: ANN001
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    return {
        "home": "/",
        "inbox": "/saapuneet",
        "item": f"/kohteet/{item_id}",
        "statement": f"/lausunnot/{seeded.ngo.response_id}",
        "overview": "/toimisto",
        "all items": "/toimisto/kohteet",
        "waiting": "/toimisto/odottavat",
    }


def test_every_page_shows_someone_not_signed_in_the_sign_in_page_with_401(workspace, seeded) -> None:
    anonymous = workspace.anonymous()
    for name, path in _pages(seeded, workspace).items():
        answer = anonymous.get(path)
        assert answer.status_code == 401, name
        assert text(one(parse(answer), "//h1")) == "Kirjaudu sisään", name
        assert "ilmoitussähköpostin henkilökohtaisella linkillä" in main_text(answer), name
        assert "Turvallisuus ja kriisinkestävyys" not in answer.text, f"{name} shows nothing of the statement"

    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    token = csrf_of(anonymous.get(workspace.link(seeded.owner)))  # a form token of this (signed-out) session
    posted = anonymous.post(f"/kohteet/{item_id}/tila", data={"csrf": token, "tila": "kasitelty"})
    assert posted.status_code == 401
    assert state_on_page(workspace.signed_in(seeded.owner), item_id) == "Uusi"


def test_an_owner_is_refused_the_office_pages_and_other_roles_items_and_statements_with_403(workspace, seeded) -> None:
    outsider = workspace.signed_in(seeded.outsider)
    pages = _pages(seeded, workspace)
    for name in ("item", "overview", "all items", "waiting"):
        answer = outsider.get(pages[name])
        assert answer.status_code == 403, name
        assert text(one(parse(answer), "//h1")) == "Ei käyttöoikeutta", name
        assert "Turvallisuus ja kriisinkestävyys" not in answer.text, name
    assert outsider.get(f"/lausunnot/{seeded.city.response_id}").status_code == 403, "no item of theirs in it"
    assert outsider.get(f"/lausunnot/{seeded.ngo.response_id}").status_code == 200, "they have items in this one"
    assert outsider.get("/kohteet/999999").status_code == 403, "an id nobody has says no more than another's"
    assert outsider.get("/kohteet/ei-numero").status_code == 403
    assert outsider.get("/lausunnot/ei-ole-olemassa").status_code == 403

    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    token = csrf_of(outsider.get("/saapuneet"))
    posted = outsider.post(f"/kohteet/{item_id}/tila", data={"csrf": token, "tila": "kasitelty", "muistiinpano": "x"})
    assert posted.status_code == 403
    assert state_on_page(workspace.signed_in(seeded.owner), item_id) == "Uusi"


def test_an_owners_inbox_lists_only_their_own_items_whatever_the_address_asks(workspace, seeded) -> None:
    owner = workspace.signed_in(seeded.owner)
    mine = {
        f"/kohteet/{item_id_of(workspace, seeded.owner, e.response_id, '5.2.2')}" for e in (seeded.ngo, seeded.city)
    }
    assert set(item_links(owner.get("/saapuneet"))) == mine
    assert set(item_links(owner.get("/saapuneet", params={"omistaja": seeded.outsider}))) == mine
    assert owner.get("/").headers["location"] == "/saapuneet"


def test_the_office_sees_every_item_and_every_statement(workspace, seeded) -> None:
    office = workspace.signed_in(OFFICE)
    assert office.get("/").headers["location"] == "/toimisto"
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    assert office.get(f"/kohteet/{item_id}").status_code == 200
    for event in (seeded.ngo, seeded.city):
        assert office.get(f"/lausunnot/{event.response_id}").status_code == 200
    every = sum(len(route.owners) for e in (seeded.ngo, seeded.city) for route in e.routes)
    assert main_text(office.get("/toimisto/kohteet")).count(f"{every} kohdetta") == 1
    for name in ("overview", "waiting"):
        assert office.get(_pages(seeded, workspace)[name]).status_code == 200
    missing = office.get("/lausunnot/ei-ole-olemassa")
    assert missing.status_code == 404 and text(one(parse(missing), "//h1")) == "Lausuntoa ei löydy"


@pytest.mark.parametrize("token", ["", "wrong-token", "another-session"])
def test_a_state_change_without_this_sessions_form_token_is_refused_and_changes_nothing(
    workspace, seeded, token: str
) -> None:
    owner = workspace.signed_in(seeded.owner)
    item_id = item_id_of(workspace, seeded.owner, seeded.ngo.response_id, "5.2.2")
    if token == "another-session":
        token = csrf_of(workspace.signed_in(seeded.owner).get("/saapuneet"))
    form = {"tila": "ei_minulle", "muistiinpano": "Ristiinsivustopyyntö"} | ({"csrf": token} if token else {})
    answer = owner.post(f"/kohteet/{item_id}/tila", data=form)
    assert answer.status_code == 403
    assert state_on_page(owner, item_id) == "Uusi"
    assert "Ristiinsivustopyyntö" not in owner.get(f"/kohteet/{item_id}").text
    assert mark(owner, item_id, "kasitelty").status_code == 303, "with the token the same session may"
    assert state_on_page(owner, item_id) == "Käsitelty"


def test_following_a_sign_in_link_shows_one_button_and_signs_nobody_in(workspace, seeded) -> None:
    browser = workspace.anonymous()
    page = browser.get(workspace.link(seeded.owner, "/saapuneet"))
    assert page.status_code == 200
    document = parse(page)
    assert [text(b) for b in document.xpath("//main//button")] == ["Kirjaudu sisään"]
    assert "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö" in main_text(page)
    assert browser.get("/saapuneet").status_code == 401, "opening the link alone did not sign in"

    form = form_fields(one(document, "//main//form[@method='post']"))
    assert browser.post("/kirjaudu", data=form | {"csrf": ""}).status_code == 403, "the button's token is needed"
    assert browser.get("/saapuneet").status_code == 401
    signed_in = browser.post("/kirjaudu", data=form)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/saapuneet")
    assert browser.get("/saapuneet").status_code == 200

    browser.post("/ulos", data={"csrf": csrf_of(browser.get("/saapuneet"))})
    assert browser.get("/saapuneet").status_code == 401, "signed out"


def _forged(owner: str) -> str:
    return SignInLinks("not-the-workspaces-secret").token(owner)


def _expired(owner: str) -> str:
    """A link the workspace itself made, fifteen days ago (links last fourteen)."""

    class FifteenDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - FORTNIGHT_AND_A_DAY

    return URLSafeTimedSerializer(SECRET, salt=SALT, signer=FifteenDaysAgo).dumps({"owner": owner})


def _tampered(owner: str) -> str:
    """A real link of `owner` whose payload is changed to name the strategy office, signature kept."""
    payload, timestamp, signature = SignInLinks(SECRET).token(owner).split(".")
    other = base64.urlsafe_b64encode(json.dumps({"owner": OFFICE}).encode()).decode().rstrip("=")
    assert other != payload
    return f"{other}.{timestamp}.{signature}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_forged, "Kirjautumislinkki ei ole kelvollinen. Tarkista, että kopioit koko linkin."),
        (_expired, "Kirjautumislinkki on vanhentunut."),
        (_tampered, "Kirjautumislinkki ei ole kelvollinen."),
        (lambda owner: SignInLinks(SECRET).token("lakkautettu-rooli"), "Linkin vastuurooli ei ole enää käytössä."),
        (lambda owner: owner, "Kirjautumislinkki ei ole kelvollinen."),
    ],
    ids=["forged", "expired", "tampered", "role-no-longer-in-the-directory", "not-a-link-at-all"],
)
def test_a_bad_sign_in_link_is_refused_with_a_clear_message_and_signs_nobody_in(
    workspace, seeded, make, message: str
) -> None:
    browser = workspace.anonymous()
    token = make(seeded.owner)
    page = browser.get("/kirjaudu", params={"t": token})
    assert page.status_code == 400
    summary = one(parse(page), "//main//div[contains(@class,'error-summary')]")
    assert message in text(summary)
    assert not parse(page).xpath("//main//form[@method='post']"), "no button to press"

    # Posted with this session's form token (taken from a good link's page), the bad link still signs nobody in.
    form_token = csrf_of(browser.get(workspace.link(seeded.outsider)))
    posted = browser.post("/kirjaudu", data={"csrf": form_token, "t": token, "seuraava": "/saapuneet"})
    assert posted.status_code == 400 and message in main_text(posted)
    assert browser.get("/saapuneet").status_code == 401


def test_after_signing_in_a_link_never_leads_to_another_site(workspace, seeded) -> None:
    for elsewhere in ("https://example.org/", "//example.org/", "/\\example.org"):
        browser = workspace.anonymous()
        page = browser.get(workspace.link(seeded.owner, elsewhere))
        answer = browser.post("/kirjaudu", data=form_fields(one(parse(page), "//main//form[@method='post']")))
        assert answer.headers["location"] == "/", elsewhere


def test_the_session_cookie_is_httponly_secure_and_samesite_lax(kafka_bootstrap, database_url, unique) -> None:
    served = make_workspace(
        kafka_bootstrap, database_url, f"workspace-secure-{unique}", workspace_secure_cookies=True
    ).start()
    try:
        page = served.anonymous().get(served.link(OFFICE))
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("tyotila=")
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes and "secure" in attributes
        assert attributes["samesite"].lower() == "samesite=lax"
    finally:
        served.stop()
