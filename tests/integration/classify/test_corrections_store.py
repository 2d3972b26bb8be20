"""Classify's store on both databases: the migrations build the schema the code uses; a correction is stored
once, with its routing, and a routing that was never published is handed back until it is; every replica
learns every stored correction once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select

from feedback_classify.corrections import CorrectionRefused, corrected, revision_routing
from feedback_classify.learning import Learning
from feedback_classify.migrations import VERSION_TABLE, migrate
from feedback_classify.precedents import PrecedentIndex
from feedback_classify.store import ClassifyStore
from feedback_classify.tables import corrections, metadata
from feedback_contracts.events import (
    Paragraph,
    PublicRespondent,
    Reason,
    ResponseClassified,
    RouteCorrected,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy
from feedback_runtime.db import async_engine

pytestmark = pytest.mark.integration
T = TypeVar("T")

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
TAXONOMY = load_taxonomy()
OWNERS = load_owners(Path(__file__).parents[3] / "config" / "owners.example.yaml")
TEXTS = ("Kansainvälinen rekrytointi on välttämätöntä.", "Valmiussuunnitelmat on päivitettävä.")


def _fresh(revision: int, texts: tuple[str, ...] = TEXTS) -> ResponseClassified:
    """What the Router makes of a revision: both paragraphs in 5.2.2."""
    return ResponseClassified(
        survey_id="palvelustrategia-2026",
        response_id="r-store",
        revision=revision,
        received_at=NOW,
        classified_at=NOW,
        respondent=PublicRespondent(organization="Riihimäen kaupunki", title=None),
        respondent_type=RespondentType.MUNICIPALITY,
        paragraphs=tuple(Paragraph(index=i, question=27, text=t) for i, t in enumerate(texts)),
        routes=(
            SectionRoute(
                section_id="5.2.2",
                section_title="Turvallisuus ja kriisinkestävyys",
                owners=("turvallisuus",),
                paragraphs=tuple(
                    RoutedParagraph(paragraph=i, score=0.3, reasons=(Reason(kind="terms", terms=("valmius",)),))
                    for i in range(len(texts))
                ),
            ),
        ),
    )


def _move(correction_id: str, text: str = TEXTS[0]) -> RouteCorrected:
    """Moves the paragraph from 5.2.2 to 5.4.3."""
    return RouteCorrected(
        correction_id=correction_id,
        response_id="r-store",
        revision=1,
        paragraph_id=Paragraph(index=0, question=27, text=text).paragraph_id,
        question=27,
        text=text,
        respondent_type=RespondentType.MUNICIPALITY,
        add=("5.4.3",),
        remove=("5.2.2",),
        by_role="turvallisuus",
        reason="Henkilöstön saatavuus kuuluu lukuun 5.4.3.",
        corrected_at=datetime(2026, 5, 4, 11, 0, tzinfo=UTC),
    )


def _on(url: str, work: Callable[[Connection], T]) -> T:
    """`work` on the database in one transaction, through its own engine (not the store's)."""

    async def run() -> T:
        engine = async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _stored_corrections(url: str) -> int:
    engine = async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(func.count()).select_from(corrections))).scalar_one()
    finally:
        await engine.dispose()


def _with_store(url: str, work) -> object:  # noqa: ANN001 - a coroutine function of the store
    async def run() -> object:
        store = ClassifyStore(url)
        try:
            await store.create()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _record_revision(store: ClassifyStore, fresh: ResponseClassified):  # noqa: ANN202
    return store.record_revision(
        fresh.response_id,
        lambda head, stored: revision_routing(fresh, head, stored, TAXONOMY, OWNERS),
        NOW,
    )


def _record_correction(store: ClassifyStore, correction: RouteCorrected):  # noqa: ANN202
    return store.record_correction(
        correction, lambda latest, earlier: corrected(latest, correction, earlier, TAXONOMY, OWNERS, NOW), NOW
    )


