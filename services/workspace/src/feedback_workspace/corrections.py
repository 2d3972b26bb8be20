"""Correcting routes: the rules every correction meets, whoever makes it and however (a page, the API), as pure
decisions on what the store holds of the statement (correcting.py reads and writes it).

A correction names one paragraph of the statement's latest revision by its stable id, the sections it belongs to
as well (`add`) and the ones it does not (`remove`), and why. The strategy office may add and remove any section;
an owner may correct only paragraphs that were routed to one of their roles (in any revision or routing), may
remove only sections they own, and may add any. The sections a paragraph has now are those of the latest routing
with the corrections classify has not yet applied laid over them, so a second correction made before the first
has come back is checked against what the paragraph will have.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from feedback_contracts.events import (
    CORRECTION_ID_PATTERN,
    Paragraph,
    ResponseClassified,
    RouteCorrected,
)
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy

# RouteCorrected's limits: a reason a person writes in a sentence or two, ids of bounded length.
MAX_REASON_CHARS = 1000
MAX_CORRECTION_ID_CHARS = 100
MAX_ROLE_CHARS = 64
Status = Literal["pending", "applied", "dropped"]
# The form's fields a refusal points at (the API names them in English in its message).
Field = Literal["syy", "lisaa", "poista", "kohta"]


class Refusal(Exception):
    """A correction refused: the HTTP status, the form field at fault, and the message in English (the API) and
    in Finnish (the pages)."""

    def __init__(self, status: int, english: str, finnish: str, field: Field | None = None) -> None:
        super().__init__(english)
        self.status = status
        self.english = english
        self.finnish = finnish
        self.field = field


@dataclass(frozen=True)
class Actor:
    """Who corrects: the roles a person acts as (the one named in the correction first) and whether they act
    for the strategy office."""

    roles: tuple[str, ...]
    office: bool

    @property
    def by(self) -> Literal["office", "owner"]:
        return "office" if self.office else "owner"


@dataclass(frozen=True)
class CorrectionRequest:
    """A correction as asked for, before the rules have looked at it."""

    response_id: str
    paragraph_id: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    reason: str
    correction_id: str | None = None


@dataclass(frozen=True)
class StoredCorrection:
    """A correction as the workspace keeps it: who, when and why."""

    id: str
    response_id: str
    revision: int
    paragraph_id: str
    question: int
    text: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    by_role: str
    by_office: bool
    reason: str
    corrected_at: datetime
    via: str

    def same_as(self, request: CorrectionRequest) -> bool:
        """Whether `request` asks for this very correction (sent again with its id)."""
        return (
            (self.response_id, self.paragraph_id) == (request.response_id, request.paragraph_id)
            and set(self.add) == set(request.add)
            and set(self.remove) == set(request.remove)
            and self.reason == request.reason.strip()
        )

    def event(self, respondent_type: RespondentType) -> RouteCorrected:
        return RouteCorrected(
            correction_id=self.id, response_id=self.response_id, revision=self.revision,
            paragraph_id=self.paragraph_id, question=self.question, text=self.text, respondent_type=respondent_type,
            add=self.add, remove=self.remove, by_role=self.by_role, reason=self.reason,
            corrected_at=self.corrected_at,
        )  # fmt: skip

    def as_json(self, status: Status) -> dict:
        return {
            "correction_id": self.id, "response_id": self.response_id, "revision": self.revision,
            "paragraph_id": self.paragraph_id, "question": self.question, "add": list(self.add),
            "remove": list(self.remove), "by_role": self.by_role, "by": "office" if self.by_office else "owner",
            "reason": self.reason, "corrected_at": self.corrected_at.isoformat(), "via": self.via, "status": status,
        }  # fmt: skip


@dataclass(frozen=True)
class StatementRoutes:
    """What the rules need of a statement: its latest routing, the corrections kept here, and every owner each
    paragraph was ever routed to."""

    event: ResponseClassified
    corrections: tuple[StoredCorrection, ...] = ()
    received_by: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def paragraph(self, paragraph_id: str) -> Paragraph | None:
        return next((p for p in self.event.paragraphs if p.paragraph_id == paragraph_id), None)

    def status(self, correction_id: str) -> Status:
        """applied or dropped as the latest routing says; pending while classify has not applied it yet."""
        listed = next((c for c in self.event.corrections if c.correction_id == correction_id), None)
        if listed is not None:
            return listed.status
        return "applied" if self.event.correction_id == correction_id else "pending"

    def pending(self) -> list[StoredCorrection]:
        return [c for c in self.corrections if self.status(c.id) == "pending"]

    def routed_sections(self, paragraph_id: str) -> dict[str, tuple[str, ...]]:
        """The sections the latest routing sends the paragraph to, with each one's owners."""
        indexes = {p.index for p in self.event.paragraphs if p.paragraph_id == paragraph_id}
        return {
            route.section_id: route.owners
            for route in self.event.routes
            if route.section_id is not None and any(rp.paragraph in indexes for rp in route.paragraphs)
        }

    def sections(self, paragraph_id: str) -> list[str]:
        """The sections the paragraph has now: the latest routing's, with the pending corrections laid over."""
        found = list(self.routed_sections(paragraph_id))
        for correction in self.pending():
            if correction.paragraph_id == paragraph_id:
                found = [s for s in found if s not in correction.remove]
                found += [s for s in correction.add if s not in found]
        return found


