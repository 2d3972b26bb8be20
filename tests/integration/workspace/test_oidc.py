"""Signing in with the organisation's credentials (OpenID Connect) against a real provider started here
(oidc-provider-mock): the person's verified address decides their roles, anyone else is refused, and a sign-in
this browser did not start is refused too."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from oidc_provider_mock import User, run_server_in_thread
from prometheus_client import CollectorRegistry

from feedback_cli.devstack import free_port
from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_workspace.app import create_app
from feedback_workspace.settings import WorkspaceSettings

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
OWNERS_FILE = REPO_ROOT / "config" / "owners.example.yaml"
CHROMIUM = Path("/usr/bin/chromium")
SAFETY = "Turvallisuuden ja kriisinkestävyyden vastuuhenkilö"
HEALTH = "Hyvinvoinnin ja terveyden edistämisen vastuuhenkilö"
SHARED_ADDRESS = "valmiuspaallikko@example.org"

# The people the identity provider knows (their `sub`, and the claims it vouches for).
PEOPLE = [
    # turvallisuus@example.org in the owners directory; the provider spells it with capitals.
    User(sub="turvallisuus-henkilo", claims={"email": "Turvallisuus@Example.org", "email_verified": True}),
    # Listed for two roles (in this test's directory): acts as both.
    User(sub="valmiuspaallikko", claims={"email": SHARED_ADDRESS, "email_verified": True}),
    # A provider that does not send `email_verified` verifies addresses itself.
    User(sub="toimisto-henkilo", claims={"email": "strategiatoimisto@example.org"}),
    User(sub="ulkopuolinen", claims={"email": "ulkopuolinen@example.org", "email_verified": True}),
    User(sub="vahvistamaton", claims={"email": "turvallisuus@example.org", "email_verified": False}),
    User(sub="ilman-osoitetta", claims={"name": "Nimetön"}),
]


def directory_with_a_shared_address() -> OwnersDirectory:
    """The example directory, with one address listed for two roles (turvallisuus and hyte)."""
    directory = load_owners(OWNERS_FILE)
    owners = tuple(
        owner.model_copy(update={"email": (*owner.email, SHARED_ADDRESS)})
        if owner.id in {"turvallisuus", "hyte"}
        else owner
        for owner in directory.owners
    )
    return directory.model_copy(update={"owners": owners})


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID Connect provider on a free port; it insists on a nonce, as Authlib sends one."""
    with run_server_in_thread(port=0, require_nonce=True, user_claims=PEOPLE) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def workspace(provider: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The workspace under uvicorn on a free port, configured with the provider as its issuer."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = WorkspaceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('oidc')}/workspace.sqlite3",
        workspace_secret="oidc-test-secret",
        workspace_base_url=url,
        workspace_secure_cookies=False,  # plain http in the test
        owners_file=OWNERS_FILE,
        oidc_issuer=provider,
        oidc_client_id="tyotila",
        oidc_client_secret="tyotilan-salaisuus",
    )
    app = create_app(
        settings, configure_logs=False, registry=CollectorRegistry(), owners=directory_with_a_shared_address()
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="workspace-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the workspace did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """One person's browser: its own cookies, following redirects like a browser does."""
    with httpx.Client(follow_redirects=True, timeout=15) as client:
        yield client


def at_provider(browser: httpx.Client, workspace: str, start: str = "/kirjaudu/oidc") -> httpx.Response:
    """Start signing in with organisation credentials: the workspace sends the browser to the provider's form."""
    form = browser.get(workspace + start)
    assert form.status_code == 200
    assert "Authorize Client" in form.text, "the provider's authorization form"
    return form


def choose(browser: httpx.Client, form: httpx.Response, sub: str) -> httpx.Response:
    """Submit the provider's form as this person; the browser follows the provider back to the workspace."""
    return browser.post(form.url, data={"sub": sub})


def sign_in_as(browser: httpx.Client, workspace: str, sub: str, start: str = "/kirjaudu/oidc") -> httpx.Response:
    return choose(browser, at_provider(browser, workspace, start), sub)


def sign_ins(workspace: str) -> float:
    metrics = httpx.get(f"{workspace}/metrics").text
    found = re.search(r'^feedback_workspace_sign_ins_total\{method="oidc"\} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def signed_out(browser: httpx.Client, workspace: str) -> bool:
    inbox = browser.get(f"{workspace}/saapuneet")
    return inbox.status_code == 401 and "Kirjaudu sisään" in inbox.text


def test_the_sign_in_page_offers_organisation_credentials_and_its_button_leads_to_the_provider(
    browser: httpx.Client, workspace: str, provider: str
) -> None:
    sign_in_page = browser.get(f"{workspace}/kirjaudu")
    assert "Kirjaudu organisaation tunnuksilla" in sign_in_page.text
    assert 'action="/kirjaudu/oidc"' in sign_in_page.text

    first_hop = browser.get(f"{workspace}/kirjaudu/oidc", params={"seuraava": "/"}, follow_redirects=False)
    assert first_hop.status_code == 302
    authorize = urlsplit(first_hop.headers["location"])
    query = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}" == provider
    assert query["client_id"] == ["tyotila"]
    assert query["redirect_uri"] == [f"{workspace}/kirjaudu/oidc/paluu"]
    assert set(query["scope"][0].split()) == {"openid", "email"}
    assert query["state"][0] and query["nonce"][0] and query["code_challenge_method"] == ["S256"]


def test_an_owner_signs_in_with_organisation_credentials_and_sees_their_own_inbox(
    browser: httpx.Client, workspace: str
) -> None:
    before = sign_ins(workspace)
    inbox = sign_in_as(browser, workspace, "turvallisuus-henkilo")

    assert inbox.status_code == 200
    assert urlsplit(str(inbox.url)).path == "/saapuneet"
    assert "<h1>Saapuneet</h1>" in inbox.text
    assert f"Kirjautuneena: {SAFETY}" in inbox.text
    assert "Yleiskuva" not in inbox.text, "an owner is not the strategy office"
    assert sign_ins(workspace) == before + 1
    # The session lasts: the next page is theirs without signing in again.
    assert browser.get(f"{workspace}/saapuneet").status_code == 200


def test_a_person_who_opened_a_page_signed_out_returns_to_it_after_signing_in(
    browser: httpx.Client, workspace: str
) -> None:
    asked = browser.get(f"{workspace}/saapuneet", params={"tila": "uusi"})
    assert asked.status_code == 401
    landed = sign_in_as(
        browser, workspace, "turvallisuus-henkilo", "/kirjaudu/oidc?" + urlencode({"seuraava": "/saapuneet?tila=uusi"})
    )
    assert landed.status_code == 200
    assert (urlsplit(str(landed.url)).path, urlsplit(str(landed.url)).query) == ("/saapuneet", "tila=uusi")


def test_a_next_address_on_another_site_is_ignored(browser: httpx.Client, workspace: str) -> None:
    landed = sign_in_as(browser, workspace, "turvallisuus-henkilo", "/kirjaudu/oidc?seuraava=//evil.example/")
    assert str(landed.url).startswith(workspace)
    assert urlsplit(str(landed.url)).path == "/saapuneet"


def test_a_person_whose_address_is_listed_for_two_roles_acts_as_both(browser: httpx.Client, workspace: str) -> None:
    inbox = sign_in_as(browser, workspace, "valmiuspaallikko")
    assert inbox.status_code == 200
    assert f"Kirjautuneena: {HEALTH}, {SAFETY}" in inbox.text


def test_the_strategy_office_signs_in_when_the_provider_does_not_say_whether_the_address_is_verified(
    browser: httpx.Client, workspace: str
) -> None:
    overview = sign_in_as(browser, workspace, "toimisto-henkilo")
    assert overview.status_code == 200
    assert urlsplit(str(overview.url)).path == "/toimisto"
    assert "Kirjautuneena: Strategiatoimisto" in overview.text


def test_an_address_not_in_the_owners_directory_is_refused_politely_and_nobody_is_signed_in(
    browser: httpx.Client, workspace: str
) -> None:
    sign_in_as(browser, workspace, "turvallisuus-henkilo")  # someone signed in before, in this browser
    before = sign_ins(workspace)

    refused = sign_in_as(browser, workspace, "ulkopuolinen")

    assert refused.status_code == 403
    assert urlsplit(str(refused.url)).path == "/kirjaudu/oidc/paluu"
    assert "Kirjautuminen ei onnistunut" in refused.text
    assert (
        "Sähköpostiosoitetta ulkopuolinen@example.org ei ole lausuntojen vastuuhenkilöiden luettelossa" in refused.text
    )
    assert "pyydä strategiatoimistoa lisäämään osoitteesi" in refused.text
    assert "Kirjautuneena" not in refused.text
    assert signed_out(browser, workspace)
    assert sign_ins(workspace) == before


def test_an_owner_address_the_provider_has_not_verified_is_refused(browser: httpx.Client, workspace: str) -> None:
    refused = sign_in_as(browser, workspace, "vahvistamaton")
    assert refused.status_code == 403
    assert "Sähköpostiosoitettasi ei ole vahvistettu" in refused.text
    assert signed_out(browser, workspace)


def test_a_person_without_an_address_is_refused(browser: httpx.Client, workspace: str) -> None:
    refused = sign_in_as(browser, workspace, "ilman-osoitetta")
    assert refused.status_code == 403
    assert "Kirjautumispalvelu ei kertonut sähköpostiosoitettasi" in refused.text
    assert signed_out(browser, workspace)


def test_a_tampered_state_is_refused_and_the_code_signs_nobody_in(browser: httpx.Client, workspace: str) -> None:
    form = at_provider(browser, workspace)
    back = browser.post(form.url, data={"sub": "turvallisuus-henkilo"}, follow_redirects=False)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    query = parse_qs(callback.query)
    assert query["code"][0] and query["state"][0]
    tampered = {"code": query["code"][0], "state": query["state"][0][:-2] + "xx"}

    refused = browser.get(urlunsplit(callback._replace(query=urlencode(tampered))))

    assert refused.status_code == 400
    assert "Aloita kirjautuminen uudelleen" in refused.text
    assert signed_out(browser, workspace)


def test_a_callback_from_another_browser_is_refused(workspace: str) -> None:
    """Someone who obtained a returning link (state and code) cannot use it in their own browser."""
    with (
        httpx.Client(follow_redirects=True, timeout=15) as victim,
        httpx.Client(follow_redirects=True, timeout=15) as other,
    ):
        form = at_provider(victim, workspace)
        back = victim.post(form.url, data={"sub": "turvallisuus-henkilo"}, follow_redirects=False)
        refused = other.get(back.headers["location"])
        assert refused.status_code == 400
        assert signed_out(other, workspace)


def test_a_forged_return_link_neither_signs_in_nor_signs_out_the_owner_who_follows_it(
    browser: httpx.Client, workspace: str
) -> None:
    sign_in_as(browser, workspace, "turvallisuus-henkilo")
    forged = browser.get(f"{workspace}/kirjaudu/oidc/paluu", params={"code": "keksitty", "state": "keksitty"})
    assert forged.status_code == 400
    inbox = browser.get(f"{workspace}/saapuneet")
    assert inbox.status_code == 200
    assert f"Kirjautuneena: {SAFETY}" in inbox.text


def test_cancelling_at_the_provider_signs_nobody_in(browser: httpx.Client, workspace: str) -> None:
    form = at_provider(browser, workspace)
    cancelled = browser.post(form.url, data={"action": "deny"})
    assert cancelled.status_code == 400
    assert "Kirjautuminen peruttiin" in cancelled.text
    assert signed_out(browser, workspace)


def offline_workspace(**oidc: str) -> TestClient:
    """The workspace's pages without starting its consumer or store (the sign-in routes need neither)."""
    settings = WorkspaceSettings(
        workspace_secret="oidc-test-secret", workspace_secure_cookies=False, owners_file=OWNERS_FILE, **oidc
    )
    return TestClient(create_app(settings, configure_logs=False, registry=CollectorRegistry()))


def test_without_an_issuer_only_sign_in_links_are_offered() -> None:
    client = offline_workspace()
    assert "organisaation tunnuksilla" not in client.get("/kirjaudu").text
    assert client.get("/kirjaudu/oidc", follow_redirects=False).status_code == 404
    assert client.get("/kirjaudu/oidc/paluu", params={"code": "x", "state": "y"}).status_code == 404


def test_an_issuer_without_a_client_id_stops_the_workspace_at_start() -> None:
    with pytest.raises(ValueError, match="OIDC_CLIENT_ID"):
        offline_workspace(oidc_issuer="https://tunnistus.example.org")


def test_an_unreachable_provider_gets_a_polite_page_not_an_error() -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    client = offline_workspace(oidc_issuer=nobody_listens, oidc_client_id="tyotila")
    answer = client.get("/kirjaudu/oidc", follow_redirects=False)
    assert answer.status_code == 502
    assert "Kirjautumispalveluun ei juuri nyt saada yhteyttä" in answer.text


def test_in_a_real_browser_an_owner_clicks_through_the_provider_to_their_inbox(workspace: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            tab = chromium.new_page()
            tab.goto(f"{workspace}/saapuneet")
            tab.get_by_role("button", name="Kirjaudu organisaation tunnuksilla").click()
            tab.get_by_role("button", name="turvallisuus-henkilo").click()
            tab.wait_for_url(f"{workspace}/saapuneet")
            assert tab.get_by_role("heading", level=1).inner_text() == "Saapuneet"
            assert f"Kirjautuneena: {SAFETY}" in tab.inner_text("header")
        finally:
            chromium.close()
