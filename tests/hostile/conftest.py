"""Shared pieces of the hostile-input tests: the whole stack under `feedback dev up`, a run of hostile and
contact-bearing statements through it, and readers for what came out (mail, logs, metrics, topics)."""

from __future__ import annotations

import base64
import html.parser
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from feedback_cli.devstack import free_port
from feedback_contracts.events import CLASSIFIED_TOPIC, CORRECTIONS_TOPIC, REMINDERS_TOPIC, RESPONSES_TOPIC

FORM_TOKEN = "hostile-form-token"
ADMIN_TOKEN = "hostile-admin-token"
REPO_ROOT = Path(__file__).resolve().parents[2]
OWNERS_FILE = REPO_ROOT / "config" / "owners.example.yaml"

# The header names notify writes, plus what MIME adds. Anything else in a header block was injected.
ALERT_HEADERS = {
    "from", "to", "subject", "message-id", "date", "auto-submitted", "content-language",
    "mime-version", "content-type", "content-transfer-encoding",
}  # fmt: skip
# The tags of notify's own HTML templates. Any other tag in an HTML part came from a respondent.
TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "body", "p", "strong", "em", "small", "table", "tr", "th", "td",
    "h2", "h3", "blockquote", "br", "a",
}  # fmt: skip
LINK_MARKERS = ("http://", "https://", "www.")


def sign_in_link(workspace: str) -> re.Pattern[str]:
    """The one link notify's own templates put in an alert: the owner's personal sign-in link to the workspace
    dev up started (its address, a signed token, a path of the workspace; "&" escaped in HTML text)."""
    return re.compile(re.escape(workspace) + r"/kirjaudu\?t=[A-Za-z0-9_.-]+&(?:amp;)?seuraava=%2F[A-Za-z0-9%._:-]*")


# --- the stack --------------------------------------------------------------------------------------------