def new_correction_id() -> str:
    return f"correction-{uuid.uuid4().hex}"


def in_strategy_order(section_ids: Iterable[str], taxonomy: Taxonomy) -> tuple[str, ...]:
    """The ids once each, in the draft's order (unknown ones last, as given)."""
    unique = list(dict.fromkeys(s.strip() for s in section_ids if s.strip()))
    order = {s.id: n for n, s in enumerate(taxonomy.sections)}
    return tuple(sorted(unique, key=lambda s: order.get(s, len(order))))


def may_correct(actor: Actor, routes: StatementRoutes, paragraph_id: str) -> bool:
    """Whether the actor may correct this paragraph's routes at all."""
    return actor.office or bool(set(actor.roles) & routes.received_by.get(paragraph_id, frozenset()))


def owns(role: str, section_id: str, routes: StatementRoutes, paragraph_id: str, directory: OwnersDirectory) -> bool:
    """Whether `role` owns the section: the latest routing sends it the paragraph there, or the directory gives
    the section to it."""
    if role in routes.routed_sections(paragraph_id).get(section_id, ()):
        return True
    owner = directory.get(role)
    return owner is not None and owner.covers(section_id)


def check(
    request: CorrectionRequest,
    actor: Actor,
    routes: StatementRoutes | None,
    taxonomy: Taxonomy,
    directory: OwnersDirectory,
) -> str:
    """The role the correction is made by, if every rule holds; else `Refusal`. Input first (422), then the
    statement and paragraph (404), then the actor's right (403), then what the paragraph has now (409)."""
    reason = request.reason.strip()
    if not reason:
        raise Refusal(422, "a reason is required", "Kerro lyhyesti, miksi ohjausta korjataan.", "syy")
    if len(reason) > MAX_REASON_CHARS:
        raise Refusal(
            422, f"the reason is over {MAX_REASON_CHARS} characters",
            f"Perustelu on liian pitkä (enintään {MAX_REASON_CHARS} merkkiä).", "syy",
        )  # fmt: skip
    if not request.add and not request.remove:
        raise Refusal(
            422, "name at least one section to add or remove",
            "Valitse luku, josta kohta poistetaan, tai luku, johon se lisätään.", "lisaa",
        )  # fmt: skip
    for section in (*request.add, *request.remove):
        if section not in taxonomy:
            where = "lisaa" if section in request.add else "poista"
            raise Refusal(
                422, f"unknown section {section!r}: not a section of the strategy",
                f"Lukua {section} ei ole palvelustrategiassa.", where,
            )  # fmt: skip
    if both := [s for s in request.add if s in request.remove]:
        raise Refusal(
            422, f"section {both[0]} is both added and removed", "Samaa lukua ei voi sekä lisätä että poistaa.", "lisaa"
        )
    if request.correction_id is not None:
        _check_correction_id(request.correction_id)
    if routes is None:
        raise Refusal(404, f"no statement {request.response_id!r}", "Lausuntoa ei löydy.")
    if routes.paragraph(request.paragraph_id) is None:
        raise Refusal(
            404,
            f"paragraph {request.paragraph_id!r} is not in the latest revision ({routes.event.revision}) of "
            f"statement {request.response_id!r}",
            "Kohtaa ei ole lausunnon uusimmassa versiossa: lausunto on ehkä muuttunut. Korjaa uusimman version kohtaa.",
            "kohta",
        )  # fmt: skip
    by_role = _acting_role(request, actor, routes, directory)
    now = routes.sections(request.paragraph_id)
    if present := [s for s in request.add if s in now]:
        raise Refusal(
            409, f"the paragraph is already routed to section {present[0]}",
            f"Kohta on jo ohjattu lukuun {_title(present[0], taxonomy)}.", "lisaa",
        )  # fmt: skip
    if absent := [s for s in request.remove if s not in now]:
        raise Refusal(
            409, f"the paragraph is not routed to section {absent[0]}",
            f"Kohtaa ei ole ohjattu lukuun {_title(absent[0], taxonomy)}.", "poista",
        )  # fmt: skip
    return by_role


