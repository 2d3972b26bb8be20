"""Routing labels (the format of shared/labels: one JSON object a line) and the precedents they give.

A labelled paragraph is a paragraph a careful analyst routed: as a precedent it routes a new paragraph that
closely resembles it to its `must` sections.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from feedback_contracts.respondents import RespondentType

from .precedents import Precedent, PrecedentIndex


@dataclass(frozen=True)
class Label:
    id: str
    doc: str
    text: str
    question: int | None
    respondent_type: RespondentType | None
    must: tuple[str, ...]
    may: tuple[str, ...]


def read_labels(path: Path) -> list[Label]:
    """Labels in the routing labels' JSON-lines format."""
    labels = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        rtype = row.get("respondent_type")
        labels.append(
            Label(
                id=str(row.get("id") or f"{row.get('doc', '')}:{row.get('paragraphs', number)}"),
                doc=str(row.get("doc", "")),
                text=row["text"],
                question=row.get("question"),
                respondent_type=RespondentType.parse(rtype) if rtype else None,
                must=tuple(row.get("must", ())),
                may=tuple(row.get("may", ())),
            )
        )
    return labels


def read_label_files(paths: Sequence[Path]) -> list[Label]:
    """The labels of several files, in order."""
    return [label for path in paths for label in read_labels(path)]


def as_precedent(label: Label) -> Precedent:
    """A labelled paragraph as a precedent: the statement is its document, the paragraph its label id."""
    return Precedent(
        text=label.text,
        question=label.question,
        respondent_type=label.respondent_type,
        sections=label.must,
        source="labels",
        response_id=label.doc or None,
        paragraph_id=label.id,
    )


def precedent_index(labels: Iterable[Label], index: PrecedentIndex) -> PrecedentIndex:
    """`index` with every labelled paragraph added as a precedent."""
    index.extend(as_precedent(label) for label in labels)
    return index
