"""Kafka connection settings every service reads from its environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """`KAFKA_*` environment variables. Services subclass this with their own settings."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_enable_idempotence: bool = Field(
        default=False,
        description="Idempotent producer. Turn on for Apache Kafka; the local Tansu broker does not support it.",
    )
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000, description="Consumer group session timeout.")
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100, description="Consumer group heartbeat interval.")