@dataclass
class DevStack:
    """`feedback dev up` running as a subprocess, as a developer runs it."""

    process: subprocess.Popen[str]
    ingest: str
    classify: str
    notify: str
    workspace: str
    data_dir: Path
    output: list[str]

    @property
    def mail(self) -> Path:
        return self.data_dir / "mail"

    def logs(self) -> str:
        """Everything dev up and the services it started printed so far (service logs are forwarded)."""
        return "".join(self.output)

    def metrics_pages(self) -> dict[str, str]:
        return {
            name: httpx.get(f"{url}/metrics", timeout=10).text
            for name, url in (("ingest", self.ingest), ("classify", self.classify), ("notify", self.notify))
        }

    def post(self, body: dict, token: str = FORM_TOKEN) -> httpx.Response:
        return httpx.post(
            f"{self.ingest}/v1/responses", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def start_at_the_end(bootstrap: str, group_id: str, topics: tuple[str, ...]) -> None:
    """Commit the end offsets of `topics` for a fresh consumer group.

    The stack under test then reads only what is published after it starts: records other tests left on
    the shared broker neither reach its owners' mailboxes nor mix into what these tests inspect.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        # Read to the end rather than ask for end offsets: the Tansu broker reports a partition's end as one past
        # the first record of its last batch, so only the records themselves tell where it ends.
        positions = {tp: 0 for tp in partitions}
        quiet = 0
        while quiet < 3:
            batch = consumer.poll(timeout_ms=200)
            quiet = 0 if batch else quiet + 1
            for tp, records in batch.items():
                positions[tp] = max(positions[tp], records[-1].offset + 1)
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in positions.items()})
    finally:
        consumer.close()


def start_dev_up(bootstrap: str, data_dir: Path, timeout: float = 120.0) -> DevStack:
    """Start `feedback dev up` on free ports against `bootstrap`, with consumer groups of its own."""
    ports = {name: free_port() for name in ("ingest", "classify", "notify", "workspace", "smtp")}
    suffix = uuid.uuid4().hex[:8]
    groups = {"CLASSIFY_GROUP_ID": f"hostile-classify-{suffix}", "NOTIFY_GROUP_ID": f"hostile-notify-{suffix}",
              "WORKSPACE_GROUP_ID": f"hostile-workspace-{suffix}",
              "NOTIFY_REMINDERS_GROUP_ID": f"hostile-notify-reminders-{suffix}",
              "CLASSIFY_CORRECTIONS_GROUP_ID": f"hostile-classify-corrections-{suffix}"}  # fmt: skip
    start_at_the_end(bootstrap, groups["CLASSIFY_GROUP_ID"], (RESPONSES_TOPIC,))
    start_at_the_end(bootstrap, groups["NOTIFY_GROUP_ID"], (CLASSIFIED_TOPIC,))
    start_at_the_end(bootstrap, groups["WORKSPACE_GROUP_ID"], (CLASSIFIED_TOPIC,))
    start_at_the_end(bootstrap, groups["NOTIFY_REMINDERS_GROUP_ID"], (REMINDERS_TOPIC,))
    start_at_the_end(bootstrap, groups["CLASSIFY_CORRECTIONS_GROUP_ID"], (CORRECTIONS_TOPIC,))
    command = [
        sys.executable, "-m", "feedback_cli.main", "dev", "up", "--data-dir", str(data_dir),
        "--owners", str(OWNERS_FILE),
        "--ingest-port", str(ports["ingest"]), "--classify-port", str(ports["classify"]),
        "--notify-port", str(ports["notify"]), "--workspace-port", str(ports["workspace"]),
        "--smtp-port", str(ports["smtp"]),
    ]  # fmt: skip
    env = {
        **os.environ,
        **groups,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "INGEST_API_TOKENS": FORM_TOKEN,
        "ADMIN_API_TOKENS": ADMIN_TOKEN,
    }
    for inherited in ("DATABASE_URL", "NOTIFY_DATABASE_URL", "WORKSPACE_DATABASE_URL", "CLASSIFY_DATABASE_URL",
                      "STATEMENT_BASE_URL", "WORKSPACE_BASE_URL", "WORKSPACE_SECRET", "LOG_LEVEL"):  # fmt: skip
        env.pop(inherited, None)  # the developer's own settings would change what these tests see
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        errors="replace", cwd=REPO_ROOT,
    )  # fmt: skip
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            output.append(line)
            if line.startswith("ready "):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout):
        stop_dev_up_process(process)
        raise AssertionError("dev up never printed 'ready':\n" + "".join(output[-60:]))
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return DevStack(process, url["ingest"], url["classify"], url["notify"], url["workspace"], data_dir, output)


def stop_dev_up_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- mail ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One stored .eml: its raw bytes, its header block as sent, and its decoded parts."""

    path: Path
    raw: bytes

    @property
    def header_block(self) -> bytes:
        end = self.raw.find(b"\r\n\r\n")
        if end < 0:
            end = self.raw.find(b"\n\n")
        return self.raw if end < 0 else self.raw[:end]

    def header_names(self) -> list[str]:
        """The names of the header fields in the header block, unfolded, in order."""
        names = []
        for line in self.header_block.replace(b"\r\n", b"\n").split(b"\n"):
            if not line or line[:1] in (b" ", b"\t"):
                continue  # a continuation line of a folded header
            name, colon, _ = line.partition(b":")
            names.append(name.decode("latin-1").strip().lower() if colon else f"<not a header: {line[:60]!r}>")
        return names

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]

    @property
    def plain(self) -> str:
        return self.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def read_mail(directory: Path) -> list[Mail]:
    return [Mail(path, path.read_bytes()) for path in sorted(directory.glob("*.eml"))]


class _TagCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def html_tags(document: str) -> tuple[set[str], list[tuple[str, str | None]], list[str]]:
    """The tag names (start and end), the attributes and the comments an HTML parser finds in `document`."""
    collector = _TagCollector()
    collector.feed(document)
    collector.close()
    return {t.lstrip("/") for t in collector.tags}, collector.attributes, collector.comments


# --- what the respondent writes -----------------------------------------------------------------------------


