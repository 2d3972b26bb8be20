"""Ingest's configuration, from environment variables."""

from __future__ import annotations

from feedback_contracts.kafka import KafkaSettings
from pydantic import Field, field_validator


class IngestSettings(KafkaSettings):
    """Environment of the ingest service."""

    ingest_api_tokens: str = Field(
        default="", description="Comma-separated bearer tokens the survey form may use. Required."
    )
    ingest_publish_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a POST waits for the broker's acknowledgement before answering 503."
    )

    @field_validator("ingest_api_tokens")
    @classmethod
    def _no_blank_tokens(cls, value: str) -> str:
        return ",".join(token.strip() for token in value.split(",") if token.strip())

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self.ingest_api_tokens.split(",")) if self.ingest_api_tokens else ()
