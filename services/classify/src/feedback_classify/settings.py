"""Classify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from feedback_runtime.settings import OwnersSettings, ServiceSettings


class ClassifySettings(ServiceSettings, OwnersSettings):
    """Environment of the classify service. ADMIN_API_TOKENS are the tokens of POST /v1/classify."""

    classify_group_id: str = Field(default="feedback-classify", description="Kafka consumer group of classify.")
    classifier_analyzer: Literal["voikko", "simplemma", "snowball"] = Field(
        default="voikko", description="Finnish analyser; voikko falls back to simplemma where it is not installed."
    )
    classifier_params_file: Path | None = Field(
        default=None, description="Calibration file (feedback calibrate --write); default: the one shipped."
    )
