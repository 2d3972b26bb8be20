"""Who is signed in, and what they may see: the session (a signed cookie), form tokens against cross-site
posts, and the rule that a role sees only its own items while the strategy office sees all."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request

from feedback_contracts.owners import OwnersDirectory

CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Viewer:
    """The person signed in: the owner roles they act as, and whether one of them is the strategy office."""

    owners: frozenset[str]
    office: bool
    names: tuple[str, ...]
    csrf: str

    def may_see_owner(self, owner_id: str) -> bool:
        return self.office or owner_id in self.owners

    @property
    def visible_owners(self) -> frozenset[str] | None:
        """The owners whose items this viewer lists; None: everyone's."""
        return None if self.office else self.owners

    @property
    def actor(self) -> str:
        """Who acted, in an item's history: the role (the office's, when it is one of them)."""
        return sorted(self.owners)[0]


class SignInRequired(Exception):
    """The page needs a signed-in viewer; the app answers with the sign-in page."""


class Forbidden(Exception):
    """The viewer may not see or change this; the app answers 403."""


def sign_in(request: Request, owner_ids: list[str]) -> None:
    """Start a new session for these roles (a new form token too, so a token seen before signing in is void)."""
    request.session.clear()
    request.session.update(
        owners=sorted(set(owner_ids)), csrf=secrets.token_urlsafe(32), since=datetime.now(UTC).isoformat()
    )


def sign_out(request: Request) -> None:
    request.session.clear()


def form_token(request: Request) -> str:
    """The session's form token, made on first use (the sign-in page posts one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def viewer_of(request: Request) -> Viewer | None:
    directory: OwnersDirectory = request.app.state.owners.current
    office_ids: frozenset[str] = request.app.state.settings.office_owners(directory.default_owner)
    owners = frozenset(o for o in request.session.get("owners", []) if directory.get(o) is not None)
    if not owners:
        return None
    names = tuple(directory.get(o).name for o in sorted(owners))  # type: ignore[union-attr]
    return Viewer(owners, bool(owners & office_ids), names, form_token(request))


def current_viewer(request: Request) -> Viewer:
    viewer = viewer_of(request)
    if viewer is None:
        raise SignInRequired()
    return viewer


def office_viewer(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.office:
        raise Forbidden()
    return viewer


def checked_form(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse (403) a state-changing form without this session's token: a cross-site post changes nothing."""
    expected = request.session.get("csrf", "")
    if not (expected and hmac.compare_digest(csrf.encode(), expected.encode())):
        raise Forbidden()


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
OfficeDep = Annotated[Viewer, Depends(office_viewer)]
CheckedForm = Depends(checked_form)


def forbid(condition: bool) -> None:
    if condition:
        raise Forbidden()


__all__ = [
    "CSRF_FIELD",
    "CheckedForm",
    "Forbidden",
    "HTTPException",
    "OfficeDep",
    "SignInRequired",
    "Viewer",
    "ViewerDep",
    "forbid",
    "form_token",
    "sign_in",
    "sign_out",
    "viewer_of",
]
