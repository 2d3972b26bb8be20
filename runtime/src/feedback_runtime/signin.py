"""Personal sign-in links to the owners' workspace: notify puts one in each alert, the workspace honours it.

A link names one owner role, is signed with WORKSPACE_SECRET (HMAC-SHA256 through itsdangerous) and expires.
Following it does not sign anyone in by itself (mail scanners open links): the workspace shows a page with one
button, and the POST of that button signs in.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "feedback-workspace-sign-in"
SIGN_IN_PATH = "/kirjaudu"


class InvalidLink(ValueError):
    """The link was not made by us, was changed, or names no owner."""


class ExpiredLink(InvalidLink):
    """The link was ours but is too old."""


class SignInLinks:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("WORKSPACE_SECRET is empty: sign-in links cannot be signed")
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)

    def token(self, owner_id: str) -> str:
        return self._serializer.dumps({"owner": owner_id})

    def owner(self, token: str, max_age_seconds: float) -> str:
        """The owner role a token signs in, or InvalidLink / ExpiredLink."""
        try:
            payload = self._serializer.loads(token, max_age=max_age_seconds)
        except SignatureExpired as exc:
            raise ExpiredLink("the sign-in link has expired") from exc
        except BadSignature as exc:
            raise InvalidLink("the sign-in link is not valid") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("owner"), str):
            raise InvalidLink("the sign-in link names no owner")
        return payload["owner"]

    def url(self, base_url: str, owner_id: str, next_path: str = "/") -> str:
        """The link for `owner_id` that opens `next_path` (a path of the workspace) after signing in."""
        query = urlencode({"t": self.token(owner_id), "seuraava": next_path}, quote_via=quote)
        return f"{base_url.rstrip('/')}{SIGN_IN_PATH}?{query}"
