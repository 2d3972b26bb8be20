"""Alerts in Finnish, as email (plain text and HTML) and as webhook payloads.

Nothing a respondent writes can become a header (single-line fields are folded, the email library
encodes headers), markup (Jinja2 autoescapes the HTML part) or a clickable link (addresses, URLs and
domain names in respondent text are defanged: "https[:]//esimerkki[.]fi").

With the owners' workspace configured (WORKSPACE_BASE_URL and WORKSPACE_SECRET), every alert carries a personal
sign-in link for its owner role (`feedback_runtime.signin`): an alert's opens the statement, a digest's the inbox.
The link names the owner role and the statement's id, nothing of the respondent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import operator
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from feedback_contracts.text import clean_line
from feedback_runtime.signin import SIGN_IN_PATH, SignInLinks

from .alerts import Alert, AlertParagraph, AlertSection, Digest
from .keys import DeliveryKey

if TYPE_CHECKING:
    from .settings import NotifySettings

SUBJECT_SECTIONS_SHOWN = 2
_CHANGE_LABELS = {"added": "uusi kappale", "changed": "muutettu kappale", "removed": "poistettu kappale"}
_URL_SCHEME = re.compile(r"(?i)\b(https?|ftp|file|mailto|javascript|data)\s*:\s*(//)?")
_SCHEME_END = re.compile(r"(?i)[psetoa]")  # http(s), ftp, file, mailto, javascript, data: case as _URL_SCHEME
_WWW = re.compile(r"(?i)\bwww\.")
_EMAIL = re.compile(r"([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)")
_TLDS = "fi|com|org|net|eu|io|info|biz|se|ru|cn|de|uk|co|app|dev|xyz|online|site|link|ly"
_DOMAIN = re.compile(rf"(?i)\b([a-z0-9-]{{2,63}})\.({_TLDS})\b")
_DOT_TLD = re.compile(rf"(?i)\.(?:{_TLDS})\b")  # what every _DOMAIN match contains, found much faster


def defang(text: str) -> str:
    """Make addresses, URLs and domain names in respondent text readable but never clickable."""
    # Each pattern runs only where what it must contain is present: the address pattern alone, run on
    # every paragraph, cost more than rendering the alert.
    if ":" in text and _may_name_a_scheme(text):
        text = _URL_SCHEME.sub(lambda m: f"{m.group(1)}[:]{'//' if m.group(2) else ''}", text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m.group(1)}[@]{m.group(2).replace('.', '[.]')}", text)
    if "w" in text or "W" in text:  # the only characters _WWW's case-insensitive "w" matches; rare in Finnish
        text = _WWW.sub(lambda m: m.group(0)[:-1] + "[.]", text)
    if _DOT_TLD.search(text):
        text = _DOMAIN.sub(lambda m: f"{m.group(1)}[.]{m.group(2)}", text)
    return text


def _may_name_a_scheme(text: str) -> bool:
    """Whether a ':' in `text` follows (past any whitespace) a letter that ends a scheme `_URL_SCHEME` knows, as
    every one of its matches does. Most paragraphs and reasons have a colon ("mainitsee luvun: ..."), and running
    the pattern along the whole text cost more than the rest of defanging it."""
    colon = text.find(":")
    while colon != -1:
        last = colon - 1
        while last >= 0 and text[last].isspace():  # str.isspace is what the pattern's \s matches
            last -= 1  # (never past the previous colon: each character is looked at once at most)
        if last >= 0 and _SCHEME_END.match(text[last]):
            return True
        colon = text.find(":", colon + 1)
    return False


def message_id(key: DeliveryKey, domain: str) -> str:
    """A stable Message-ID derived from the delivery key: a resend after a crash is recognisably the same alert."""
    return f"<{hashlib.sha256(key.text.encode()).hexdigest()[:40]}@{domain}>"


def paragraph_count(alert: Alert) -> int:
    return sum(len(section.paragraphs) for section in alert.sections)


def by_question(paragraphs: list[SafeParagraph]) -> list[tuple[int, list[SafeParagraph]]]:
    """The paragraphs grouped by question, in question order (each group in its own order): Jinja's
    `groupby("question")` without its filter machinery, which cost a tenth of rendering an alert."""
    ordered = sorted(paragraphs, key=_question)
    return [(question, list(group)) for question, group in itertools.groupby(ordered, key=_question)]


_question = operator.attrgetter("question")


def section_label(section: AlertSection | SafeSection) -> str:
    if section.section_id is None:
        return "Ei tunnistettua strategian lukua"
    return f"{section.section_id} {section.title or ''}".strip()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    link: str | None = None  # the alert's link to the statement (or the digest's to the inbox), when there is one


def validity(days: float) -> str:
    """How long a link is valid, in Finnish: "14 päivää", "1 päivän", "12 tuntia"."""
    if days >= 1 and float(days).is_integer():
        return "1 päivän" if days == 1 else f"{int(days)} päivää"
    hours = max(1, round(days * 24))
    return "1 tunnin" if hours == 1 else f"{hours} tuntia"


class _SignedOncePerSecond(SignInLinks):
    """Sign-in tokens signed once per owner role and second.

    A token holds nothing but the owner role and the second it was signed in (itsdangerous' timestamp), so
    every alert to one owner within a second carries the same token whether it is signed again or not; signing
    (JSON, zlib, HMAC, base64) was a fifth of rendering an alert. Keyed by role and second only: a stream of
    distinct statements gains as much as repeated ones.
    """

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self._second = -1
        self._tokens: dict[str, str] = {}

    def token(self, owner_id: str) -> str:
        second = int(time.time())  # what itsdangerous' TimestampSigner.get_timestamp puts in the token
        if second != self._second:
            self._second, self._tokens = second, {}
        token = self._tokens.get(owner_id)
        if token is None:
            token = self._tokens[owner_id] = super().token(owner_id)
        return token

    def url(self, base_url: str, owner_id: str, next_path: str = "/") -> str:
        """`SignInLinks.url`'s link, written out directly: `urlencode` of its two parameters cost as much as
        the rest of making the link (tested against the parent's)."""
        token, path = quote(self.token(owner_id), safe=""), quote(next_path, safe="")
        return f"{base_url.rstrip('/')}{SIGN_IN_PATH}?t={token}&seuraava={path}"


class WorkspaceLinks:
    """Personal sign-in links to the owners' workspace, signed with the secret the workspace checks them with."""

    def __init__(self, base_url: str, secret: str, link_days: float = 14) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = _SignedOncePerSecond(secret)
        self.validity = validity(link_days)

    def statement(self, owner_id: str, response_id: str) -> str:
        """Signs `owner_id` in and opens the statement."""
        return self.signer.url(self.base_url, owner_id, f"/lausunnot/{quote(response_id, safe='')}")

    def inbox(self, owner_id: str) -> str:
        """Signs `owner_id` in and opens their inbox."""
        return self.signer.url(self.base_url, owner_id, "/saapuneet")


def header_safe(text: str) -> str:
    """One line that no mail reader decodes into something else: "=?" would start an RFC 2047 encoded word,
    which some email libraries decode, line breaks and all, into new headers."""
    return clean_line(text).replace("=?", "= ?")


@dataclass(frozen=True, slots=True)
class SafeParagraph:
    """An `AlertParagraph` as the templates show it: its text and reasons defanged."""

    question: int
    question_text: str | None
    text: str
    reasons: list[str]
    change: str | None


@dataclass(frozen=True, slots=True)
class SafeSection:
    """An `AlertSection` whose paragraphs are `SafeParagraph`s."""

    section_id: str | None
    title: str | None
    paragraphs: list[SafeParagraph]


def _safe(alert: Alert) -> Alert:
    """The alert with everything of the respondent's defanged. Its sections and paragraphs are plain dataclasses
    with the same fields (what the templates read): two pydantic copies per paragraph cost as much as
    defanging it."""

    def paragraph(p: AlertParagraph) -> SafeParagraph:
        return SafeParagraph(p.question, p.question_text, defang(p.text), [defang(r) for r in p.reasons], p.change)

    correction = alert.correction
    if correction is not None:
        # The corrector's words and role are no respondent's, but they reach the owner the same way: no links.
        correction = correction.model_copy(
            update={
                "by_name": defang(header_safe(correction.by_name)) if correction.by_name else None,
                "reason": defang(correction.reason) if correction.reason else None,
            }
        )
    return alert.model_copy(
        update={
            "correction": correction,
            "organization": defang(header_safe(alert.organization)),
            "title": defang(header_safe(alert.title)) if alert.title else None,
            "sections": [
                SafeSection(s.section_id, s.title, [paragraph(p) for p in s.paragraphs]) for s in alert.sections
            ],
        }
    )


class Renderer:
    """Renders alerts and digests, cutting very long ones at `max_chars` with a note.

    Links: with `workspace`, personal sign-in links to the workspace; else, with `statement_base_url`,
    <base>/<response_id>; else none.
    """

    def __init__(
        self, max_chars: int = 100_000, statement_base_url: str | None = None, workspace: WorkspaceLinks | None = None
    ) -> None:
        self.max_chars = max_chars
        self.base_url = statement_base_url.rstrip("/") if statement_base_url else None
        self.workspace = workspace
        self.env = Environment(
            loader=PackageLoader("feedback_notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=True,
            auto_reload=False,  # the templates ship with the package: no stat() of each file per alert
        )
        self.env.globals.update(
            section_label=section_label,
            by_question=by_question,
            change_label=_CHANGE_LABELS.get,
            paragraph_count=paragraph_count,
            personal=workspace is not None,
            link_validity=workspace.validity if workspace else None,
        )
        self._alert_text = _flat_globals(self.env.get_template("alert.txt.j2"))
        self._alert_html = _flat_globals(self.env.get_template("alert.html.j2"))

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> Renderer:
        """As notify's settings say: sign-in links to the workspace when its address and secret are set."""
        workspace = None
        if settings.workspace_configured():
            workspace = WorkspaceLinks(
                settings.workspace_base_url,  # type: ignore[arg-type]
                settings.workspace_secret.get_secret_value(),  # type: ignore[union-attr]
                settings.workspace_link_days,
            )
        return cls(settings.notify_max_alert_chars, settings.statement_base_url, workspace)

    def link(self, response_id: str, owner_id: str) -> str | None:
        """Where the whole statement opens for this owner."""
        if self.workspace is not None:
            return self.workspace.statement(owner_id, response_id)
        return f"{self.base_url}/{quote(response_id, safe='')}" if self.base_url else None

    def alert(self, alert: Alert) -> Rendered:
        safe = _safe(alert)
        subject = self.subject(safe)
        link = self.link(alert.response_id, alert.owner_id)
        context = dict(alert=safe, omitted=0, link=link, subject=subject)
        text = self._alert_text.render(**context)
        if len(text) > self.max_chars:  # rare: cut paragraphs from the end until it fits

            def text_of(sections: list[SafeSection]) -> str:
                return self._alert_text.render(**{**context, "alert": safe.model_copy(update={"sections": sections})})

            sections, omitted = self._fit(safe.sections, text_of)
            context = dict(context, alert=safe.model_copy(update={"sections": sections}), omitted=omitted)
            text = self._alert_text.render(**context)
        return Rendered(subject, text, self._alert_html.render(**context), link)

    def _fit(self, sections: list[SafeSection], render) -> tuple[list[SafeSection], int]:  # noqa: ANN001
        """Drop paragraphs from the end until the text fits; returns the kept sections and how many were left out."""
        total = sum(len(s.paragraphs) for s in sections)
        kept = [dataclasses.replace(s, paragraphs=list(s.paragraphs)) for s in sections]
        omitted = 0
        while len(render(kept)) > self.max_chars and any(s.paragraphs for s in kept):
            last = next(s for s in reversed(kept) if s.paragraphs)
            last.paragraphs.pop()
            omitted += 1
            kept = [s for s in kept if s.paragraphs] or kept[:1]
        return kept, min(omitted, total)

    def subject(self, alert: Alert) -> str:
        """E.g. 'Lausunto: TyöHäme (työllisyysalue) – 5.3.1.6 Työllisyysalueet kumppanina'; a correction's
        'Sinulle siirretty lausunnon kohta: TyöHäme (työllisyysalue) – 5.2.2 Turvallisuus ja kriisinkestävyys'."""
        who = f"{alert.organization} ({alert.respondent_type.label_fi})"
        if alert.kind == "withdrawn":
            return header_safe(f"Päivitetty lausunto: {who} – ei enää sinulle ohjattuja kohtia")
        labels = [section_label(s) for s in alert.sections]
        shown = ", ".join(labels[:SUBJECT_SECTIONS_SHOWN])
        if len(labels) > SUBJECT_SECTIONS_SHOWN:
            shown += f" ja {len(labels) - SUBJECT_SECTIONS_SHOWN} muuta"
        prefix = "Päivitetty lausunto" if alert.kind == "update" else "Lausunto"
        if alert.kind == "moved":
            one = paragraph_count(alert) == 1
            prefix = "Sinulle siirretty lausunnon kohta" if one else "Sinulle siirrettyjä lausunnon kohtia"
        return header_safe(f"{prefix}: {who} – {shown}")

    def digest(self, digest: Digest) -> Rendered:
        items = [_safe(item) for item in digest.items]
        subject = header_safe(f"Lausuntokoonti: {len(items)} lausuntoa – {digest.owner_name}")
        withdrawn = [item for item in items if item.kind == "withdrawn"]
        grouped = _group_by_section(
            [item for item in items if item.kind != "withdrawn"], lambda rid: self.link(rid, digest.owner_id)
        )
        inbox = self.workspace.inbox(digest.owner_id) if self.workspace else None
        omitted = 0
        context = dict(digest=digest, sections=grouped, withdrawn=withdrawn, omitted=0, subject=subject, inbox=inbox)
        text = self.env.get_template("digest.txt.j2").render(**context)
        while len(text) > self.max_chars and any(st["paragraphs"] for sec in grouped for st in sec["statements"]):
            for section in reversed(grouped):
                statements = [st for st in section["statements"] if st["paragraphs"]]
                if statements:
                    statements[-1]["paragraphs"].pop()
                    omitted += 1
                    break
            context["omitted"] = omitted
            text = self.env.get_template("digest.txt.j2").render(**context)
        return Rendered(subject, text, self.env.get_template("digest.html.j2").render(**context), inbox)


def _flat_globals(template: Template) -> Template:
    """The template with its globals in a plain dict. Jinja keeps them as a ChainMap over the environment's and
    copies them into every render's context, which for a ChainMap cost 15 µs of each render; the environment's
    globals are all set before the templates are loaded, so a dict of them holds the same."""
    template.globals = dict(template.globals)
    return template


def _group_by_section(items: list[Alert], link) -> list[dict]:  # noqa: ANN001
    """A digest reads by section, then by statement."""
    sections: dict[str | None, dict] = {}
    for item in items:
        for section in item.sections:
            entry = sections.setdefault(
                section.section_id, {"label": section_label(section), "statements": [], "id": section.section_id}
            )
            entry["statements"].append(
                {"alert": item, "paragraphs": list(section.paragraphs), "link": link(item.response_id)}
            )

    def order(section_id: str | None) -> list[int]:
        return [int(p) for p in section_id.split(".")] if section_id else [999]

    return [sections[k] for k in sorted(sections, key=order)]


def webhook_payload(rendered: Rendered, payload: dict, shape: str) -> dict:
    """The JSON body for the owner's webhook: the product's own shape, or Slack's or Teams' incoming webhooks.
    Each carries the alert's link (in its text, and where the shape has a place for it, as a button or field)."""
    if shape == "slack":
        # Slack reads <...> as links and mentions: escape as its API asks.
        text = (
            f"*{rendered.subject}*\n\n{rendered.text}".replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        )
        return {"text": text}
    if shape == "teams":
        card = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": rendered.subject,
            "title": rendered.subject,
            "text": rendered.text.replace("\n", "  \n"),
        }
        if rendered.link:
            card["potentialAction"] = [
                {"@type": "OpenUri", "name": _LINK_BUTTON, "targets": [{"os": "default", "uri": rendered.link}]}
            ]
        return card
    body = {"type": "feedback.alert", "kind": payload.get("kind"), "subject": rendered.subject, "text": rendered.text,
            "alert": payload}  # fmt: skip
    if payload.get("correction"):
        body["correction"] = payload["correction"]  # a "moved" alert's: who moved the paragraphs to the owner, and why
    if rendered.link:
        body["link"] = rendered.link
    return body


_LINK_BUTTON = "Avaa lausuntopalvelussa"
