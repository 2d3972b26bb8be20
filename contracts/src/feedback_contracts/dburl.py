"""Database URLs as operators write them, turned into the async drivers the services use."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def async_database_url(url: str) -> str:
    """postgres://, postgresql:// -> postgresql+asyncpg://; sqlite:/// -> sqlite+aiosqlite:///."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def async_engine(url: str) -> Any:
    """An async SQLAlchemy engine for a SQLite file (folder created; WAL, synchronous=FULL: a commit is
    durable before anyone is told it happened) or PostgreSQL (a pooled connection set). For the services:
    SQLAlchemy is imported here lazily."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    url = async_database_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
