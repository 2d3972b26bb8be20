"""Signing in and out: the personal link from an alert (a page with one button, which signs in by POST), and
OpenID Connect where the county runs an identity provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from feedback_runtime.signin import ExpiredLink, InvalidLink, SignInLinks

from .auth import CheckedForm, sign_in, sign_out, viewer_of
from .web import page

router = APIRouter()
DAY_SECONDS = 24 * 3600


def safe_next(path: str | None) -> str:
    """Only a path of this site: a link cannot send the signed-in person elsewhere."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _owner_of_link(request: Request, token: str) -> tuple[str | None, str | None]:
    """The owner a link signs in, or None and the reason in Finnish."""
    settings = request.app.state.settings
    links: SignInLinks = request.app.state.links
    try:
        owner_id = links.owner(token, settings.workspace_link_days * DAY_SECONDS)
    except ExpiredLink:
        return None, "Kirjautumislinkki on vanhentunut. Käytä uudemman ilmoituksen linkkiä tai pyydä uusi linkki."
    except InvalidLink:
        return None, "Kirjautumislinkki ei ole kelvollinen. Tarkista, että kopioit koko linkin."
    if request.app.state.owners.current.get(owner_id) is None:
        return None, "Linkin vastuurooli ei ole enää käytössä. Ota yhteyttä strategiatoimistoon."
    return owner_id, None


@router.get("/kirjaudu", response_class=HTMLResponse)
async def sign_in_page(request: Request, t: str | None = None, seuraava: str | None = None) -> HTMLResponse:
    """The page a link opens: it signs nobody in by itself (mail scanners follow links), it shows one button."""
    owner_name, problem = None, None
    if t:
        owner_id, problem = _owner_of_link(request, t[:2000])
        if owner_id is not None:
            owner_name = request.app.state.owners.current.get(owner_id).name
        else:
            request.app.state.metrics.refused.labels("sign_in").inc()
    return page(
        request, "signin.html.j2", status_code=400 if problem else 200, title="Kirjaudu sisään", token=t,
        owner_name=owner_name, problem=problem, next_path=safe_next(seuraava),
        oidc=request.app.state.oidc is not None, signed_in=viewer_of(request) is not None,
    )  # fmt: skip


@router.post("/kirjaudu", dependencies=[CheckedForm], response_model=None)
async def sign_in_with_link(
    request: Request, t: Annotated[str, Form()] = "", seuraava: Annotated[str, Form()] = "/"
) -> RedirectResponse | HTMLResponse:
    owner_id, problem = _owner_of_link(request, t[:2000])
    if owner_id is None:
        request.app.state.metrics.refused.labels("sign_in").inc()
        return page(request, "signin.html.j2", status_code=400, title="Kirjaudu sisään", problem=problem, token=None,
                    owner_name=None, next_path="/", oidc=request.app.state.oidc is not None, signed_in=False)  # fmt: skip
    sign_in(request, [owner_id])
    request.app.state.metrics.sign_ins.labels("link").inc()
    return RedirectResponse(safe_next(seuraava), status_code=303)


@router.post("/ulos", dependencies=[CheckedForm])
async def sign_out_now(request: Request) -> RedirectResponse:
    sign_out(request)
    return RedirectResponse("/kirjaudu?ulos=1", status_code=303)
