"""Ingest started in-process for the integration tests; `database_url` (tests/conftest.py) runs each on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_ingest.app import create_app
from feedback_ingest.settings import IngestSettings

FORM_TOKEN = "form-token"
ADMIN_TOKEN = "admin-token"


@pytest.fixture
def ingest_settings(database_url: str, kafka_bootstrap: str) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        ingest_api_tokens=FORM_TOKEN,
        admin_api_tokens=ADMIN_TOKEN,
        database_url=database_url,
        ingest_relay_poll_seconds=0.2,
    )


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Start ingest (store, migrations, relay) in-process; stopped at the end of the test."""
    clients: list[TestClient] = []

    def start(settings: IngestSettings, registry: CollectorRegistry | None = None) -> TestClient:
        client = TestClient(create_app(settings, registry=registry or CollectorRegistry()))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def form_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {FORM_TOKEN}"}


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
