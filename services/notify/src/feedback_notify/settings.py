"""Notify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from feedback_contracts.kafka import KafkaSettings


class NotifySettings(KafkaSettings):
    """Environment of the notify service."""

    owners_file: Path = Field(default=Path("config/owners.example.yaml"), description="The owners directory (YAML).")
    notify_group_id: str = Field(default="feedback-notify", description="Kafka consumer group of notify.")
    notify_delivery_db: Path = Field(
        default=Path("var/notify/deliveries.sqlite3"), description="SQLite file of the delivery log."
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(default=1025, description="SMTP server port.")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one SMTP conversation.")
    smtp_from: str = Field(
        default="Oma Hämeen lausuntopalvelu <lausunnot@example.org>", description="Sender of the alerts."
    )
    notify_retry_delay_seconds: float = Field(
        default=5.0, ge=0, description="Pause before a message whose delivery failed transiently is redelivered."
    )
