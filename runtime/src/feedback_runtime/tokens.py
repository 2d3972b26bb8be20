"""Bearer tokens, checked the same way on every endpoint of every service: each configured token compared in
constant time, and the same 401 body everywhere."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

UNAUTHORIZED_DETAIL = "missing or invalid bearer token"
UNAUTHORIZED_HEADERS = {"www-authenticate": "Bearer"}


def presented_token(authorization: str | None) -> bytes:
    """The token of an `Authorization: Bearer …` header, or b"" when there is none."""
    header = authorization or ""
    return header[7:].strip().encode() if header[:7].lower() == "bearer " else b""


def token_matches(authorization: str | None, tokens: Iterable[str]) -> bool:
    """Whether the header carries one of `tokens`. No tokens configured: nobody matches."""
    presented = presented_token(authorization)
    # Against every configured token, each in constant time, so the time says nothing of which one was close.
    matches = [hmac.compare_digest(presented, token.encode()) for token in tokens]
    return bool(presented) and any(matches)


def require_bearer(tokens: Callable[[], Iterable[str]]) -> Callable[..., None]:
    """A FastAPI dependency that refuses (401) a request without one of `tokens()`."""
    from fastapi import Header, HTTPException

    def dependency(authorization: str | None = Header(default=None)) -> None:
        if not token_matches(authorization, tokens()):
            raise HTTPException(401, UNAUTHORIZED_DETAIL, headers=UNAUTHORIZED_HEADERS)

    return dependency
