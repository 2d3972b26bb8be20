"""What the item and statement pages show of corrections: the form each paragraph offers the viewer (if they may
correct it), and the corrections made, beside the paragraph and listed for the statement, dropped ones too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from feedback_contracts.events import ResponseClassified
from feedback_contracts.taxonomy import load_taxonomy

from .auth import Viewer
from .correcting import CorrectionsStore
from .corrections import Actor, Choices, StatementRoutes, choices

STATUS_LABELS = {
    "pending": "Ohjataan uudelleen",
    "applied": "Voimassa",
    "dropped": "Rauennut",
}


@dataclass(frozen=True)
class ShownCorrection:
    """One correction as the pages show it."""

    id: str
    paragraph_id: str
    question: int | None
    text: str | None
    add: tuple[str, ...]
    remove: tuple[str, ...]
    by_role: str
    reason: str
    corrected_at: datetime
    status: str
    revision: int

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def added(self) -> list[str]:
        return [section_name(s) for s in self.add]

    @property
    def removed(self) -> list[str]:
        return [section_name(s) for s in self.remove]


def section_name(section_id: str) -> str:
    """'5.4.3 Sitoutunut ja kyvykäs henkilöstö'."""
    section = load_taxonomy().get(section_id)
    return f"{section_id} {section.title}" if section is not None else section_id


def actor_of(request: Request, viewer: Viewer) -> Actor:
    """The viewer as a corrector: the office's roles first when they act for it, else their owner roles."""
    directory = request.app.state.owners.current
    office_ids = request.app.state.settings.office_owners(directory.default_owner)
    if viewer.office:
        return Actor(tuple(sorted(viewer.owners & office_ids)) + tuple(sorted(viewer.owners - office_ids)), True)
    return Actor(tuple(sorted(viewer.owners)), False)


async def routes_of(request: Request, response_id: str, latest: ResponseClassified | None = None) -> StatementRoutes | None:  # fmt: skip
    store: CorrectionsStore = request.app.state.corrections
    return await store.routes(response_id, latest)


def forms(request: Request, viewer: Viewer, routes: StatementRoutes, paragraph_ids: Iterable[str]) -> dict[str, Choices]:  # fmt: skip
    """The correction form's choices per paragraph the viewer may correct (the first of identical ones only: a
    correction of one applies to both)."""
    actor = actor_of(request, viewer)
    taxonomy, directory = load_taxonomy(), request.app.state.owners.current
    found: dict[str, Choices] = {}
    for paragraph_id in paragraph_ids:
        if paragraph_id not in found and (offered := choices(actor, routes, paragraph_id, taxonomy, directory)):
            found[paragraph_id] = offered
    return found


def shown_corrections(routes: StatementRoutes) -> list[ShownCorrection]:
    """Every correction of the statement, oldest first: those kept here, and any the latest routing lists that
    were made elsewhere (another workspace before a restore, say)."""
    shown = [
        ShownCorrection(
            c.id, c.paragraph_id, c.question, c.text, c.add, c.remove, c.by_role, c.reason, c.corrected_at,
            routes.status(c.id), c.revision,
        )
        for c in routes.corrections
    ]  # fmt: skip
    known = {c.id for c in routes.corrections}
    for listed in routes.event.corrections:
        if listed.correction_id not in known:
            shown.append(
                ShownCorrection(
                    listed.correction_id, listed.paragraph_id, None, None, listed.add, listed.remove,
                    listed.by_role, listed.reason, listed.corrected_at, listed.status, listed.revision,
                )
            )  # fmt: skip
    return sorted(shown, key=lambda c: c.corrected_at)


def by_paragraph(shown: list[ShownCorrection]) -> dict[str, list[ShownCorrection]]:
    found: dict[str, list[ShownCorrection]] = {}
    for correction in shown:
        found.setdefault(correction.paragraph_id, []).append(correction)
    return found


def field_id(field: str | None, paragraph_id: str, form: Choices | None) -> str:
    """The id of the form's element a refusal points at (what the error summary links to)."""
    if field == "poista" and form is not None and not form.removable:
        field = "lisaa"
    if field in ("syy", "lisaa", "poista"):
        return f"{field}-{paragraph_id}"
    return f"kohta-{paragraph_id}"
