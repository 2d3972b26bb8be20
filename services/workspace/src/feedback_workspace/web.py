"""Rendering pages: Jinja2 with autoescape, Finnish dates and labels, and the paragraph's evidence marked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from feedback_contracts.events import Reason
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


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    viewer = viewer_of(request)
    return templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "csrf_token": form_token(request), **context},
        status_code=status_code,
    )
