"""Checked-in JSON Schemas match the models, so every contract change is deliberate."""

from __future__ import annotations

import json
from pathlib import Path

from feedback_cli.schemas import DEFAULT_DIR, stale_schemas
from feedback_contracts.schemas import render_schemas


def test_checked_in_schemas_match_the_models() -> None:
    assert stale_schemas(DEFAULT_DIR) == [], "run `make schemas` and commit contracts/schemas/"


def test_a_changed_schema_is_detected(tmp_path: Path) -> None:
    for name, text in render_schemas().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    name = "feedback.responses.v1.schema.json"
    schema = json.loads((tmp_path / name).read_text())
    schema["properties"]["respondent"]["description"] = "changed"
    (tmp_path / name).write_text(json.dumps(schema))
    assert stale_schemas(tmp_path) == [name]


def test_the_published_response_event_has_no_contact_fields() -> None:
    text = render_schemas()["feedback.responses.v1.schema.json"]
    for field in ('"email"', '"phone"', '"first_name"', '"last_name"'):
        assert field not in text
