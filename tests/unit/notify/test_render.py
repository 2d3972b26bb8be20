"""What an owner reads in an alert about the workspace: a personal sign-in link for their role that opens the
statement (a digest's opens the inbox), how long it is valid, and nothing else clickable."""

from __future__ import annotations

import html.parser
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer

from feedback_contracts.respondents import RespondentType
from feedback_notify.alerts import Alert, AlertParagraph, AlertSection, Digest
from feedback_notify.render import Renderer, WorkspaceLinks, validity, webhook_payload
from feedback_notify.settings import NotifySettings
from feedback_runtime.signin import SALT, ExpiredLink, InvalidLink, SignInLinks

SECRET = "test-workspace-secret"
WORKSPACE = "https://tyotila.example.org"
LINK = re.compile(r"https?://[^\s\"'<>]+/kirjaudu\?t=[^\s\"'<>]+")
DAY = 24 * 3600


def alert(
    owner_id: str = "turvallisuus",
    response_id: str = "tyohame-1",
    text: str = "Luvussa 5.2.2 varautuminen on tärkeää.",
    organization: str = "TyöHäme",
    kind: str = "new",
) -> Alert:
    return Alert(
        kind=kind,  # type: ignore[arg-type]
        owner_id=owner_id,
        owner_name="Turvallisuuden vastuuhenkilö",
        response_id=response_id,
        revision=1,
        organization=organization,
        title="johtaja",
        respondent_type=RespondentType.EMPLOYMENT_AREA,
        received_at=datetime(2026, 3, 20, 10, 0, tzinfo=UTC),
        sections=[
            AlertSection(
                section_id="5.2.2",
                title="Turvallisuus ja kriisinkestävyys",
                paragraphs=[AlertParagraph(question=71, text=text, reasons=["mainitsee luvun: ”Luvussa 5.2.2”"])],
            )
        ]
        if kind != "withdrawn"
        else [],
    )


def renderer(days: float = 14, statement_base_url: str | None = None, max_chars: int = 100_000) -> Renderer:
    return Renderer(max_chars, statement_base_url, WorkspaceLinks(WORKSPACE, SECRET, days))


def links_in(text: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in LINK.findall(text)]


def opened_by(link: str) -> tuple[str, str]:
    """Who the link signs in (as the workspace checks it) and which workspace page it opens."""
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == WORKSPACE and parts.path == "/kirjaudu"
    query = parse_qs(parts.query)
    return SignInLinks(SECRET).owner(query["t"][0], 14 * DAY), unquote(query["seuraava"][0])


