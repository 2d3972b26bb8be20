"""The whole stack as a developer runs it (`feedback dev up`), fed through the survey form's API with hostile
statements and with one whose respondent has distinctive contact data, then inspected as users would:

* owners' mail: hostile text arrives as harmless text: no header of the respondent's, no markup, no clickable
  link, and every message parses;
* over the whole run, the respondent's names, email and phone appear in no topic record, no log line, no
  metrics page and no alert.
"""

from __future__ import annotations

from email import message_from_bytes, policy

import httpx
import pytest

from feedback_contracts.events import ALL_TOPICS, CLASSIFIED_TOPIC, RESPONSES_TOPIC

from .conftest import (
    ADMIN_TOKEN,
    ALERT_HEADERS,
    CONTACT,
    CONTACT_TRACES,
    HOSTILE_ANSWERS,
    HOSTILE_EMAILS,
    LINK_MARKERS,
    LONG_LINE,
    TEMPLATE_TAGS,
    WholeRun,
    html_tags,
    marker,
)

pytestmark = pytest.mark.e2e
STRICT = policy.default.clone(raise_on_defect=True)


# --- hostile text -------------------------------------------------------------------------------------------------


def hostile_alerts(whole_run: WholeRun) -> list:
    alerts = [m for body in whole_run.hostile for m in whole_run.alerts_for(body["response_id"])]
    assert alerts, "no alert of a hostile statement arrived"
    return alerts


def test_every_hostile_statement_is_accepted_and_each_answer_reaches_an_owner(whole_run: WholeRun) -> None:
    for body in whole_run.hostile:
        response_id = body["response_id"]
        assert whole_run.answers[response_id] == 202, response_id
        alerts = whole_run.alerts_for(response_id)
        assert alerts, f"no alert for {response_id}"
        delivered = " ".join(m.plain for m in alerts)
        for index in range(len(HOSTILE_ANSWERS)):
            assert marker(response_id, index) in delivered, f"answer {index} of {response_id} reached nobody"


def test_every_stored_message_parses_as_plain_text_and_html_without_defects(whole_run: WholeRun) -> None:
    mails = whole_run.mail()
    assert len(mails) >= len(whole_run.hostile)
    for mail in mails:
        message = message_from_bytes(mail.raw, policy=STRICT)
        assert message.get_content_type() == "multipart/alternative", mail.path.name
        assert not message.defects and all(not part.defects for part in message.walk()), mail.path.name
        assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
        assert mail.plain.strip() and mail.html.strip()


def test_no_alert_carries_a_header_the_respondent_wrote(whole_run: WholeRun) -> None:
    for mail in hostile_alerts(whole_run):
        names = mail.header_names()
        injected = set(names) - ALERT_HEADERS
        assert not injected, f"{mail.path.name}: injected header(s) {injected} in:\n{mail.header_block.decode()}"
        for single in ("from", "to", "subject", "message-id", "date"):
            assert names.count(single) == 1, f"{mail.path.name}: {names.count(single)} {single} headers"
        subject = mail.message["Subject"]
        assert not any(c in subject for c in "\r\n\u2028\u2029\x85\x0b\x0c"), repr(subject)
        # The parsed message agrees with the raw block: no header hides in a folded or encoded value.
        assert {k.lower() for k in mail.message} <= ALERT_HEADERS


def test_no_html_part_carries_a_script_or_any_tag_the_respondent_wrote(whole_run: WholeRun) -> None:
    # The plain-text part and the subject show the respondent's "<script>" as the text it is; only HTML runs it.
    escaped_seen = False
    for mail in hostile_alerts(whole_run):
        html = mail.html
        assert "<script" not in html.lower(), mail.path.name
        tags, attributes, comments = html_tags(html)
        assert tags <= TEMPLATE_TAGS, f"{mail.path.name}: respondent tag(s) {tags - TEMPLATE_TAGS}"
        # No event handler or source attribute: only the template's own presentational ones, and links only
        # where the template puts the owner's sign-in link to the workspace.
        assert {name for name, _ in attributes} <= {"style", "lang", "charset", "align", "href"}, mail.path.name
        links = [value for name, value in attributes if name == "href"]
        assert links and all(whole_run.is_sign_in_link(link) for link in links), f"{mail.path.name}: {links}"
        assert comments == [], mail.path.name
        escaped_seen = escaped_seen or "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert escaped_seen, "the respondent's <script> text never arrived (escaped) in any HTML part"


