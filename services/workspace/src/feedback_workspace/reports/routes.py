"""Reports over HTTP: downloads from the workspace's pages (the office any, an owner their own items), the coverage
chart of the overview, and the admin API `feedback report` calls (GET /api/reports/{xlsx|docx}, bearer token).

A report is made into a temporary file and sent with Content-Disposition (attachment), then the file is removed.
At most a couple are made at once: each keeps a core busy for seconds at the size of a large consultation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from starlette.background import BackgroundTask

from feedback_runtime.tokens import UNAUTHORIZED_DETAIL, UNAUTHORIZED_HEADERS, token_matches

from ..auth import Forbidden, OfficeDep, Viewer, ViewerDep, form_token
from ..web import make_templates, owner_names
from .filters import FilterInput, Format, Problem, ReportFilter, read_filter
from .query import ReportSource

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"
# Reports made at once by one workspace; more wait their turn.
CONCURRENT_EXPORTS = 2
# Chart images kept (by their counts): the overview is opened far more often than the counts change.
CHARTS_KEPT = 8
SECTION_LIST = re.compile(r"[\s,;]+")
T = TypeVar("T")


def writers() -> ModuleType:
    """The writers and the chart (openpyxl, python-docx and matplotlib: some 60 MB of memory), loaded on the
    first download or chart rather than when the workspace starts: most of its processes never make one."""
    from . import export

    return export


def _kept(request: Request, name: str, make: Callable[[], T]) -> T:
    """One `name` per app, made when first needed (the app's composition root knows nothing of reports)."""
    state = request.app.state
    if getattr(state, name, None) is None:
        setattr(state, name, make())
    return getattr(state, name)


def _slots(request: Request) -> asyncio.Semaphore:
    return _kept(request, "report_slots", lambda: asyncio.Semaphore(CONCURRENT_EXPORTS))


def _with_own_templates() -> Jinja2Templates:
    """The workspace's templates with this package's own beside them (its page of problems)."""
    templates = make_templates()
    templates.env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), templates.env.loader])
    return templates


async def _made(request: Request, report_format: Format, report: ReportFilter) -> Response:
    """The report as a download; the temporary file goes when it has been sent."""
    labels = writers().labels_for(request.app.state.owners.current)
    created = datetime.now(UTC)
    handle, name = tempfile.mkstemp(prefix="lausuntoyhteenveto-", suffix="." + report_format.value)
    try:
        async with _slots(request):
            with os.fdopen(handle, "wb") as target:
                await writers().export(request.app.state.store.engine, report_format, report, target, labels=labels,
                             created=created)  # fmt: skip
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type=report_format.media_type,
        filename=download_name(report, report_format, created),
        background=BackgroundTask(os.unlink, name),
        headers={"Cache-Control": "no-store"},
    )


def download_name(report: ReportFilter, report_format: Format, created: datetime) -> str:
    """'lausuntoyhteenveto-luku-5.2-2026-05-04.xlsx': what, of which sections, made when (ASCII only)."""
    parts = ["lausuntoyhteenveto"]
    if report.sections:
        parts.append("luku-" + "_".join(s or "ei-lukua" for s in report.sections[:3]))
    parts.append(created.strftime("%Y-%m-%d"))
    return "-".join(parts) + "." + report_format.value


# --- from the pages -------------------------------------------------------------------------------------


@router.get("/raportit/{muoto}", response_model=None)
async def download(request: Request, viewer: ViewerDep, muoto: str) -> Response:
    """A report of what the page's filter shows: the office everything (or one role's, or its own), an owner
    their own items only."""
    try:
        report_format = Format(muoto)
    except ValueError:
        raise HTTPException(404) from None
    query = request.query_params
    owners = _page_owners(viewer, query.get("omistaja") or None, query.get("omat") == "1")
    given = FilterInput(
        sections=[s for value in query.getlist("luku") for s in SECTION_LIST.split(value) if s],
        respondent_types=query.getlist("vastaajaryhma"),
        states=query.getlist("tila"),
        since=query.get("alkaen"),
        until=query.get("asti"),
        revisions="all" if query.get("versiot") == "kaikki" else None,
        owners=owners,
    )
    report, problems = read_filter(given)
    if problems:
        return _problem_page(request, viewer, problems)
    return await _made(request, report_format, report)


def _page_owners(viewer: Viewer, owner: str | None, own_only: bool) -> frozenset[str] | None:
    if not viewer.office:
        if owner is not None and owner not in viewer.owners:
            raise Forbidden()
        return frozenset({owner}) if owner else viewer.owners
    if owner:
        return frozenset({owner})
    return viewer.owners if own_only else None


def _problem_page(request: Request, viewer: Viewer, problems: list[Problem]) -> HTMLResponse:
    return _kept(request, "report_templates", _with_own_templates).TemplateResponse(
        request,
        "report_problem.html.j2",
        {
            "viewer": viewer, "csrf_token": form_token(request), "owner_name": owner_names(request),
            "title": "Raporttia ei voitu tehdä", "problems": [p.finnish() for p in problems],
            "back": "/toimisto#raportti" if viewer.office else "/saapuneet",
        },
        status_code=422,
    )  # fmt: skip


@router.get("/toimisto/kattavuus.svg", include_in_schema=False)
async def coverage_image(request: Request, viewer: OfficeDep) -> Response:
    """The overview's coverage chart (every current item), drawn again only when the counts change."""
    labels = writers().labels_for(request.app.state.owners.current)
    async with ReportSource(request.app.state.store.engine, labels).reading() as reading:
        coverage = await reading.coverage(ReportFilter())
    key = tuple(sorted((section, rtype, cell.paragraphs) for (section, rtype), cell in coverage.cells.items()))
    charts: dict[tuple, bytes] = _kept(request, "report_charts", dict)
    image = charts.get(key)
    if image is None:
        image = await asyncio.to_thread(writers().coverage_chart, coverage, labels, "svg")
        while len(charts) >= CHARTS_KEPT:
            charts.pop(next(iter(charts)))
        charts[key] = image
    return Response(image, media_type="image/svg+xml", headers={"Cache-Control": "private, no-cache"})


# --- the admin API ----------------------------------------------------------------------------------------


def admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """The bearer token of ADMIN_API_TOKENS (401 as every service answers it)."""
    if not token_matches(authorization, request.app.state.settings.admin_tokens):
        raise HTTPException(401, UNAUTHORIZED_DETAIL, headers=UNAUTHORIZED_HEADERS)


@router.get("/api/reports/{report_format}", response_model=None, dependencies=[Depends(admin)])
async def api_report(request: Request, report_format: str) -> Response:
    """The report as a file. Query: section, respondent_type, state (each repeatable), since, until (a date or an
    ISO time), revisions=all, owner (repeatable; default every owner's)."""
    try:
        chosen = Format(report_format)
    except ValueError:
        return JSONResponse({"detail": [f"unknown format {report_format[:20]!r}: xlsx or docx"]}, status_code=404)
    query = request.query_params
    owners = frozenset(query.getlist("owner")) or None
    given = FilterInput(
        sections=query.getlist("section"),
        respondent_types=query.getlist("respondent_type"),
        states=query.getlist("state"),
        since=query.get("since"),
        until=query.get("until"),
        revisions=query.get("revisions"),
        owners=owners,
    )
    directory = request.app.state.owners.current
    unknown = [Problem("owner", "unknown", o[:64]) for o in sorted(owners or ()) if directory.get(o) is None]
    report, problems = read_filter(given)
    if problems or unknown:
        return JSONResponse({"detail": [p.english() for p in [*problems, *unknown]]}, status_code=422)
    return await _made(request, chosen, report)
