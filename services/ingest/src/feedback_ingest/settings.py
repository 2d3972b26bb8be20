"""Ingest's configuration, from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from feedback_runtime.settings import ServiceSettings, split_tokens


class IngestSettings(ServiceSettings):
    """Environment of the ingest service."""

    ingest_api_tokens: str = Field(
        default="", description="Comma-separated bearer tokens of the survey form. Required."
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/ingest/ingest.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "INGEST_DATABASE_URL"),
        description="SQLite file (default) or PostgreSQL, e.g. postgresql://user@host:5432/db.",
    )
    ingest_migrate_on_start: bool = Field(default=True, description="Bring the database schema up to date at start.")
    ingest_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest request body accepted.")
    ingest_relay_batch_size: int = Field(default=200, ge=1, description="Outbox rows published per round.")
    ingest_relay_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the relay looks for work when idle."
    )

    ingest_relay_max_backoff_seconds: float = Field(
        default=30.0, gt=0, description="Longest pause between attempts to reach an unavailable broker."
    )

    @property
    def tokens(self) -> tuple[str, ...]:
        return split_tokens(self.ingest_api_tokens)
