"""The coverage chart: routed paragraphs per section, stacked by respondent type, drawn by matplotlib (Agg, no
display, no pyplot state shared between requests). PNG for the document, SVG for the overview page; the same
counts always give the same bytes. Readers who cannot see it get `describe` and the table beside it."""

from __future__ import annotations

import io
import threading
from typing import Literal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from feedback_contracts.respondents import RespondentType

from .query import Cell, Coverage
from .shares import Labels

# Okabe & Ito's colours (told apart with the common colour vision deficiencies), then two greys for the rest.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#999999", "#5C3A21")  # fmt: skip
TITLE = "Ohjatut kohdat luvuittain ja vastaajaryhmittäin"
AXIS_LABEL = "Ohjattuja kohtia"
LABEL_CHARS = 48
WIDTH_INCHES = 10.0
BAR_INCHES = 0.32
# Room for the title, the axis and a legend of up to five rows under the bars.
MARGIN_INCHES = 2.8
PNG_DPI = 150
# The SVG's element ids come from this instead of a random salt, and no date is written: same counts, same file.
SVG_SETTINGS = {"svg.hashsalt": "lausuntoyhteenveto", "svg.fonttype": "none"}
NOTHING = Cell(0, 0)
# matplotlib does not promise to draw on several threads at once (its font cache and settings are shared): the
# overview's chart and a document's are drawn one at a time.
_DRAWING = threading.Lock()


def charted_sections(coverage: Coverage, labels: Labels) -> list[tuple[str, str]]:
    """The sections with paragraphs, in the strategy's order, each with its label as the chart shows it."""
    present = sorted((s for s in coverage.sections() if coverage.of(s).paragraphs), key=labels.section_order)
    return [(s, _short(labels.section(s, labels.section_title(s, None)))) for s in present]


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def coverage_chart(coverage: Coverage, labels: Labels, image_format: Literal["png", "svg"]) -> bytes:
    """The chart as PNG or SVG bytes."""
    with _DRAWING:
        return _draw(coverage, labels, image_format)


def _draw(coverage: Coverage, labels: Labels, image_format: Literal["png", "svg"]) -> bytes:
    sections = charted_sections(coverage, labels)
    types = [t for t in RespondentType if any(coverage.cells.get((s, t.value)) for s, _ in sections)]
    height = MARGIN_INCHES + BAR_INCHES * max(len(sections), 1)
    figure = Figure(figsize=(WIDTH_INCHES, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(TITLE, loc="left", fontsize=12, fontweight="bold")
    if not sections:
        axes.text(0.5, 0.5, "Ei ohjattuja kohtia", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
    else:
        positions = list(range(len(sections)))
        left = [0] * len(sections)
        for n, rtype in enumerate(types):
            counts = [coverage.cells.get((s, rtype.value), NOTHING).paragraphs for s, _ in sections]
            axes.barh(positions, counts, left=left, color=COLOURS[n % len(COLOURS)], label=Labels.respondent_type(rtype.value),
                      edgecolor="white", linewidth=0.5)  # fmt: skip
            left = [a + b for a, b in zip(left, counts, strict=True)]
        axes.set_yticks(positions, [label for _, label in sections], fontsize=9)
        axes.invert_yaxis()  # the strategy's first section at the top
        axes.set_xlabel(AXIS_LABEL)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(axis="x", color="#dddddd", linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        figure.legend(loc="outside lower center", ncols=2, fontsize=9, title="Vastaajaryhmä", title_fontsize=9,
                      frameon=False)  # fmt: skip
    out = io.BytesIO()
    if image_format == "svg":
        with matplotlib.rc_context(SVG_SETTINGS):
            figure.savefig(out, format="svg", metadata={"Date": None})
    else:
        figure.savefig(out, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return out.getvalue()


def describe(coverage: Coverage, labels: Labels, most: int = 3) -> str:
    """The chart in words (its text alternative): what it shows and where most paragraphs went."""
    sections = charted_sections(coverage, labels)
    if not sections:
        return "Kaavio: ohjattuja kohtia ei vielä ole."
    ranked = sorted(sections, key=lambda s: (-coverage.of(s[0]).paragraphs, labels.section_order(s[0])))[:most]
    top = ", ".join(f"{label} ({coverage.of(s).paragraphs})" for s, label in ranked)
    total = sum(coverage.of(s).paragraphs for s, _ in sections)
    return (
        f"Vaakapylväskaavio: {total} ohjattua kohtaa {len(sections)} luvussa, pylväät jaettu vastaajaryhmittäin. "
        f"Eniten kohtia: {top}."
    )
