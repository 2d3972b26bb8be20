"""Alerts in Finnish: what an owner reads about the paragraphs routed to them."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from feedback_contracts.events import Paragraph, Reason, ResponseClassified, SectionRoute
from feedback_contracts.owners import Owner
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.text import clean_line

SUBJECT_SECTIONS_SHOWN = 2


def message_id(key: str, domain: str) -> str:
    """A stable Message-ID derived from the delivery key, so a resend is recognisably the same alert."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def routes_for(event: ResponseClassified, owner_id: str) -> list[SectionRoute]:
    """The sections of the event that go to this owner."""
    return [route for route in event.routes if owner_id in route.owners]


def section_label(route: SectionRoute) -> str:
    if route.section_id is None:
        return "Ei tunnistettua strategian lukua"
    return f"{route.section_id} {route.section_title or ''}".strip()


def subject(event: ResponseClassified, routes: list[SectionRoute]) -> str:
    """E.g. 'Lausunto: TyöHäme (työllisyysalue) – 5.3.1.6 Työllisyysalueet kumppanina'."""
    labels = [section_label(r) for r in routes]
    shown = ", ".join(labels[:SUBJECT_SECTIONS_SHOWN])
    if len(labels) > SUBJECT_SECTIONS_SHOWN:
        shown += f" ja {len(labels) - SUBJECT_SECTIONS_SHOWN} muuta"
    text = f"Lausunto: {event.respondent.organization} ({event.respondent_type.label_fi}) – {shown}"
    return clean_line(text)


def explain(reason: Reason, event: ResponseClassified) -> str:
    """One reason in plain Finnish."""
    match reason.kind:
        case "reference":
            return f"mainitsee luvun: ”{reason.match}”"
        case "respondent_type":
            return f"vastaajaryhmä: {event.respondent_type.label_fi}"
        case "title":
            return f"mainitsee luvun otsikon: ”{reason.match}”"
        case "terms":
            return "aihe: " + ", ".join(reason.terms)
        case "similarity":
            topic = ", ".join(reason.terms)
            return (
                f"aihe: {topic} (samankaltaisuus luvun tekstiin {reason.score or 0:.2f})"
                if topic
                else "aihe lähellä luvun tekstiä"
            )
        case "question":
            return "kysymys koskee tätä lukua"
        case _:
            return "ei tunnistettua lukua, ohjattu strategiatoimistolle"


def plain_text(event: ResponseClassified, owner: Owner, routes: list[SectionRoute]) -> str:
    """The alert's plain-text body."""
    questionnaire = load_questionnaire()
    paragraphs: dict[int, Paragraph] = {p.index: p for p in event.paragraphs}
    lines = [
        "Palvelustrategian luonnoksesta on saapunut lausunto, jossa on sinulle ohjattuja kohtia.",
        "",
        f"Vastaaja: {clean_line(event.respondent.organization)}",
        f"Titteli: {clean_line(event.respondent.title or '–')}",
        f"Vastaajaryhmä: {event.respondent_type.label_fi}",
        f"Lausunnon tunniste: {event.response_id}, versio {event.revision}",
        f"Vastaanottaja: {owner.name}",
    ]
    for route in routes:
        lines += ["", "=" * 72, section_label(route), "=" * 72]
        current_question = None
        for routed in route.paragraphs:
            paragraph = paragraphs[routed.paragraph]
            if paragraph.question != current_question:
                current_question = paragraph.question
                question = questionnaire.question(paragraph.question)
                heading = f"Kysymys {paragraph.question}" + (f": {question.text}" if question.text else "")
                lines += ["", heading]
            lines += ["", _indent(paragraph.text), ""]
            lines.append("  Miksi sinulle: " + "; ".join(explain(reason, event) for reason in routed.reasons))
    lines += [
        "",
        "-- ",
        "Tämä on automaattinen viesti Oma Hämeen lausuntopalvelusta. Älä vastaa tähän viestiin.",
    ]
    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else "" for line in text.split("\n"))


def email_alert(
    event: ResponseClassified, owner: Owner, routes: list[SectionRoute], *, sender: str, key: str, domain: str
) -> EmailMessage:
    """The alert as an email to all of the owner's addresses."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(owner.email)
    message["Subject"] = subject(event, routes)
    message["Message-ID"] = message_id(key, domain)
    message["Date"] = format_datetime(event.classified_at)
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = "fi"
    message.set_content(plain_text(event, owner, routes), charset="utf-8")
    return message
