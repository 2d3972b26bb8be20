"""The strategy taxonomy: every numbered section of the draft service strategy, read from its text
(`strategy_text.parse_strategy` reads the draft; its docstring says how headings and bodies are told apart)."""

from __future__ import annotations

import functools
import importlib.resources

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

DATA_FILE = "palvelustrategia-luonnos-2026.txt"


class Section(BaseModel):
    """One numbered section of the strategy draft: a possible routing target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        pattern=r"^\d+(?:\.\d+)*$", description="The section number as printed in the draft, e.g. '5.3.1.2'."
    )
    title: str = Field(min_length=1, description="The section's title as printed in the draft, e.g. 'Kuntayhteistyö'.")
    parent: str | None = Field(
        default=None,
        description="Id of the enclosing section (e.g. '5.3.1' for '5.3.1.2'); None for top-level chapters.",
    )
    body: str = Field(
        default="",
        description=(
            "The section's own text up to the next heading, subsections excluded, without page numbers, "
            "captions or footnotes: single spaces within paragraphs, a blank line between paragraphs."
        ),
    )

    @property
    def depth(self) -> int:
        """How deep the section is: 1 for a chapter ('5'), 4 for '5.3.1.2'."""
        return len(self.id.split("."))


class Taxonomy(BaseModel):
    """All sections of the strategy draft in document order, with lookups along the section tree.

    Lookups of an id that is not in the taxonomy return None, an empty list or False.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sections: tuple[Section, ...] = Field(description="Every numbered section of the draft, in document order.")

    _by_id: dict[str, Section] = PrivateAttr(default_factory=dict)
    _children: dict[str, list[Section]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _tree(self) -> Taxonomy:
        seen: set[str] = set()
        for section in self.sections:
            if section.id in seen:
                raise ValueError(f"section {section.id!r} appears twice")
            if section.parent is not None and section.parent not in seen:
                raise ValueError(f"section {section.id!r}: parent {section.parent!r} does not precede it")
            seen.add(section.id)
        return self

    def model_post_init(self, context: object, /) -> None:
        self._by_id.update((section.id, section) for section in self.sections)
        for section in self.sections:
            if section.parent is not None:
                self._children.setdefault(section.parent, []).append(section)

    def __contains__(self, section_id: object) -> bool:
        return isinstance(section_id, str) and section_id in self._by_id

    def get(self, section_id: str) -> Section | None:
        """The section with this id, or None."""
        return self._by_id.get(section_id)

    def ids(self) -> list[str]:
        """All section ids in document order."""
        return [section.id for section in self.sections]

    def children(self, section_id: str) -> list[Section]:
        """The sections directly below this one, in document order."""
        return list(self._children.get(section_id, ()))

    def ancestors(self, section_id: str) -> list[str]:
        """Ids of the enclosing sections, nearest first ('5.3.1.2' -> ['5.3.1', '5.3', '5'])."""
        result: list[str] = []
        section = self._by_id.get(section_id)
        while section is not None and section.parent is not None:
            result.append(section.parent)
            section = self._by_id.get(section.parent)
        return result

    def descendants(self, section_id: str) -> list[str]:
        """Ids of every section below this one, in document order."""
        result: list[str] = []
        stack = list(reversed(self._children.get(section_id, ())))
        while stack:
            section = stack.pop()
            result.append(section.id)
            stack.extend(reversed(self._children.get(section.id, ())))
        return result

    def is_within(self, section_id: str, ancestor_id: str) -> bool:
        """Whether the section is the given one or lies anywhere below it."""
        if section_id not in self._by_id or ancestor_id not in self._by_id:
            return False
        return section_id == ancestor_id or ancestor_id in self.ancestors(section_id)


@functools.cache
def load_taxonomy() -> Taxonomy:
    """The taxonomy of the packaged strategy draft (parsed once per process)."""
    from .strategy_text import parse_strategy  # the parser builds this module's models

    resource = importlib.resources.files("feedback_contracts") / "data" / DATA_FILE
    return parse_strategy(resource.read_text(encoding="utf-8"))
