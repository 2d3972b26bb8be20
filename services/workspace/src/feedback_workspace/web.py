"""Rendering pages: Jinja2 with autoescape, Finnish dates and labels, and the paragraph's evidence marked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from feedback_contracts.events import Reason
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.wording import explain

from .auth import form_token, viewer_of
from .items import NO_SECTION, STATE_LABELS, State

HELSINKI = ZoneInfo("Europe/Helsinki")
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


def evidence_segments(text: str, reasons: list[dict]) -> list[Segment]:
    """The paragraph cut where a reason points into it, so the evidence can be marked; text stays text."""
    spans = sorted(
        (start, end)
        for r in reasons
        if r.get("span") and 0 <= (start := r["span"][0]) < (end := r["span"][1]) <= len(text)
    )
    segments: list[Segment] = []
    position = 0
    for start, end in spans:
        if start < position:  # overlapping evidence: the earlier mark covers it
            start = position
        if start >= end:
            continue
        if start > position:
            segments.append(Segment(text[position:start], False))
        segments.append(Segment(text[start:end], True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:], False))
    return segments


def finnish_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(HELSINKI).strftime("%-d.%-m.%Y klo %H.%M")


def waited(since: datetime | None, now: datetime) -> str:
    """How long something has waited, in Finnish: 'alle päivän', '1 päivän', '12 päivää'."""
    if since is None:
        return ""
    days = (now - since).days
    if days < 1:
        return "alle päivän"
    return "1 päivän" if days == 1 else f"{days} päivää"


def respondent_label(code: str) -> str:
    try:
        return RespondentType(code).label_fi
    except ValueError:
        return code


def reason_text(reason: dict, respondent_type: str) -> str:
    try:
        rtype = RespondentType(respondent_type)
    except ValueError:
        rtype = RespondentType.MUNICIPALITY
    return explain(Reason.model_validate(reason), rtype)


def question_label(number: int) -> str:
    """'Kysymys 38: Tuleeko luvun 5 ...?': the form's question, so a paragraph is read in its context."""
    try:
        text = load_questionnaire().question(number).text
    except (KeyError, LookupError, ValueError):
        text = None
    return f"Kysymys {number}: {text}" if text else f"Kysymys {number}"


def section_label(section_id: str, title: str | None) -> str:
    if section_id == NO_SECTION:
        return "Ei tunnistettua lukua"
    return f"{section_id} {title}" if title else section_id


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.filters.update(
        aika=finnish_time,
        vastaajaryhma=respondent_label,
        luku=lambda item: section_label(item["section_id"], item.get("section_title")),
        kysymys=question_label,
        odottanut=waited,
        ilman=lambda query, *keys: {k: v for k, v in query.items() if k not in keys},
    )
    env.globals.update(
        evidence_segments=evidence_segments,
        reason_text=reason_text,
        STATES=list(State),
        STATE_LABELS=STATE_LABELS,
        RESPONDENT_TYPES=list(RespondentType),
        section_label=section_label,
    )
    return templates


def owner_names(request: Request) -> Callable[[str], str]:
    """An owner role's name in the directory ('järjestelmä' for what the pipeline did), else its id."""
    directory = request.app.state.owners.current

    def name(owner_id: str) -> str:
        if owner_id == "system":
            return "järjestelmä"
        owner = directory.get(owner_id)
        return owner.name if owner is not None else owner_id

    return name


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    viewer = viewer_of(request)
    return templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "csrf_token": form_token(request), "owner_name": owner_names(request), **context},
        status_code=status_code,
    )
