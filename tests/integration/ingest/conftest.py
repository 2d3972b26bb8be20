"""Every ingest integration test runs against SQLite and against PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_ingest.app import create_app
from feedback_ingest.settings import IngestSettings

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FORM_TOKEN = "form-token"
ADMIN_TOKEN = "admin-token"


async def _admin_sql(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database on the local server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ingest.sqlite3"
        return
    name = f"ingest_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
