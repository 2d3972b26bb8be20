"""The workspace served on a free port against the real broker and a real database (SQLite and PostgreSQL), seeded
with the seed statements as classify routes them. The helpers live in workspace_support.py and
browser_support.py (importable by the test modules under --import-mode=importlib because this folder is put on
sys.path here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from browser_support import ARTIFACTS, Visits, browser  # noqa: E402, F401 - browser is a fixture
from workspace_support import (  # noqa: E402
    Workspace,
    all_owners,
    classified,
    make_workspace,
    owners_of,
    seed000,
    seed002,
)

from feedback_contracts.events import ResponseClassified  # noqa: E402


@pytest.fixture
def workspace(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[Workspace]:
    """A fresh workspace on its own empty database, consuming the classified topic in its own group."""
    served = make_workspace(kafka_bootstrap, database_url, f"workspace-{unique}").start()
    try:
        yield served
    finally:
        served.stop()


@dataclass(frozen=True)
class Seeded:
    """The two seed statements as recorded in the workspace, and the roles the tests act as."""

    ngo: ResponseClassified  # seed 002: Kanta-Hämeen järjestöneuvottelukunta
    city: ResponseClassified  # seed 000: Hämeenlinnan kaupunki
    owner: str  # has items in both statements (section 5.2.2)
    outsider: str  # has items in seed 002 only, so may not open seed 000's statement
    office: str = "strategiatoimisto"


@pytest.fixture(scope="session")
def seed_events() -> tuple[ResponseClassified, ResponseClassified]:
    return classified(seed002()), classified(seed000())


@pytest.fixture
def seeded(workspace: Workspace, seed_events: tuple[ResponseClassified, ResponseClassified]) -> Seeded:
    ngo, city = seed_events
    workspace.record(city, ngo)
    (owner,) = owners_of(ngo, "5.2.2")
    assert owner in all_owners(city), "the test needs an owner with items in both seed statements"
    outsiders = sorted(all_owners(ngo) - all_owners(city))
    assert outsiders, "the test needs an owner with items in seed 002 only"
    return Seeded(ngo=ngo, city=city, owner=owner, outsider=outsiders[0])


@pytest.fixture
def visits(workspace: Workspace, request: pytest.FixtureRequest) -> Visits:
    """Screenshots and axe-core checks of the pages a browser test visits, kept per test and database."""
    backend = "sqlite" if workspace.settings.database_url.startswith("sqlite") else "postgresql"
    return Visits(ARTIFACTS / request.node.originalname / backend)
