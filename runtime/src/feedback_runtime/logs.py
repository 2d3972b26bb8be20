"""Structured JSON logs, one object per line, the same in every service.

Log calls pass identifiers as `extra={"response_id": ..., "revision": ...}`; nothing else of a
respondent is ever logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_FIELDS = ("response_id", "revision", "owner", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: str | None = None) -> None:
    """Send the root logger's records to stderr as JSON lines (LOG_LEVEL, default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    # The consumer libraries are chatty at INFO; their warnings still come through.
    for noisy in ("aiokafka", "kafka", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_service_logging(service: str, configure_logs: bool | None, settings: object | None) -> None:
    """JSON logs when asked, and by default when a factory reads its settings from the environment (it runs as
    a service under uvicorn); a test that passes its own settings keeps pytest's logging."""
    if configure_logs if configure_logs is not None else settings is None:
        configure_logging(service)
