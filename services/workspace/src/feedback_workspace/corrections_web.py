"""Correcting a paragraph's routes from the item page or the statement page: the form posts here; a correction
that meets the rules is kept and sent to classify, and the page it came from says the paragraph is being
re-routed; one that does not is shown again on that page with what to fix, and nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from feedback_contracts.taxonomy import load_taxonomy

from .auth import CheckedForm, Forbidden, ViewerDep, forbid
from .correcting import CorrectionsStore
from .correction_views import actor_of, field_id
from .corrections import CorrectionRequest, Refusal
from .pages import item_context, statement_context, store_of, visible_item
from .web import page

router = APIRouter()
# More sections than a form offers: a crafted post, cut short (the rules then refuse what is unknown).
MAX_CHOICES = 100


@router.post("/lausunnot/{response_id}/korjaukset", response_model=None)
async def correct(
    request: Request,
    viewer: ViewerDep,
    # After the viewer: someone signed out gets the sign-in page; a post without this session's token, 403.
    _checked: Annotated[None, CheckedForm],
    response_id: str,
    kohta: Annotated[str, Form()] = "",
    poista: Annotated[list[str] | None, Form()] = None,
    lisaa: Annotated[list[str] | None, Form()] = None,
    syy: Annotated[str, Form()] = "",
    kohde: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """Correct the routes of paragraph `kohta`: remove it from the sections `poista`, add it to `lisaa`, because
    `syy`. From an item's page `kohde` names the item, and the answer returns there."""
    item = await visible_item(request, viewer, kohde) if kohde else None
    response_id = response_id[:128]
    forbid(item is not None and item["response_id"] != response_id)
    removed, added = (poista or [])[:MAX_CHOICES], (lisaa or [])[:MAX_CHOICES]
    wanted = CorrectionRequest(response_id, kohta[:200], tuple(added), tuple(removed), syy)
    actor = actor_of(request, viewer)
    store: CorrectionsStore = request.app.state.corrections
    try:
        await store.correct(
            wanted, actor, load_taxonomy(), request.app.state.owners.current, datetime.now(UTC), via="page"
        )
    except Refusal as refusal:
        return await _refused(request, viewer, item, wanted, refusal)
    request.app.state.metrics.corrections.labels(actor.by).inc()
    request.app.state.corrections_publisher.kick()
    back = f"/kohteet/{item['id']}" if item else f"/lausunnot/{quote(response_id, safe='')}"
    return RedirectResponse(f"{back}?korjattu={quote(wanted.paragraph_id, safe='')}#kohta-{quote(wanted.paragraph_id, safe='')}", status_code=303)  # fmt: skip


async def _refused(
    request: Request, viewer: ViewerDep, item: dict | None, wanted: CorrectionRequest, refusal: Refusal
) -> HTMLResponse:
    """The page the form was on, again, with what to fix summarised at the top and beside the field."""
    if refusal.status == 403:
        raise Forbidden()
    statement = await store_of(request).statement(wanted.response_id)
    if statement is None:
        forbid(not viewer.office)  # to an owner, a missing statement looks like another's: ids say nothing
        return page(request, "not_found.html.j2", status_code=404, title="Lausuntoa ei löydy")
    entered = {"kohta": wanted.paragraph_id, "poista": wanted.remove, "lisaa": wanted.add, "syy": wanted.reason}
    if item is not None:
        context = await item_context(request, viewer, item)
        template, title = "item.html.j2", f"Virhe: {item['organization']}"
    else:
        context = await statement_context(request, viewer, statement, None)
        template, title = "statement.html.j2", f"Virhe: Lausunto: {statement['organization']}"
    form = context["correction_forms"].get(wanted.paragraph_id)
    errors = {field_id(refusal.field, wanted.paragraph_id, form): refusal.finnish}
    return page(
        request, template, status_code=refusal.status, title=title, errors=errors, correction_entered=entered,
        correction_error=refusal.finnish, **context,
    )  # fmt: skip