class _Hrefs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def hrefs(document: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(document)
    return parser.hrefs


def test_an_alert_carries_a_personal_link_that_signs_its_owner_in_and_opens_the_statement() -> None:
    rendered = renderer().alert(alert())
    (link,) = links_in(rendered.text)
    assert opened_by(link) == ("turvallisuus", "/lausunnot/tyohame-1")
    assert rendered.link == link
    assert "Linkki on henkilökohtainen" in rendered.text
    assert "kirjaudut sisään vastuuroolilla Turvallisuuden vastuuhenkilö, ja se avaa tämän lausunnon" in rendered.text
    assert "Linkki on voimassa 14 päivää. Älä välitä sitä muille." in rendered.text
    # The HTML part links to the same page for the same owner, and says the same.
    assert {opened_by(h) for h in hrefs(rendered.html)} == {("turvallisuus", "/lausunnot/tyohame-1")}
    assert "Avaa lausunto lausuntopalvelun työtilassa" in rendered.html
    assert "Linkki on voimassa 14 päivää." in rendered.html


def test_each_owner_gets_a_link_of_their_own_role() -> None:
    render = renderer()
    mine = render.alert(alert(owner_id="turvallisuus")).link
    theirs = render.alert(alert(owner_id="asiakasmaksut")).link
    assert opened_by(mine)[0] == "turvallisuus" and opened_by(theirs)[0] == "asiakasmaksut"  # type: ignore[arg-type]


def test_a_link_signed_again_within_a_second_is_the_same_and_the_next_second_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Links are signed once per owner and second (what a token holds): each is the token signing would give."""
    now = [1_800_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])
    links = WorkspaceLinks(WORKSPACE, SECRET)

    def token(link: str) -> str:
        return parse_qs(urlsplit(link).query)["t"][0]

    first = links.statement("turvallisuus", "tyohame-1")
    assert token(first) == SignInLinks(SECRET).token("turvallisuus")
    assert token(links.statement("turvallisuus", "toinen-2")) == token(first)
    assert token(links.statement("hyte", "tyohame-1")) == SignInLinks(SECRET).token("hyte") != token(first)
    now[0] += 1
    later = links.statement("turvallisuus", "tyohame-1")
    assert token(later) == SignInLinks(SECRET).token("turvallisuus") != token(first)
    assert opened_by(later) == ("turvallisuus", "/lausunnot/tyohame-1")


@pytest.mark.parametrize("owner", ["turvallisuus", "ä ö/&=?#%+"])
@pytest.mark.parametrize("response_id", ["tyohame-1", "a/b c%2F?&ö"])
@pytest.mark.parametrize("base", [WORKSPACE, WORKSPACE + "/", "https://esimerkki.fi/tyotila"])
def test_a_link_is_written_as_sign_in_links_writes_it(
    monkeypatch: pytest.MonkeyPatch, owner: str, response_id: str, base: str
) -> None:
    """The link is written out without urlencode: byte for byte SignInLinks.url's."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)
    links = WorkspaceLinks(base, SECRET)
    assert links.statement(owner, response_id) == SignInLinks(SECRET).url(
        base, owner, f"/lausunnot/{quote(response_id, safe='')}"
    )
    assert links.inbox(owner) == SignInLinks(SECRET).url(base, owner, "/saapuneet")


def test_the_link_is_refused_when_forged_or_too_old() -> None:
    link = renderer().alert(alert()).link
    token = parse_qs(urlsplit(link).query)["t"][0]  # type: ignore[arg-type]
    with pytest.raises(InvalidLink):
        SignInLinks("another-secret").owner(token, 14 * DAY)
    with pytest.raises(InvalidLink):
        SignInLinks(SECRET).owner(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 14 * DAY)
    with pytest.raises(ExpiredLink):
        SignInLinks(SECRET).owner(token, -1)


def test_the_link_carries_only_the_owner_role_and_the_statement() -> None:
    link = renderer().alert(alert()).link
    token = parse_qs(urlsplit(link).query)["t"][0]  # type: ignore[arg-type]
    payload = URLSafeTimedSerializer(SECRET, salt=SALT).loads(token)
    assert payload == {"owner": "turvallisuus"}
    assert "TyöHäme" not in unquote(link) and "johtaja" not in unquote(link)  # type: ignore[arg-type]


def test_how_long_the_link_is_valid_follows_the_setting() -> None:
    assert "Linkki on voimassa 1 päivän." in renderer(days=1).alert(alert()).text
    assert "Linkki on voimassa 12 tuntia." in renderer(days=0.5).alert(alert()).text
    assert validity(30) == "30 päivää" and validity(1 / 24) == "1 tunnin"


def test_a_digest_links_to_the_owners_inbox_and_each_statement() -> None:
    digest = Digest(
        owner_id="turvallisuus",
        owner_name="Turvallisuuden vastuuhenkilö",
        items=[alert(response_id="tyohame-1"), alert(response_id="kunta-2", organization="Kunta")],
    )
    rendered = renderer().digest(digest)
    opened = [opened_by(link) for link in links_in(rendered.text)]
    assert opened[0] == ("turvallisuus", "/saapuneet")
    assert set(opened[1:]) == {("turvallisuus", "/lausunnot/tyohame-1"), ("turvallisuus", "/lausunnot/kunta-2")}
    assert rendered.link is not None and opened_by(rendered.link) == ("turvallisuus", "/saapuneet")
    assert "Linkit ovat henkilökohtaisia" in rendered.text and "Linkit ovat voimassa 14 päivää." in rendered.text
    assert {opened_by(h) for h in hrefs(rendered.html)} == set(opened)


def test_a_withdrawal_links_to_the_statement_too() -> None:
    rendered = renderer().alert(alert(kind="withdrawn"))
    assert [opened_by(link) for link in links_in(rendered.text)] == [("turvallisuus", "/lausunnot/tyohame-1")]


def test_every_webhook_shape_carries_the_link() -> None:
    rendered = renderer().alert(alert())
    payload = alert().model_dump(mode="json")
    product = webhook_payload(rendered, payload, "product")
    assert product["link"] == rendered.link and rendered.link in product["text"]
    teams = webhook_payload(rendered, payload, "teams")
    (action,) = teams["potentialAction"]
    assert action["@type"] == "OpenUri" and action["targets"][0]["uri"] == rendered.link
    slack = webhook_payload(rendered, payload, "slack")
    assert rendered.link.replace("&", "&amp;") in slack["text"]  # type: ignore[union-attr]


def test_a_cut_alert_points_to_the_link_at_its_start() -> None:
    long = "\n\n".join(f"Luvussa 5.2.2 kohta {n}: " + "varautuminen " * 30 for n in range(40))
    rendered = renderer(max_chars=5_000).alert(alert(text=long))
    assert "Viestistä jätettiin pois" in rendered.text
    assert "Koko lausunto avautuu viestin alussa olevasta linkistä." in rendered.text
    assert rendered.text.index(rendered.link) < rendered.text.index("Viestistä jätettiin pois")  # type: ignore[arg-type]


def test_the_workspace_takes_the_place_of_the_statement_base_url() -> None:
    rendered = renderer(statement_base_url="https://lausunnot.example.org/r").alert(alert())
    assert "lausunnot.example.org/r" not in rendered.text + rendered.html
    assert opened_by(rendered.link) == ("turvallisuus", "/lausunnot/tyohame-1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        ({"workspace_base_url": WORKSPACE, "workspace_secret": SECRET}, "sign-in"),
        ({"workspace_base_url": WORKSPACE}, "statement"),  # no secret: no link can be signed
        ({"workspace_secret": SECRET}, "statement"),
        ({}, "statement"),
    ],
)
def test_notify_links_to_the_workspace_only_when_both_its_address_and_secret_are_set(
    workspace: dict, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("WORKSPACE_BASE_URL", "WORKSPACE_SECRET", "WORKSPACE_LINK_DAYS", "STATEMENT_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    settings = NotifySettings(statement_base_url="https://lausunnot.example.org/r", **workspace)
    rendered = Renderer.from_settings(settings).alert(alert())
    if expected == "sign-in":
        assert opened_by(rendered.link) == ("turvallisuus", "/lausunnot/tyohame-1")  # type: ignore[arg-type]
    else:
        assert rendered.link == "https://lausunnot.example.org/r/tyohame-1"
        assert "Koko lausunto: https://lausunnot.example.org/r/tyohame-1" in rendered.text
        assert "henkilökohtainen" not in rendered.text


def test_without_any_link_setting_an_alert_has_no_link() -> None:
    rendered = Renderer().alert(alert())
    assert rendered.link is None and not LINK.findall(rendered.text) and hrefs(rendered.html) == []


HOSTILE = [
    "<a href='http://evil.example.org/kirjaudu?t=x'>Kirjaudu</a> [klikkaa](https://evil.example.org)",
    "https://tyotila.example.org/kirjaudu?t=vaarennetty&seuraava=/ www.huijaus.fi maksu@huijaus.fi",
    "\r\nSubject: huijaus\r\n<script>alert(1)</script>",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_respondent_text_adds_no_link_beside_the_sign_in_link(hostile: str) -> None:
    rendered = renderer().alert(alert(text=f"Luvussa 5.2.2 {hostile}", organization=hostile))
    ours = ("turvallisuus", "/lausunnot/tyohame-1")
    assert [opened_by(link) for link in links_in(rendered.text)] == [ours]
    assert [opened_by(href) for href in hrefs(rendered.html)] == [ours, ours]  # at the start and at the end
    assert "<script" not in rendered.html
    for text in (rendered.text, rendered.html):
        assert "evil.example.org" not in text and "www.huijaus" not in text and "maksu@huijaus.fi" not in text
