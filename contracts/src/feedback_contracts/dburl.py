"""Database URLs as operators write them, turned into the async drivers the services use."""

from __future__ import annotations


def async_database_url(url: str) -> str:
    """postgres://, postgresql:// -> postgresql+asyncpg://; sqlite:/// -> sqlite+aiosqlite:///."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
