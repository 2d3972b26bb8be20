"""JSON Schemas of every contract, as checked in under contracts/schemas/."""

from __future__ import annotations

import json

from pydantic import BaseModel

from .events import (
    CLASSIFIED_TOPIC,
    CORRECTIONS_TOPIC,
    REMINDERS_TOPIC,
    RESPONSES_TOPIC,
    DeadLetter,
    ItemsOverdue,
    ResponseClassified,
    ResponseReceived,
    RouteCorrected,
)
from .owners import OwnersDirectory
from .responses import SurveyResponse

CONTRACTS: dict[str, type[BaseModel]] = {
    "survey-response.schema.json": SurveyResponse,
    f"{RESPONSES_TOPIC}.schema.json": ResponseReceived,
    f"{CLASSIFIED_TOPIC}.schema.json": ResponseClassified,
    f"{REMINDERS_TOPIC}.schema.json": ItemsOverdue,
    f"{CORRECTIONS_TOPIC}.schema.json": RouteCorrected,
    "dead-letter.schema.json": DeadLetter,
    "owners-directory.schema.json": OwnersDirectory,
}


def render_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, deterministic so a diff shows every change."""
    return {
        name: json.dumps(model.model_json_schema(mode="validation"), indent=2, ensure_ascii=False, sort_keys=True)
        + "\n"
        for name, model in CONTRACTS.items()
    }