def _check_correction_id(correction_id: str) -> None:
    if len(correction_id) > MAX_CORRECTION_ID_CHARS or not re.fullmatch(CORRECTION_ID_PATTERN, correction_id):
        raise Refusal(
            422,
            f"correction_id must be at most {MAX_CORRECTION_ID_CHARS} letters, digits, '-', '_' or '.', not only digits",
            "Korjauksen tunniste ei kelpaa.",
        )


def _acting_role(request: CorrectionRequest, actor: Actor, routes: StatementRoutes, directory: OwnersDirectory) -> str:
    """The role named in the correction: the office's, or the first of the owner's roles that received the
    paragraph and owns every section removed. Refused (403) when none may."""
    if actor.office:
        return actor.roles[0]
    received = routes.received_by.get(request.paragraph_id, frozenset())
    mine = [role for role in actor.roles if role in received]
    if not mine:
        raise Refusal(
            403, f"the paragraph was never routed to {', '.join(actor.roles)}: an owner corrects only their own",
            "Voit korjata vain sinulle ohjattujen kohtien ohjausta.",
        )  # fmt: skip
    for role in mine:
        if all(owns(role, s, routes, request.paragraph_id, directory) for s in request.remove):
            return role
    foreign = next(
        s for s in request.remove if not any(owns(r, s, routes, request.paragraph_id, directory) for r in mine)
    )
    raise Refusal(
        403, f"an owner removes only their own sections; section {foreign} is not {mine[0]}'s",
        f"Voit poistaa kohdan vain omista luvuistasi: luku {foreign} ei ole sinun.", "poista",
    )  # fmt: skip


def _title(section_id: str, taxonomy: Taxonomy) -> str:
    section = taxonomy.get(section_id)
    return f"{section_id} {section.title}" if section is not None else section_id


@dataclass(frozen=True)
class Choices:
    """What a correction form offers for one paragraph: the sections the actor may remove (the paragraph has
    them) and those they may add (every other section of the strategy), each (id, title), in the draft's order."""

    paragraph_id: str
    removable: list[tuple[str, str]]
    addable: list[tuple[str, str]]


def choices(
    actor: Actor, routes: StatementRoutes, paragraph_id: str, taxonomy: Taxonomy, directory: OwnersDirectory
) -> Choices | None:
    """The form's choices, or None when the actor may not correct the paragraph."""
    if routes.paragraph(paragraph_id) is None or not may_correct(actor, routes, paragraph_id):
        return None
    now = set(routes.sections(paragraph_id))
    received = routes.received_by.get(paragraph_id, frozenset())
    roles = [r for r in actor.roles if r in received]
    removable = [
        (s.id, s.title)
        for s in taxonomy.sections
        if s.id in now and (actor.office or any(owns(r, s.id, routes, paragraph_id, directory) for r in roles))
    ]
    addable = [(s.id, s.title) for s in taxonomy.sections if s.id not in now]
    return Choices(paragraph_id, removable, addable)
