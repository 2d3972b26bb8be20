"""Classify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from feedback_contracts.kafka import KafkaSettings


class ClassifySettings(KafkaSettings):
    """Environment of the classify service."""

    owners_file: Path = Field(default=Path("config/owners.example.yaml"), description="The owners directory (YAML).")
    owners_reload_seconds: float = Field(
        default=5.0, gt=0, description="How often the owners file is checked for changes (SIGHUP reloads at once)."
    )
    classify_group_id: str = Field(default="feedback-classify", description="Kafka consumer group of classify.")
    classifier_analyzer: Literal["voikko", "simplemma", "snowball"] = Field(
        default="voikko", description="Finnish analyser; voikko falls back to simplemma where it is not installed."
    )
    classifier_params_file: Path | None = Field(
        default=None, description="Calibration file (feedback calibrate --write); default: the one shipped."
    )
    admin_api_tokens: str = Field(
        default="", description="Comma-separated bearer tokens of POST /v1/classify (none: it refuses everyone)."
    )

    @property
    def admin_tokens(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.admin_api_tokens.split(",") if t.strip())
