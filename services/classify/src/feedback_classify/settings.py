"""Classify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field

from feedback_runtime.settings import OwnersSettings, ServiceSettings, split_tokens


class ClassifySettings(ServiceSettings, OwnersSettings):
    """Environment of the classify service. ADMIN_API_TOKENS are the tokens of POST /v1/classify."""

    classify_group_id: str = Field(default="feedback-classify", description="Kafka consumer group of classify.")
    classify_corrections_group_id: str = Field(
        default="feedback-classify-corrections",
        description="Kafka consumer group of classify's consumer of corrections (feedback.corrections.v1).",
    )
    classify_migrate_on_start: bool = Field(default=True, description="Bring the database schema up to date at start.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/classify/classify.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "CLASSIFY_DATABASE_URL"),
        description="Each response's latest routing and the corrections of routes: a SQLite file (default) or "
        "PostgreSQL.",
    )
    classify_learn_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a replica learns, as precedents, the corrections other replicas applied.",
    )
    classifier_analyzer: Literal["voikko", "simplemma", "snowball"] = Field(
        default="voikko", description="Finnish analyser; voikko falls back to simplemma where it is not installed."
    )
    classifier_params_file: Path | None = Field(
        default=None, description="Calibration file (feedback calibrate --write); default: the one shipped."
    )
    precedents_files: str = Field(
        default="",
        description="Comma-separated labels files (the format of shared/labels) loaded at start as precedents.",
    )
    question_texts_file: Path | None = Field(
        default=None,
        description='JSON {"question number": "text"} completing the questionnaire\'s question texts.',
    )

    @property
    def precedent_paths(self) -> tuple[Path, ...]:
        return tuple(Path(name) for name in split_tokens(self.precedents_files))
