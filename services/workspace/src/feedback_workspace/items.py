"""What a classified revision means for the owners' items: pure decisions, no I/O.

An item is one owner's share of one statement in one section. A new revision updates the statement's items:
an item whose paragraphs did not change keeps its state (and note); one whose paragraphs changed is `uusi`
again; an item the new revision no longer routes is marked withdrawn, its state kept for the record.

A re-routing of the same revision (a correction applied by classify) moves paragraphs between items: an item that
gains a paragraph is `uusi` (a new one is made for an owner who had none), an item that only loses paragraphs
keeps its state, and one left with none is withdrawn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from feedback_contracts.events import ResponseClassified, paragraph_id

# The section id of the paragraphs that matched no section: the default owner's queue.
NO_SECTION = ""


class State(StrEnum):
    """An item's state, as owners see it."""

    NEW = "uusi"
    READ = "luettu"
    HANDLED = "kasitelty"
    NOT_MINE = "ei_minulle"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {State.NEW: "Uusi", State.READ: "Luettu", State.HANDLED: "Käsitelty", State.NOT_MINE: "Ei minulle"}
# A reason is required to say an item is not one's own, so the office can route it on.
STATES_NEEDING_A_NOTE = frozenset({State.NOT_MINE})
MAX_NOTE_CHARS = 4000


@dataclass(frozen=True)
class ItemContent:
    """One owner's share of one revision in one section."""

    owner_id: str
    section_id: str
    section_title: str | None
    paragraphs: list[dict] = field(hash=False)

    @property
    def digest(self) -> str:
        """Identifies the paragraphs' content: the same questions and texts give the same digest."""
        shown = [[p["question"], p["text"]] for p in self.paragraphs]
        return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner_id, self.section_id)

    @property
    def paragraph_ids(self) -> frozenset[str]:
        return paragraph_ids(self.paragraphs)


def paragraph_ids(paragraphs: list[dict]) -> frozenset[str]:
    """The stable ids of an item's paragraphs ({"question", "text", ...} each)."""
    return frozenset(paragraph_id(p["question"], p["text"]) for p in paragraphs)


@dataclass(frozen=True)
class StoredItem:
    """What the decision needs of an item already stored for the statement."""

    id: int
    owner_id: str
    section_id: str
    paragraphs_digest: str
    state: State
    withdrawn: bool
    # The ids of its paragraphs: read for a re-routing only, which compares them.
    paragraph_ids: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner_id, self.section_id)


@dataclass
class ItemChanges:
    """What one revision does to a statement's items."""

    created: list[ItemContent] = field(default_factory=list)
    # Items whose paragraphs are as before: they take the new revision and keep their state.
    carried: list[tuple[StoredItem, ItemContent]] = field(default_factory=list)
    # Items whose paragraphs changed: new content, and `uusi` again.
    changed: list[tuple[StoredItem, ItemContent]] = field(default_factory=list)
    withdrawn: list[StoredItem] = field(default_factory=list)
    # A re-routing's items that only lost paragraphs: new content, their state kept.
    shrunk: list[tuple[StoredItem, ItemContent]] = field(default_factory=list)
    # The correction a re-routing applied; None for a new revision. Its created and changed items gained
    # paragraphs by it, its shrunk and withdrawn ones lost them.
    correction_id: str | None = None


def item_contents(event: ResponseClassified) -> list[ItemContent]:
    """Each owner's share of the revision, per section, in the event's section order."""
    by_index = {p.index: p for p in event.paragraphs}
    contents: list[ItemContent] = []
    for route in event.routes:
        paragraphs = [
            {
                "index": routed.paragraph,
                "question": by_index[routed.paragraph].question,
                "text": by_index[routed.paragraph].text,
                "score": routed.score,
                "reasons": [r.model_dump(mode="json", exclude_defaults=True) for r in routed.reasons],
            }
            for routed in route.paragraphs
        ]
        for owner_id in route.owners:
            contents.append(ItemContent(owner_id, route.section_id or NO_SECTION, route.section_title, paragraphs))
    return contents


def decide(event: ResponseClassified, stored: list[StoredItem]) -> ItemChanges:
    """The changes `event` makes to the statement's `stored` items."""
    changes = ItemChanges()
    existing = {item.key: item for item in stored}
    wanted = item_contents(event)
    for content in wanted:
        item = existing.get(content.key)
        if item is None:
            changes.created.append(content)
        elif item.paragraphs_digest == content.digest and not item.withdrawn:
            changes.carried.append((item, content))
        else:
            changes.changed.append((item, content))
    keys = {content.key for content in wanted}
    changes.withdrawn = [item for item in stored if item.key not in keys and not item.withdrawn]
    return changes


def decide_rerouting(event: ResponseClassified, stored: list[StoredItem]) -> ItemChanges:
    """The changes a re-routing of the stored revision (`event.routing` higher) makes: by the paragraphs each
    item gains or loses, not by its text (which a re-routing does not change). `stored` carry their paragraph ids."""
    changes = ItemChanges(correction_id=event.correction_id)
    existing = {item.key: item for item in stored}
    wanted = item_contents(event)
    for content in wanted:
        item = existing.get(content.key)
        if item is None:
            changes.created.append(content)
        elif item.withdrawn or content.paragraph_ids - item.paragraph_ids:
            changes.changed.append((item, content))
        elif item.paragraph_ids - content.paragraph_ids:
            changes.shrunk.append((item, content))
        else:
            changes.carried.append((item, content))
    keys = {content.key for content in wanted}
    changes.withdrawn = [item for item in stored if item.key not in keys and not item.withdrawn]
    return changes


def search_text(organization: str, content: ItemContent) -> str:
    return "\n".join([organization, *(p["text"] for p in content.paragraphs)]).casefold()