def test_no_alert_has_a_clickable_link_or_address_from_respondent_text(whole_run: WholeRun) -> None:
    defanged_seen = False
    for mail in hostile_alerts(whole_run):
        assert whole_run.without_sign_in_links(mail.plain) != mail.plain, f"{mail.path.name}: no sign-in link"
        for part in (whole_run.without_sign_in_links(mail.plain), whole_run.without_sign_in_links(mail.html)):
            lowered = part.lower()
            for link in LINK_MARKERS:
                assert link not in lowered, f"{mail.path.name}: {link!r} at {lowered.find(link)}"
            for address in HOSTILE_EMAILS:
                assert address.lower() not in lowered, f"{mail.path.name}: {address}"
            for scheme in ("mailto:", "javascript:", "ftp://", "data:text"):
                assert scheme not in lowered, f"{mail.path.name}: {scheme}"
        defanged_seen = defanged_seen or "https[:]//evil.example[.]com" in mail.plain.lower()
    assert defanged_seen, "the respondent's URLs never arrived (defanged) in any alert"


def test_a_20000_character_line_arrives_whole_and_defanged(whole_run: WholeRun) -> None:
    body = whole_run.hostile[0]
    alerts = whole_run.alerts_for(body["response_id"])
    long_marker = marker(body["response_id"], HOSTILE_ANSWERS.index(LONG_LINE))
    carrying = [m for m in alerts if long_marker in m.plain]
    assert carrying
    plain = " ".join(carrying[0].plain.split())
    assert "pitka.evil.example[.]com/loppu" in plain
    assert plain.count("pitkä rivi ilman rivinvaihtoa") >= 600


# --- contact data -------------------------------------------------------------------------------------------------


def traces_in(text: str) -> list[str]:
    lowered = text.lower()
    return [trace for trace in CONTACT_TRACES if trace.lower() in lowered]


def test_the_statement_with_contact_data_and_its_edit_are_accepted_and_alerted(whole_run: WholeRun) -> None:
    response_id = whole_run.contact[0]["response_id"]
    assert whole_run.answers[response_id] == 202
    assert whole_run.answers[f"{response_id}@2"] == 202
    assert whole_run.answers["refused"] == 422
    # Kept where they belong: ingest's store, for the admin token only.
    contact = httpx.get(
        f"{whole_run.stack.ingest}/v1/responses/{response_id}/contact",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert contact.status_code == 200 and contact.json()["email"] == CONTACT["email"]
    subjects = [m.message["Subject"] for m in whole_run.alerts_for(response_id)]
    assert any(s.startswith("Lausunto: Yhteystietokokeen kunta") for s in subjects), subjects
    assert any(s.startswith("Päivitetty lausunto: Yhteystietokokeen kunta") for s in subjects), subjects


def test_no_record_on_any_topic_carries_contact_data(whole_run: WholeRun, topics) -> None:  # noqa: ANN001
    response_id = whole_run.contact[0]["response_id"].encode()
    ours = {topic: 0 for topic in (RESPONSES_TOPIC, CLASSIFIED_TOPIC)}
    for topic in ALL_TOPICS:  # the dead-letter topics too
        for record in topics.read(topic):
            if record.key == response_id:
                ours[topic] = ours.get(topic, 0) + 1
            content = b"\n".join([record.key or b"", record.value, *record.headers.values()])
            found = traces_in(content.decode("utf-8", "replace"))
            assert not found, f"{topic}[{record.partition}]@{record.offset} carries {found}"
    assert ours[RESPONSES_TOPIC] == 2 and ours[CLASSIFIED_TOPIC] == 2, ours  # both revisions were read


def test_no_log_line_of_any_service_carries_contact_data(whole_run: WholeRun) -> None:
    logs = whole_run.stack.logs()
    response_id = whole_run.contact[0]["response_id"]
    for service in ("ingest", "classify", "notify"):
        assert f"[{service}] " in logs, f"no log line of {service} was captured"
    assert f"accepted response {response_id} revision 2" in logs
    for path in sorted((whole_run.stack.data_dir / "logs").glob("*")):
        logs += path.read_text(encoding="utf-8", errors="replace")
    found = traces_in(logs)
    assert not found, f"the logs carry {found}: " + next(line for line in logs.splitlines() if traces_in(line))


def test_no_metrics_page_carries_contact_data(whole_run: WholeRun) -> None:
    pages = whole_run.stack.metrics_pages()
    assert "feedback_ingest_responses_total" in pages["ingest"]
    assert "feedback_classify_responses_total" in pages["classify"]
    assert "feedback_notify_deliveries_total" in pages["notify"]
    for service, page in pages.items():
        assert not traces_in(page), f"/metrics of {service} carries {traces_in(page)}"


def test_no_stored_message_carries_contact_data(whole_run: WholeRun) -> None:
    mails = whole_run.mail()
    assert whole_run.alerts_for(whole_run.contact[0]["response_id"])
    for mail in mails:
        headers = "\n".join(f"{k}: {v}" for k, v in mail.message.items())
        for text in (mail.raw.decode("utf-8", "replace"), headers, mail.plain, mail.html):
            assert not traces_in(text), f"{mail.path.name} carries {traces_in(text)}"
