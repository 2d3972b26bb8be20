"""Signing in and out: the personal link from an alert (a page with one button, which signs in by POST), and
OpenID Connect where the county runs an identity provider."""

from __future__ import annotations

import logging
from typing import Annotated

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError

from feedback_runtime.signin import ExpiredLink, InvalidLink, SignInLinks

from .auth import CheckedForm, sign_in, sign_out, viewer_of
from .oidc import CALLBACK_PATH, PROVIDER_ERRORS, OidcSignIn, Refusal, roles_for
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


# --- OpenID Connect (production): the organisation's identity provider vouches for a verified address ----------

OIDC_NEXT = "oidc_seuraava"
log = logging.getLogger("feedback.workspace.signin")


def _oidc_problem(
    request: Request, status_code: int, problem: str, reason: str, *, refused: bool = False
) -> HTMLResponse:
    """The sign-in page with the reason in Finnish. When the provider vouched for someone the workspace refuses,
    whoever was signed in before in this browser is not any more; a sign-in that merely failed (cancelled, a
    forged or stale return link, the provider unreachable) leaves the session as it was."""
    if refused:
        sign_out(request)
    request.app.state.metrics.refused.labels("sign_in").inc()
    log.info("OpenID Connect sign-in refused: %s", reason)
    return page(request, "signin.html.j2", status_code=status_code, title="Kirjaudu sisään", problem=problem,
                token=None, owner_name=None, next_path="/", oidc=True,
                signed_in=viewer_of(request) is not None)  # fmt: skip


UNREACHABLE = "Kirjautumispalveluun ei juuri nyt saada yhteyttä. Yritä hetken kuluttua uudelleen."


@router.get("/kirjaudu/oidc", response_model=None)
async def sign_in_with_oidc(request: Request, seuraava: str | None = None) -> Response:
    """Send the person to the identity provider; Authlib keeps the state, nonce and PKCE verifier in the session."""
    oidc: OidcSignIn | None = request.app.state.oidc
    if oidc is None:
        return page(request, "not_found.html.j2", status_code=404, title="Sivua ei löydy")
    request.session[OIDC_NEXT] = safe_next(seuraava)
    try:
        return await oidc.client.authorize_redirect(request, oidc.redirect_uri)
    except (*PROVIDER_ERRORS, ValueError, RuntimeError) as exc:
        log.warning("OpenID Connect provider unavailable: %s", exc)
        return _oidc_problem(request, 502, UNREACHABLE, "provider_unavailable")


@router.get(CALLBACK_PATH, response_model=None)
async def oidc_callback(request: Request) -> Response:
    """The person is back from the identity provider: check what it says and sign in the roles of their address."""
    oidc: OidcSignIn | None = request.app.state.oidc
    if oidc is None:
        return page(request, "not_found.html.j2", status_code=404, title="Sivua ei löydy")
    next_path = safe_next(request.session.pop(OIDC_NEXT, None))
    if request.query_params.get("error") == "access_denied":
        return _oidc_problem(request, 400, "Kirjautuminen peruttiin. Voit yrittää uudelleen.", "access_denied")
    try:
        token = await oidc.client.authorize_access_token(request)
    except MismatchingStateError:
        # A callback this browser did not start (a forged or replayed link, or an old tab): nothing to trust.
        return _oidc_problem(
            request, 400, "Kirjautuminen ei ollut enää voimassa tai sitä ei aloitettu tästä selaimesta. "
            "Aloita kirjautuminen uudelleen.", "state_mismatch",
        )  # fmt: skip
    except (AuthlibBaseError, JoseError) as exc:
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _oidc_problem(request, 400, "Kirjautumispalvelun vastausta ei voitu hyväksyä. Yritä uudelleen.",
                             "invalid_response")  # fmt: skip
    except (*PROVIDER_ERRORS, ValueError, RuntimeError) as exc:
        log.warning("OpenID Connect provider unavailable: %s", exc)
        return _oidc_problem(request, 502, UNREACHABLE, "provider_unavailable")
    claims = token.get("userinfo")
    if not claims:  # no ID token (or no nonce to check it with): not an OpenID Connect answer
        return _oidc_problem(request, 400, "Kirjautumispalvelun vastausta ei voitu hyväksyä. Yritä uudelleen.",
                             "no_id_token")  # fmt: skip
    try:
        owner_ids = roles_for(request.app.state.owners.current, dict(claims))
    except Refusal as refusal:
        return _oidc_problem(request, 403, refusal.message, refusal.reason, refused=True)
    sign_in(request, owner_ids)
    request.app.state.metrics.sign_ins.labels("oidc").inc()
    log.info("signed in with OpenID Connect as %s", ", ".join(owner_ids))
    return RedirectResponse(next_path, status_code=303)
