"""Classify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from feedback_contracts.kafka import KafkaSettings


class ClassifySettings(KafkaSettings):
    """Environment of the classify service."""

    owners_file: Path = Field(default=Path("config/owners.example.yaml"), description="The owners directory (YAML).")
    classify_group_id: str = Field(default="feedback-classify", description="Kafka consumer group of classify.")
