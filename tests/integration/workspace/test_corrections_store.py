"""Corrections in the workspace's store on a real database (SQLite and PostgreSQL): migration 0004 builds the
schema the code uses and remembers who got the paragraphs of statements stored before it; re-routings are
recorded by (revision, routing), once; a refused correction stores nothing and leaves nothing to publish."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from corrections_support import paragraph_of, rerouted
from sqlalchemy import Connection, column, func, insert, select, table
from sqlalchemy.ext.asyncio import create_async_engine
from workspace_support import answers_of, classified, seed002

from feedback_contracts.events import RouteCorrected
from feedback_contracts.owners import load_owners
from feedback_contracts.taxonomy import load_taxonomy
from feedback_runtime.db import async_database_url
from feedback_runtime.migrations import alembic_config
from feedback_workspace.correcting import CorrectionsStore
from feedback_workspace.corrections import Actor, CorrectionRequest, Refusal
from feedback_workspace.store import MIGRATIONS, WorkspaceStore
from feedback_workspace.tables import correction_outbox, corrections, metadata, paragraph_owners, revisions, statements

pytestmark = pytest.mark.integration

T = TypeVar("T")
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
OFFICE = Actor(("strategiatoimisto",), office=True)
OWNERS_FILE = MIGRATIONS.parents[4] / "config" / "owners.example.yaml"


def _on(database_url: str, work: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(async_database_url(database_url))
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _with_store(database_url: str, work: Callable[[WorkspaceStore, CorrectionsStore], object]) -> object:
    async def run() -> object:
        store = WorkspaceStore(database_url)
        await store.create()
        try:
            return await work(store, CorrectionsStore(store.engine))  # type: ignore[misc]
        finally:
            await store.close()

    return asyncio.run(run())


def _correction(
    event, paragraph: str, correction_id: str, add: tuple[str, ...], remove: tuple[str, ...]
) -> RouteCorrected:
    text = next(p for p in event.paragraphs if p.paragraph_id == paragraph)
    return RouteCorrected(
        correction_id=correction_id, response_id=event.response_id, revision=event.revision, paragraph_id=paragraph,
        question=text.question, text=text.text, respondent_type=event.respondent_type, add=add, remove=remove,
        by_role="strategiatoimisto", reason="Kuuluu henkilöstölle.", corrected_at=NOW,
    )  # fmt: skip


def test_migrating_an_empty_database_yields_the_tables_schema_and_a_second_run_changes_nothing(database_url) -> None:
    url = async_database_url(database_url)
    command.upgrade(alembic_config(MIGRATIONS, url), "head")
    command.upgrade(alembic_config(MIGRATIONS, url), "head")

    def differences(connection: Connection) -> list:
        context = MigrationContext.configure(connection, opts={"version_table": "workspace_alembic_version"})
        return compare_metadata(context, metadata)

    assert _on(database_url, differences) == []


def test_migration_0004_remembers_who_received_each_paragraph_of_the_statements_stored_before_it(database_url) -> None:
    event = classified(seed002(), response_id="ennen-korjauksia")
    url = async_database_url(database_url)
    command.upgrade(alembic_config(MIGRATIONS, url), "0003")

    def stored_before(connection: Connection) -> None:
        connection.execute(
            insert(statements).values(
                response_id=event.response_id, survey_id=event.survey_id, latest_revision=1,
                organization=event.respondent.organization, respondent_type=event.respondent_type.value,
                first_received_at=NOW, received_at=NOW,
            )
        )  # fmt: skip
        # The revisions table of 0003: no routing column yet.
        before = table("revisions", *(column(name) for name in ("response_id", "revision", "received_at", "classified_at", "event")))  # fmt: skip
        connection.execute(
            insert(before).values(
                response_id=event.response_id, revision=1, received_at=NOW, classified_at=NOW,
                event=event.model_dump_json(),
            )
        )  # fmt: skip

    _on(database_url, stored_before)
    command.upgrade(alembic_config(MIGRATIONS, url), "head")
    rows = _on(database_url, lambda c: {(r.paragraph_id, r.owner_id) for r in c.execute(select(paragraph_owners))})
    ids = {p.index: p.paragraph_id for p in event.paragraphs}
    assert rows == {(ids[rp.paragraph], o) for r in event.routes for rp in r.paragraphs for o in r.owners}
    assert _on(database_url, lambda c: c.execute(select(revisions.c.routing)).scalar_one()) == 1


def test_re_routings_are_recorded_in_order_once_and_a_new_revision_after_them_too(database_url) -> None:
    first = classified(seed002(), response_id="jarjestyksessa", received_at=NOW)
    paragraph = paragraph_of(first, "5.2.2")
    second = rerouted(first, _correction(first, paragraph, "korjaus-1", ("5.4.3",), ("5.2.2",)))
    third = rerouted(second, _correction(second, paragraph_of(first, "5.3.1.1"), "korjaus-2", ("8",), ()))
    answers = answers_of(seed002())
    answers[44] += " Lisäys."
    edited = classified(seed002(), response_id="jarjestyksessa", revision=2, answers=answers)

    async def work(store: WorkspaceStore, _: CorrectionsStore) -> list[tuple[bool, int]]:
        done = []
        for event in (first, third, second, third, edited, third):
            recorded = await store.record(event, NOW)
            done.append((recorded.applied, recorded.routing))
        statement = await store.statement("jarjestyksessa")
        assert [(r["revision"], r["event"].routing) for r in statement["revisions"]] == [(2, 1), (1, 3)]
        return done

    assert _with_store(database_url, work) == [(True, 1), (True, 3), (False, 2), (False, 3), (True, 1), (False, 3)]


def test_a_refused_correction_stores_nothing_and_leaves_nothing_to_publish(database_url) -> None:
    event = classified(seed002(), response_id="hylatty")
    paragraph = paragraph_of(event, "5.2.2")
    taxonomy, directory = load_taxonomy(), load_owners(OWNERS_FILE)
    asks = [
        CorrectionRequest("hylatty", paragraph, ("9.9",), (), "Syy."),
        CorrectionRequest("hylatty", "q38-000000000000", ("5.4.3",), (), "Syy."),
        CorrectionRequest("ei-ole", paragraph, ("5.4.3",), (), "Syy."),
        CorrectionRequest("hylatty", paragraph, ("5.4.3",), (), " "),
        CorrectionRequest("hylatty", paragraph, ("5.2.2",), (), "Syy."),
    ]

    async def work(store: WorkspaceStore, kept: CorrectionsStore) -> list[int]:
        await store.record(event, NOW)
        statuses = []
        for ask in asks:
            with pytest.raises(Refusal) as refused:
                await kept.correct(ask, OFFICE, taxonomy, directory, NOW, via="api")
            statuses.append(refused.value.status)
        never_theirs = Actor(("henkilosto",), office=False)
        with pytest.raises(Refusal) as refused:
            ask = CorrectionRequest("hylatty", paragraph, ("5.4.3",), (), "Syy.")
            await kept.correct(ask, never_theirs, taxonomy, directory, NOW, via="page")
        statuses.append(refused.value.status)
        assert await kept.unpublished(10) == []
        return statuses

    assert _with_store(database_url, work) == [422, 404, 404, 422, 409, 403]
    count = _on(database_url, lambda c: (c.execute(select(func.count()).select_from(corrections)).scalar_one(), c.execute(select(func.count()).select_from(correction_outbox)).scalar_one()))  # fmt: skip
    assert count == (0, 0)


def test_a_stored_correction_waits_in_the_outbox_until_it_is_published_once(database_url) -> None:
    event = classified(seed002(), response_id="lahtevat")
    paragraph = paragraph_of(event, "5.2.2")
    ask = CorrectionRequest("lahtevat", paragraph, ("5.4.3",), ("5.2.2",), "Kuuluu henkilöstölle.", "korjaus-x")

    async def work(store: WorkspaceStore, kept: CorrectionsStore) -> None:
        await store.record(event, NOW)
        done = await kept.correct(ask, OFFICE, load_taxonomy(), load_owners(OWNERS_FILE), NOW, via="api")
        assert done.created and done.status == "pending"
        again = await kept.correct(
            ask, OFFICE, load_taxonomy(), load_owners(OWNERS_FILE), NOW + timedelta(1), via="api"
        )
        assert not again.created and again.correction == done.correction
        (waiting,) = await kept.unpublished(10)
        assert waiting == done.correction.event(event.respondent_type)
        assert await kept.published("korjaus-x", NOW) is True
        assert await kept.published("korjaus-x", NOW) is False, "marked once"
        assert await kept.unpublished(10) == []

    _with_store(database_url, work)