def encoded_word(text: str) -> str:
    """`text` as an RFC 2047 encoded word, as a mail reader would decode it."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# With its "Luvussa 5.2.2 <marker> " prefix the answer is one line of 20,000 characters, the most an answer may have.
LONG_LINE_CHARS = 20_000 - len("Luvussa 5.2.2 MERKKI0X2 ")
_URL_AT_THE_END = " https://pitka.evil.example.com/loppu"
LONG_LINE = ("pitkä rivi ilman rivinvaihtoa " * 700)[: LONG_LINE_CHARS - len(_URL_AT_THE_END)] + _URL_AT_THE_END

# One statement per hostile organisation, each with a hostile title and every hostile answer. Every answer
# names section 5.2.2, so each reaches at least one owner, and carries a marker that tells where it ended up.
HOSTILE_ORGANISATIONS = [
    "Kunta\r\nBcc: hyokkaaja@evil.example\r\nX-Injected: crlf",
    "Kunta\nX-Injected: lf\r\n\r\n<script>alert('body')</script>",
    "Järjestö\u2028X-Injected: u2028\u2029X-Injected: u2029\u0085X-Injected: nel\x0bX-Injected: vt\x0c",
    "<script>alert('org')</script><b>Lihava</b> <img src=x onerror=alert(1)> ry",
    "\u202eyr ötsejräJ\u202c \u200b\u200c\u200d\u2060\ufeff Nollaleveys 😀🎉👨‍👩‍👧‍👦🇫🇮 ry",
    "[Klikkaa](https://evil.example.com/org) www.evil-org.fi hallitus@evil-org.fi",
    "=?utf-8?q?Kunta=0D=0AX-Injected:=20encoded-q?=",
    encoded_word("Kunta\r\nX-Injected: encoded-b\r\nReply-To: hyokkaaja@evil.example"),
]
HOSTILE_TITLES = [
    "puheenjohtaja\r\nX-Injected: title",
    "<svg onload=alert(1)>sihteeri</svg>",
    "\u202ejohtaja\u202c http://evil.example.com/title",
    "www.evil.fi [linkki](http://evil.fi)",
]
HOSTILE_ANSWERS = [
    "Rivi yksi\r\nX-Injected: answer\rRivi kolme\u2028Rivi neljä\u2029Rivi viisi\u0085Rivi kuusi\x0bRivi seitsemän\x0c",
    '<script>alert(1)</script> <img src=x onerror=alert(2)> <a href="https://evil.example.com/a">linkki</a> '
    "<iframe src=//evil.fi></iframe> <svg onload=alert(3)> </blockquote></td></table><h1>Otsikko</h1> "
    "<!-- kommentti --> <style>body{display:none}</style> &lt;valmiiksi&gt; &amp; <b>lihava</b>",
    LONG_LINE,
    "\u202e\u202d\u2066\u2067\u2068\u2069 oikealta vasemmalle \u200b\u200c\u200d\u2060\ufeff nollaleveys",
    "Emojit 😀👍🏽👨‍👩‍👧‍👦🇫🇮 ja yhdistelmät e\u0301 \U0001f9d1\u200d\U0001f4bb",
    "[markdown-linkki](https://evil.example.com/md) <https://evil.example.com/auto> "
    "[viite]: http://evil.example.com/ref ![kuva](https://evil.example.com/img.png)",
    "Paljaat: https://evil.example.com/x?a=1&b=<2> http://evil.fi www.evil.fi WWW.EVIL.FI "
    "HTTPS://EVIL.EXAMPLE.COM/ISO hTtP://sekoitus.fi ftp://evil.fi/f mailto:joku@evil.fi javascript:alert(1) "
    "data:text/html,<script>alert(1)</script> joku@evil.fi Etunimi.Sukunimi@kunta.fi evil.fi/polku",
]
HOSTILE_EMAILS = ("hyokkaaja@evil.example", "hallitus@evil-org.fi", "joku@evil.fi", "Etunimi.Sukunimi@kunta.fi")

# A respondent whose contact data must stay in ingest: distinctive enough that any trace is found.
CONTACT = {
    "first_name": "Zebulon-Quirinus",
    "last_name": "Xanthopoulos-Väyrynen",
    "email": "zebulon.xanthopoulos@yhteystieto-testi.example",
    "phone": "+358 45 7777 1234",
}
CONTACT_TRACES = (
    CONTACT["first_name"],
    CONTACT["last_name"],
    CONTACT["email"],
    CONTACT["phone"],
    "457777 1234",
    "4577771234",
    "Zebulon",
    "Xanthopoulos",
    "zebulon.xanthopoulos",
    "yhteystieto-testi",
)


def statement(response_id: str, organisation: str, title: str | None, answers: list[str], revision: int = 1) -> dict:
    """A municipality's statement as the survey form posts it; the answers go to questions 27, 28, ..."""
    return {
        "survey_id": "palvelustrategia-2026",
        "response_id": response_id,
        "revision": revision,
        "submitted_at": "2026-03-20T14:05:00+02:00",
        "respondent": {
            "first_name": "Testi",
            "last_name": "Vastaaja",
            "email": "vastaaja.testi@example.org",
            "organization": organisation,
            "title": title,
        },
        "respondent_type": "municipality",
        "answers": [{"question": 27 + i, "text": text} for i, text in enumerate(answers)],
    }


