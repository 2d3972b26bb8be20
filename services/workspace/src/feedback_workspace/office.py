"""The strategy office's pages: coverage of sections by respondent types, every item, the queues to work."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy

from .auth import OfficeDep
from .items import NO_SECTION
from .pages import PAGE_SIZE, flag, item_filter, number, store_of
from .web import page

router = APIRouter(prefix="/toimisto")
WAITING_SHOWN = 50


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, viewer: OfficeDep) -> HTMLResponse:
    """Sections × respondent types: how many statements and paragraphs, each cell a link to its items."""
    store = store_of(request)
    coverage = await store.coverage()
    taxonomy = load_taxonomy()
    present = {section for section, _ in coverage}
    sections = [s for s in taxonomy.sections if s.id in present]
    if NO_SECTION in present:
        sections_rows = [(s.id, s.title) for s in sections] + [(NO_SECTION, None)]
    else:
        sections_rows = [(s.id, s.title) for s in sections]
    counts = await store.counts_by_state()
    return page(
        request, "overview.html.j2", title="Toimiston yleiskuva", coverage=coverage, sections=sections_rows,
        respondent_types=list(RespondentType), counts=counts, urlencode=urlencode, wide=True,
    )  # fmt: skip


@router.get("/kohteet", response_class=HTMLResponse)
async def all_items(
    request: Request,
    viewer: OfficeDep,
    tila: str | None = None,
    luku: str | None = None,
    vastaajaryhma: str | None = None,
    haku: str | None = None,
    omistaja: str | None = None,
    poistuneet: str | None = None,
    sivu: str | None = None,
) -> HTMLResponse:
    """Every owner's items, with the same filters as the inbox and the owner's as well."""
    withdrawn, page_number = flag(poistuneet), number(sivu, 1)
    where, problems = item_filter(None, tila, luku, vastaajaryhma, haku, omistaja, withdrawn)
    store = store_of(request)
    found, counts, total = await store.page(where, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    query = {
        k: v
        for k, v in {
            "tila": tila,
            "luku": luku,
            "vastaajaryhma": vastaajaryhma,
            "haku": haku,
            "omistaja": omistaja,
            "poistuneet": withdrawn and "1",
        }.items()
        if v
    }
    directory = request.app.state.owners.current
    title = "Kaikki kohteet: poistuneet" if withdrawn else "Kaikki kohteet"
    return page(
        request, "inbox.html.j2", title=title, items=found, total=total, counts=counts, where=where,
        query=query, page_number=page_number, pages=max(1, -(-total // PAGE_SIZE)), problems=problems,
        base="/toimisto/kohteet", urlencode=urlencode, owners=directory.owners, office_list=True,
    )  # fmt: skip


@router.get("/odottavat", response_class=HTMLResponse)
async def waiting(request: Request, viewer: OfficeDep) -> HTMLResponse:
    """Items still new, longest waiting first, grouped by owner."""
    found = await store_of(request).waiting_longest(WAITING_SHOWN)
    by_owner: dict[str, list[dict]] = {}
    for item in found:
        by_owner.setdefault(item["owner_id"], []).append(item)
    return page(request, "waiting.html.j2", title="Pisimpään odottaneet", by_owner=by_owner, now=datetime.now(UTC))
