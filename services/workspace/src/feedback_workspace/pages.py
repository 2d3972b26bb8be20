"""The owners' pages: the inbox, an item, and the whole statement."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from feedback_contracts.events import paragraph_id
from feedback_contracts.respondents import RespondentType

from .auth import CheckedForm, Forbidden, Viewer, ViewerDep, forbid
from .correction_views import by_paragraph, forms, routes_of, shown_corrections
from .items import MAX_NOTE_CHARS, NO_SECTION, STATES_NEEDING_A_NOTE, State
from .store import ItemFilter, ItemNotFound, WorkspaceStore
from .web import page

router = APIRouter()
# Items per list page: each shows its paragraphs and reasons whole, so a page stays light to render.
PAGE_SIZE = 10
MAX_NUMBER = 100_000
MAX_ITEM_ID = 2**62
# What the pipeline does to an item, in its history (owners' state changes and reminders aside).
ROUTING_KINDS = frozenset({"routed", "changed", "withdrawn", "moved_in", "moved_out"})
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


def number(value: str | None, default: int | None, most: int = MAX_NUMBER) -> int | None:
    """A positive number from the address, else `default`: a mistyped address shows a page, never an error."""
    try:
        found = int(value) if value and len(value) <= len(str(most)) else None
    except ValueError:
        found = None
    return found if found is not None and 1 <= found <= most else default


def flag(value: str | None) -> bool:
    return value in ("1", "true", "on")


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
    poistuneet: str | None = None,
    sivu: str | None = None,
) -> HTMLResponse:
    """What was routed to the viewer's roles, newest first (or what edited statements no longer route to them)."""
    withdrawn, page_number = flag(poistuneet), number(sivu, 1)
    where, problems = item_filter(viewer.owners, tila, luku, vastaajaryhma, haku, poistuneet=withdrawn)
    store = store_of(request)
    found, counts, total = await store.page(where, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    asked = {"tila": tila, "luku": luku, "vastaajaryhma": vastaajaryhma, "haku": haku, "poistuneet": withdrawn and "1"}
    query = {k: v for k, v in asked.items() if v}
    title = "Saapuneet: poistuneet" if withdrawn else "Saapuneet"
    return page(
        request, "inbox.html.j2", title=title, items=found, total=total, counts=counts, where=where,
        query=query, page_number=page_number, pages=max(1, -(-total // PAGE_SIZE)), problems=problems,
        base="/saapuneet", urlencode=urlencode,
    )  # fmt: skip


@router.get("/kohteet/{item_id}", response_class=HTMLResponse)
async def item_page(request: Request, viewer: ViewerDep, item_id: str) -> HTMLResponse:
    item = await visible_item(request, viewer, item_id)
    return page(
        request, "item.html.j2", title=f"{item['organization']}: {item['section_id'] or 'ei lukua'}",
        **await item_context(request, viewer, item),
    )  # fmt: skip


async def item_context(request: Request, viewer: Viewer, item: dict) -> dict:
    """The item, with its paragraphs' ids, their corrections and the correction forms the viewer may use (not on
    an item an edit or a correction took away)."""
    for p in item["paragraphs"]:
        p["paragraph_id"] = paragraph_id(p["question"], p["text"])
    routes = await routes_of(request, item["response_id"])
    shown = shown_corrections(routes) if routes else []
    offered = {}
    if routes is not None and not item["withdrawn"]:
        offered = forms(request, viewer, routes, [p["paragraph_id"] for p in item["paragraphs"]])
    # Withdrawn by a correction (moved away) or by an edit of the statement: the latest of what the pipeline did.
    routed = [h["kind"] for h in item["history"] if h["kind"] in ROUTING_KINDS]
    moved_away = item["withdrawn"] and routed[-1:] == ["moved_out"]
    return {"item": item, "correction_forms": offered, "corrections_of": by_paragraph(shown), "moved_away": moved_away}


@router.post("/kohteet/{item_id}/tila", response_model=None)
async def change_state(
    request: Request,
    viewer: ViewerDep,
    # After the viewer: someone signed out gets the sign-in page; a post without this session's token, 403.
    _checked: Annotated[None, CheckedForm],
    item_id: str,
    tila: Annotated[str, Form()] = "",
    muistiinpano: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """Move the item to another state; `ei_minulle` needs a reason. Errors are shown above the form."""
    item = await visible_item(request, viewer, item_id)
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
            request, "item.html.j2", status_code=422, title="Virhe: " + item["organization"],
            errors=errors, entered={"tila": tila, "muistiinpano": muistiinpano},
            **await item_context(request, viewer, item),
        )  # fmt: skip
    await store_of(request).set_state(item["id"], viewer.actor, state, note or None, datetime.now(UTC))
    request.app.state.metrics.state_changed(item, state)
    return RedirectResponse(f"/kohteet/{item['id']}?tallennettu=1", status_code=303)


@router.get("/lausunnot/{response_id}", response_class=HTMLResponse)
async def statement_page(
    request: Request, viewer: ViewerDep, response_id: str, versio: str | None = None
) -> HTMLResponse:
    """The whole statement in the form's order, every paragraph with its routes; the viewer's own marked."""
    statement = await store_of(request).statement(response_id[:128])
    if statement is None:
        forbid(not viewer.office)  # to an owner, a missing statement looks like another's: ids say nothing
        return page(request, "not_found.html.j2", status_code=404, title="Lausuntoa ei löydy")
    return page(
        request, "statement.html.j2", title=f"Lausunto: {statement['organization']}",
        **await statement_context(request, viewer, statement, number(versio, None)),
    )  # fmt: skip


async def statement_context(request: Request, viewer: Viewer, statement: dict, asked: int | None) -> dict:
    """The statement page's content: revision `asked` (else the latest) with its routes and, on the latest, the
    correction forms the viewer may use; the corrections of the statement, dropped ones too."""
    forbid(not viewer.office and not any(i["owner_id"] in viewer.owners for i in statement["items"]))
    revisions = statement["revisions"]
    shown = next((r for r in revisions if r["revision"] == asked), revisions[0])
    earlier = next((r for r in revisions if r["revision"] < shown["revision"]), None)
    latest = shown is revisions[0]
    routes = await routes_of(request, statement["response_id"], revisions[0]["event"])
    corrections = shown_corrections(routes) if routes else []
    paragraphs = _paragraph_rows(shown["event"], viewer, statement["items"] if latest else [])
    offered = forms(request, viewer, routes, [p["paragraph_id"] for p in paragraphs]) if routes and latest else {}
    return dict(
        statement=statement, shown=shown, changes=_changes(earlier, shown) if earlier else None, earlier=earlier,
        paragraphs=paragraphs, corrections=corrections, corrections_of=by_paragraph(corrections),
        correction_forms=offered,
    )  # fmt: skip


async def visible_item(request: Request, viewer: ViewerDep, item_id: str) -> dict:
    found = number(item_id, None, MAX_ITEM_ID)
    try:
        if found is None:
            raise ItemNotFound(item_id)
        item = await store_of(request).item(found)
    except ItemNotFound:
        raise Forbidden() from None  # the same answer as another's item: ids say nothing
    forbid(not viewer.may_see_owner(item["owner_id"]))
    return item


def _paragraph_rows(event, viewer, items: list[dict]) -> list[dict]:  # noqa: ANN001
    """Each paragraph of the revision with the sections it went to, whether it is the viewer's (with the viewer's
    items of it, when `items` are the latest revision's), and why."""
    items_of = {(i["owner_id"], i["section_id"]): i for i in items if i["owner_id"] in viewer.owners}
    routes_of: dict[int, list[dict]] = {}
    for route in event.routes:
        own = [items_of[key] for o in route.owners if (key := (o, route.section_id or "")) in items_of]
        for routed in route.paragraphs:
            routes_of.setdefault(routed.paragraph, []).append(
                {
                    "section_id": route.section_id or "",
                    "section_title": route.section_title,
                    "owners": route.owners,
                    "score": routed.score,
                    "reasons": [r.model_dump(mode="json", exclude_defaults=True) for r in routed.reasons],
                    "mine": bool(set(route.owners) & viewer.owners),
                    "items": own,
                }
            )
    # The first of identical paragraphs carries the anchor, the corrections and the form (one id, one place).
    firsts: dict[str, int] = {}
    for p in event.paragraphs:
        firsts.setdefault(p.paragraph_id, p.index)
    return [
        {
            "index": p.index,
            "paragraph_id": p.paragraph_id,
            "first": firsts[p.paragraph_id] == p.index,
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
    before = [(p.question, p.text) for p in earlier["event"].paragraphs]
    after = [(p.question, p.text) for p in shown["event"].paragraphs]
    changes = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        changes.append({"kind": tag, "removed": before[i1:i2], "added": after[j1:j2]})
    return changes