def test_migrating_an_empty_database_yields_the_tables_schema_and_a_second_run_changes_nothing(
    database_url: str,
) -> None:
    migrate(database_url)
    migrate(database_url)

    def differences(connection: Connection) -> list:
        return compare_metadata(MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}), metadata)

    assert _on(database_url, differences) == []


def test_a_correction_is_stored_once_with_its_routing_which_is_handed_back_until_it_is_published(
    database_url: str,
) -> None:
    async def work(store: ClassifyStore) -> None:
        assert await _record_revision(store, _fresh(1)) is not None
        first = await _record_correction(store, _move("c-store-1"))
        assert not first.duplicate and first.routing is not None
        assert (first.routing.event.routing, first.routing.event.correction_id) == (2, "c-store-1")
        assert ResponseClassified.model_validate_json(first.routing.json) == first.routing.event

        # Publishing failed: the retry hands the same routing back, and applies nothing again.
        retry = await _record_correction(store, _move("c-store-1"))
        assert retry.duplicate and retry.routing == first.routing
        await store.mark_published("c-store-1", NOW)
        replay = await _record_correction(store, _move("c-store-1"))
        assert replay.duplicate and replay.routing is None
        assert (await store.latest("r-store")) == first.routing.event

        learned = await store.learned_since(None)
        assert [(c.correction.correction_id, c.final_sections) for c in learned] == [("c-store-1", ("5.4.3",))]
        assert learned[0].correction == _move("c-store-1")

    _with_store(database_url, work)


def test_a_refused_correction_stores_nothing_and_an_older_revision_does_not_replace_a_newer_one(
    database_url: str,
) -> None:
    async def work(store: ClassifyStore) -> None:
        with pytest.raises(CorrectionRefused, match="unknown response"):
            await _record_correction(store, _move("c-store-2"))
        await _record_revision(store, _fresh(2))
        with pytest.raises(CorrectionRefused, match="not in the latest revision"):
            await _record_correction(store, _move("c-store-3", text="Tätä kappaletta ei ole."))
        assert await _stored_corrections(database_url) == 0

        assert await _record_revision(store, _fresh(1)) is None
        assert (await store.latest("r-store")).revision == 2  # type: ignore[union-attr]

        # A new revision: the correction made on revision 2 is applied again where its paragraph is unchanged.
        await _record_correction(store, _move("c-store-4"))
        third = await _record_revision(store, _fresh(3, (TEXTS[0], TEXTS[1] + " Myös harjoitukset.")))
        assert third is not None and (third.event.revision, third.event.routing) == (3, 1)
        assert [(r.section_id, [p.paragraph for p in r.paragraphs]) for r in third.event.routes] == [
            ("5.2.2", [1]),
            ("5.4.3", [0]),
        ]
        assert [c.status for c in third.event.corrections] == ["applied"]

    _with_store(database_url, work)


def test_a_replica_learns_the_corrections_another_replica_stored_each_once(database_url: str) -> None:
    async def work(store: ClassifyStore) -> None:
        index = PrecedentIndex()
        learning = Learning(index, store, interval_seconds=60)
        assert await learning.catch_up() == 0
        await _record_revision(store, _fresh(1))
        await _record_correction(store, _move("c-store-5"))  # applied by another replica

        assert await learning.catch_up() == 1
        assert await learning.catch_up() == 0
        match = index.closest(TEXTS[0], min_similarity=0.99)
        assert match is not None and match.precedent.sections == ("5.4.3",)
        assert (match.precedent.source, match.precedent.response_id) == ("correction", "r-store")
        assert len(index) == 1

        # An older correction of the same paragraph learnt late does not undo the newer one.
        older = _move("c-store-0").model_copy(update={"add": ("8",)})
        learning.learn(older, ("8",), datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
        assert index.closest(TEXTS[0], min_similarity=0.99).precedent.sections == ("5.4.3",)  # type: ignore[union-attr]

    _with_store(database_url, work)
