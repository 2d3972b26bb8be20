"""Making a report: the counts read first, then the shares streamed from the store into the writer, batch by batch.

The writing (openpyxl, python-docx, matplotlib, zip) is CPU work: it runs on a thread of its own, one per
export, so the workspace's pages keep answering meanwhile and the libraries only ever see one thread. While a
batch is being written the next one is read from the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.questionnaire import SURVEY_TITLE
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy

from .chart import coverage_chart, describe
from .document import TITLE, DocumentWriter, Front, received_span
from .filters import Format, ReportFilter, describe_filter, scope_sections
from .history import earlier_shares, merged
from .query import Reading, ReportSource
from .shares import Labels, share_key
from .spreadsheet import SpreadsheetWriter


@dataclass(frozen=True)
class Exported:
    """What went into a report."""

    statements: int
    shares: int  # a statement's paragraphs in one section (one revision)
    silent_sections: int


def labels_for(directory: OwnersDirectory | None, taxonomy: Taxonomy | None = None) -> Labels:
    return Labels(taxonomy or load_taxonomy(), directory)


async def export(
    engine: AsyncEngine, report_format: Format, report: ReportFilter, target: BinaryIO, *, labels: Labels,
    created: datetime,
) -> Exported:  # fmt: skip
    """Write the report `report` asks for into `target` as `report_format`."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report") as thread:

        def run(work: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            return loop.run_in_executor(thread, work, *args)

        async with ReportSource(engine, labels).reading() as reading:
            coverage = await reading.coverage(report)
            summary = await reading.summary(report)
            scope = scope_sections(report, labels.taxonomy, _owned(report, labels))
            silent = [s for s in scope if not coverage.of(s).statements]
            limits = describe_filter(report, lambda s: labels.section(s, labels.section_title(s, None)), labels.owner)
            if report_format is Format.DOCX:
                chart = await run(coverage_chart, coverage, labels, "png")
                front = Front(summary, coverage, report.since, report.until, limits, chart, describe(coverage, labels))
                document = await run(DocumentWriter, labels, front, target, created)
                shares = await _stream(reading, report, labels, document, run)
                await run(document.finish, silent)
            else:
                front = Front(summary, coverage, report.since, report.until, limits, chart_png=b"", chart_text="")
                spreadsheet = await run(SpreadsheetWriter, labels)
                shares = await _stream(reading, report, labels, spreadsheet, run)
                respondents = await reading.respondents(report)
                about = about_lines(front, limits, spreadsheet)
                await run(spreadsheet.finish, coverage, scope, respondents, about, target, created)
    return Exported(summary.statements, shares, len(silent))


async def _stream(
    reading: Reading, report: ReportFilter, labels: Labels, writer: DocumentWriter | SpreadsheetWriter, run: Callable
) -> int:
    """Every share of the report into `writer`, the next batch read while the last one is written."""
    stream = reading.latest_shares(report)
    if report.all_revisions:
        key = lambda share: share_key(share, labels)  # noqa: E731
        stream = merged(stream, await earlier_shares(reading, report, key), key)
    count, writing = 0, None
    async for batch in stream:
        if writing is not None:
            await writing
        writing = run(writer.add, batch)
        count += len(batch)
    if writing is not None:
        await writing
    return count


def _owned(report: ReportFilter, labels: Labels) -> frozenset[str] | None:
    """The sections an owner's report speaks for (its owners' sections); None: any."""
    if report.owners is None or labels.directory is None:
        return None
    owners = [o for o in (labels.directory.get(i) for i in report.owners) if o is not None]
    return frozenset(s.id for s in labels.taxonomy.sections if any(o.covers(s.id) for o in owners))


def about_lines(front: Front, limits: list[str], writer: SpreadsheetWriter) -> list[str]:
    """What the spreadsheet holds, in Finnish: its own first page."""
    span = received_span(front)
    return [
        f"{TITLE}: Oma Hämeen palvelustrategian luonnos – {SURVEY_TITLE}",
        *([f"Lausunnot saapuneet: {span}"] if span else []),
        f"Lausuntoja: {front.summary.statements}. Rivejä (ohjattu kohta ja vastuurooli): {writer.count}.",
        *limits,
        "Kohdat: rivi kutakin lukuun ohjattua lausunnon kohtaa ja sen vastuuroolia kohden, lukujen järjestyksessä.",
        "Kattavuus: luvut strategian järjestyksessä, lausuntojen ja kohtien määrät vastaajaryhmittäin.",
        "Vastaajat: organisaatiot ja niiden lausunnot. Työtila ei saa vastaajien nimiä, sähköpostiosoitteita eikä "
        "puhelinnumeroita, joten niitä ei ole tässäkään.",
    ]