def marker(response_id: str, index: int) -> str:
    return f"MERKKI{response_id.rsplit('-', 1)[-1]}X{index}"


def hostile_statements(run: str) -> list[dict]:
    """Every hostile organisation, each with a title and all hostile answers."""
    bodies = []
    for number, organisation in enumerate(HOSTILE_ORGANISATIONS):
        response_id = f"hostile-{run}-{number}"
        answers = [f"Luvussa 5.2.2 {marker(response_id, i)} {text}" for i, text in enumerate(HOSTILE_ANSWERS)]
        title = HOSTILE_TITLES[number % len(HOSTILE_TITLES)]
        bodies.append(statement(response_id, organisation, title, answers))
    return bodies


def contact_statement(run: str, revision: int = 1) -> dict:
    body = statement(
        f"contact-{run}",
        "Yhteystietokokeen kunta",
        "kunnanjohtaja",
        [
            "Luvussa 5.2.2 kuvattu turvallisuus on tärkeää kunnalle.",
            "Kuntayhteistyötä on vahvistettava luvussa 5.3.1.2 kuvatulla tavalla."
            + (" Lisäksi toivomme yhteistä tilannekuvaa." if revision > 1 else ""),
        ],
        revision=revision,
    )
    body["respondent"].update(CONTACT)
    return body


# --- one run of the whole path, shared by the tests that inspect it ----------------------------------------


@dataclass
class WholeRun:
    stack: DevStack
    hostile: list[dict]
    contact: list[dict]
    answers: dict[str, int] = field(default_factory=dict)  # response id -> HTTP status of its submission

    @property
    def response_ids(self) -> list[str]:
        return [b["response_id"] for b in self.hostile] + [self.contact[0]["response_id"]]

    def mail(self) -> list[Mail]:
        return read_mail(self.stack.mail)

    def alerts_for(self, response_id: str) -> list[Mail]:
        return [m for m in self.mail() if f"Lausunnon tunniste: {response_id}," in m.plain]

    def is_sign_in_link(self, url: str | None) -> bool:
        return url is not None and sign_in_link(self.stack.workspace).fullmatch(url) is not None

    def without_sign_in_links(self, text: str) -> str:
        """The text with the template's sign-in links taken out: what is left came from the templates' words
        or from the respondent."""
        return sign_in_link(self.stack.workspace).sub("[kirjautumislinkki]", text)


def _pending(stack: DevStack) -> float:
    page = httpx.get(f"{stack.notify}/metrics", timeout=10).text
    for line in page.splitlines():
        if line.startswith("feedback_notify_pending_deliveries "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture(scope="module")
def whole_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WholeRun]:
    """`feedback dev up`, every hostile statement and a contact-bearing one (and its edit) posted, and the
    alerts delivered: every response has at least one alert, nothing is pending and the mailbox is still."""
    stack = start_dev_up(kafka_bootstrap, tmp_path_factory.mktemp("hostile") / "var")
    try:
        run = uuid.uuid4().hex[:8]
        result = WholeRun(stack, hostile_statements(run), [contact_statement(run, 1), contact_statement(run, 2)])
        for body in result.hostile + result.contact[:1]:
            result.answers[body["response_id"]] = stack.post(body).status_code
        # A refused submission carries contact data too: it must leave no trace either.
        refused = json.loads(json.dumps(result.contact[0]))
        refused["answers"].append({"question": 84, "text": "Kysymys toisen vastaajaryhmän lohkosta."})
        result.answers["refused"] = stack.post(refused).status_code
        deadline = time.monotonic() + 90
        # The edit goes in once revision 1 has been alerted, so it is an update, not a race.
        contact_id = result.contact[0]["response_id"]
        while not result.alerts_for(contact_id) and time.monotonic() < deadline:
            time.sleep(0.3)
        edit = stack.post(result.contact[1])
        result.answers[f"{contact_id}@2"] = edit.status_code
        # Settle: every accepted response alerted, nothing pending, no new mail for two seconds.
        accepted = [rid for rid in result.response_ids if result.answers.get(rid) == 202]
        last_count, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            mails = result.mail()
            alerted = all(result.alerts_for(rid) for rid in accepted)
            if len(mails) != last_count:
                last_count, still_since = len(mails), time.monotonic()
            elif alerted and _pending(stack) == 0 and time.monotonic() - still_since > 2.0:
                break
            time.sleep(0.3)
        yield result
    finally:
        stop_dev_up_process(stack.process)
