"""The owners' pages: the inbox, an item, and the whole statement."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from feedback_contracts.respondents import RespondentType

from .auth import CheckedForm, Forbidden, ViewerDep, forbid
from .items import MAX_NOTE_CHARS, NO_SECTION, STATES_NEEDING_A_NOTE, State
from .store import ItemFilter, ItemNotFound, WorkspaceStore
from .web import page

router = APIRouter()
PAGE_SIZE = 25
# How the list's query names the paragraphs that matched no section.
NO_SECTION_QUERY = "-"


def store_of(request: Request) -> WorkspaceStore:
    return request.app.state.store


def item_filter(
    viewer_owners: frozenset[str] | None,
    tila: str | None,
    luku: str | None,
    vastaajaryhma: str | None,
    haku: str | None,
    omistaja: str | None = None,
    poistuneet: bool = False,
) -> tuple[ItemFilter, list[str]]:
    """The filter a list's query asks for, and what in it could not be understood (shown, not ignored)."""
    problems = []
    state = None
    if tila:
        try:
            state = State(tila)
        except ValueError:
            problems.append("Tuntematon tila.")
    rtype = None
    if vastaajaryhma:
        try:
            rtype = RespondentType(vastaajaryhma).value
        except ValueError:
            problems.append("Tuntematon vastaajaryhmä.")
    section = luku.strip() or None if luku else None
    if section == NO_SECTION_QUERY:
        section = NO_SECTION  # the default owner's queue: paragraphs that matched no section
    text = haku.strip()[:200] if haku else None
    where = ItemFilter(
        owners=viewer_owners, state=state, section=section,
        respondent_type=rtype, text=text or None, owner=omistaja or None, withdrawn=poistuneet,
    )  # fmt: skip
    return where, problems


@router.get("/", include_in_schema=False)
async def home(viewer: ViewerDep) -> RedirectResponse:
    return RedirectResponse("/toimisto" if viewer.office else "/saapuneet", status_code=303)


@router.get("/saapuneet", response_class=HTMLResponse)
async def inbox(
    request: Request,
    viewer: ViewerDep,
    tila: str | None = None,
    luku: str | None = None,
    vastaajaryhma: str | None = None,
    haku: str | None = None,
    sivu: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """What was routed to the viewer's roles, newest first."""
    where, problems = item_filter(viewer.owners, tila, luku, vastaajaryhma, haku)
    store = store_of(request)
    found, total = await store.items(where, PAGE_SIZE, (sivu - 1) * PAGE_SIZE)
    counts = await store.state_counts(where)
    query = {k: v for k, v in {"tila": tila, "luku": luku, "vastaajaryhma": vastaajaryhma, "haku": haku}.items() if v}
    return page(
        request, "inbox.html.j2", title="Saapuneet", items=found, total=total, counts=counts, where=where,
        query=query, page_number=sivu, pages=max(1, -(-total // PAGE_SIZE)), problems=problems, base="/saapuneet",
        urlencode=urlencode,
    )  # fmt: skip


@router.get("/kohteet/{item_id}", response_class=HTMLResponse)
async def item_page(request: Request, viewer: ViewerDep, item_id: int) -> HTMLResponse:
    item = await _visible_item(request, viewer, item_id)
    return page(request, "item.html.j2", title=f"{item['organization']}: {item['section_id'] or 'ei lukua'}", item=item)


@router.post("/kohteet/{item_id}/tila", dependencies=[CheckedForm], response_model=None)
async def change_state(
    request: Request,
    viewer: ViewerDep,
    item_id: int,
    tila: Annotated[str, Form()] = "",
    muistiinpano: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """Move the item to another state; `ei_minulle` needs a reason. Errors are shown above the form."""
    item = await _visible_item(request, viewer, item_id)
    errors: dict[str, str] = {}
    try:
        state = State(tila)
    except ValueError:
        state = None
        errors["tila"] = "Valitse tila."
    note = muistiinpano.strip()
    if state in STATES_NEEDING_A_NOTE and not note:
        errors["muistiinpano"] = "Kerro lyhyesti, miksi kohta ei kuulu sinulle ja kenelle se kuuluu."
    if len(note) > MAX_NOTE_CHARS:
        errors["muistiinpano"] = f"Muistiinpano on liian pitkä (enintään {MAX_NOTE_CHARS} merkkiä)."
    if errors or state is None:
        return page(
            request, "item.html.j2", status_code=422, title="Virhe: " + item["organization"], item=item,
            errors=errors, entered={"tila": tila, "muistiinpano": muistiinpano},
        )  # fmt: skip
    await store_of(request).set_state(item_id, viewer.actor, state, note or None, datetime.now(UTC))
    request.app.state.metrics.state_changed(item, state)
    return RedirectResponse(f"/kohteet/{item_id}?tallennettu=1", status_code=303)


@router.get("/lausunnot/{response_id}", response_class=HTMLResponse)
async def statement_page(
    request: Request, viewer: ViewerDep, response_id: str, versio: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    """The whole statement in the form's order, every paragraph with its routes; the viewer's own marked."""
    statement = await store_of(request).statement(response_id[:128])
    if statement is None:
        return page(request, "not_found.html.j2", status_code=404, title="Lausuntoa ei löydy")
    forbid(not viewer.office and not any(i["owner_id"] in viewer.owners for i in statement["items"]))
    revisions = statement["revisions"]
    shown = next((r for r in revisions if r["revision"] == versio), revisions[0]) if versio else revisions[0]
    earlier = next((r for r in revisions if r["revision"] < shown["revision"]), None)
    return page(
        request, "statement.html.j2", title=f"Lausunto: {statement['organization']}", statement=statement,
        shown=shown, changes=_changes(earlier, shown) if earlier else None, earlier=earlier,
        paragraphs=_paragraph_rows(shown["event"], viewer),
    )  # fmt: skip


async def _visible_item(request: Request, viewer: ViewerDep, item_id: int) -> dict:
    try:
        item = await store_of(request).item(item_id)
    except ItemNotFound:
        raise Forbidden() from None  # the same answer as another's item: ids say nothing
    forbid(not viewer.may_see_owner(item["owner_id"]))
    return item


def _paragraph_rows(event, viewer) -> list[dict]:  # noqa: ANN001
    """Each paragraph of the revision with the sections it went to, whether it is the viewer's, and why."""
    routes_of: dict[int, list[dict]] = {}
    for route in event.routes:
        for routed in route.paragraphs:
            routes_of.setdefault(routed.paragraph, []).append(
                {
                    "section_id": route.section_id or "",
                    "section_title": route.section_title,
                    "owners": route.owners,
                    "score": routed.score,
                    "reasons": [r.model_dump(mode="json", exclude_defaults=True) for r in routed.reasons],
                    "mine": bool(set(route.owners) & viewer.owners),
                }
            )
    return [
        {
            "index": p.index,
            "question": p.question,
            "text": p.text,
            "routes": routes_of.get(p.index, []),
            "mine": any(r["mine"] for r in routes_of.get(p.index, [])),
            "reasons": [reason for r in routes_of.get(p.index, []) for reason in r["reasons"]],
        }
        for p in event.paragraphs
    ]


def _changes(earlier: dict, shown: dict) -> list[dict]:
    """What changed between two revisions, paragraph by paragraph."""
    before = [f"{p.question}: {p.text}" for p in earlier["event"].paragraphs]
    after = [f"{p.question}: {p.text}" for p in shown["event"].paragraphs]
    changes = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        changes.append({"kind": tag, "removed": before[i1:i2], "added": after[j1:j2]})
    return changes
