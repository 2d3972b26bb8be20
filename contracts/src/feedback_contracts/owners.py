"""The owners directory: who owns which strategy sections, and how they want to hear about feedback.

The strategy office edits it as a YAML file:

    default_owner: strategiatoimisto
    owners:
      - id: kuntayhteistyo
        name: Kuntayhteistyön vastuuhenkilö
        chapters: ["5.3.1.2"]          # that section alone
        email: [kuntayhteistyo@example.org]
        webhook: null
        mode: immediate                # or digest, with digest_time "HH:MM" (Europe/Helsinki)
      - id: kumppanuudet
        chapters: ["5.3.*"]            # 5.3 and everything below it
        ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StringConstraints, model_validator

if TYPE_CHECKING:
    from .taxonomy import Taxonomy

SECTION_ID = r"\d+(?:\.\d+)*"
ChapterPattern = Annotated[str, StringConstraints(pattern=rf"^{SECTION_ID}(?:\.\*)?$")]
OwnerId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Owner(BaseModel):
    """A role that owns sections of the strategy, with the people or mailbox behind it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: OwnerId = Field(description="Stable id of the role (lowercase letters, digits, '-' and '_').")
    name: str = Field(min_length=1, description="The role's name, shown in alerts (Finnish).")
    chapters: tuple[ChapterPattern, ...] = Field(
        default=(), description="Sections owned: '5.3.1.2' is that section alone, '5.3.*' is 5.3 and all below it."
    )
    email: tuple[EmailStr, ...] = Field(default=(), description="Addresses that receive the alerts.")
    webhook: HttpUrl | None = Field(default=None, description="A chat webhook that receives the alerts.")
    webhook_format: Literal["json", "slack", "teams"] = Field(
        default="json",
        description="Payload shape: the product's JSON, or what Slack or Teams incoming webhooks accept.",
    )
    mode: Literal["immediate", "digest"] = Field(
        default="immediate", description="An alert per revision, or a daily digest."
    )
    digest_time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = Field(
        default="08:00", description="When the daily digest goes out (HH:MM, Europe/Helsinki)."
    )

    @model_validator(mode="after")
    def _has_a_channel(self) -> Owner:
        if not self.email and self.webhook is None:
            raise ValueError(f"owner {self.id!r} has neither an email address nor a webhook")
        return self

    def covers(self, section_id: str) -> bool:
        """Whether this owner's entry covers the section."""
        return any(_pattern_covers(pattern, section_id) for pattern in self.chapters)


def _pattern_covers(pattern: str, section_id: str) -> bool:
    if pattern.endswith(".*"):
        root = pattern[:-2]
        return section_id == root or section_id.startswith(root + ".")
    return section_id == pattern


class OwnersDirectory(BaseModel):
    """All owners and the default owner who receives whatever nobody else covers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_owner: OwnerId = Field(description="Id of the owner who receives sections nobody covers.")
    owners: tuple[Owner, ...] = Field(min_length=1, description="The owners.")
    section_terms: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Optional owner-curated words per section id (any inflection); a paragraph using one is routed there.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OwnersDirectory:
        ids = [owner.id for owner in self.owners]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"owner ids must be unique; repeated: {', '.join(duplicates)}")
        if self.default_owner not in ids:
            raise ValueError(f"default_owner {self.default_owner!r} is not one of the owners")
        return self

    def get(self, owner_id: str) -> Owner | None:
        return next((owner for owner in self.owners if owner.id == owner_id), None)

    def owners_for(self, section_id: str | None) -> list[Owner]:
        """Every owner whose entry covers the section; the default owner when nobody's does."""
        if section_id is not None:
            covering = [owner for owner in self.owners if owner.covers(section_id)]
            if covering:
                return covering
        default = self.get(self.default_owner)
        assert default is not None  # guaranteed by _consistent
        return [default]

    def check(self, taxonomy: Taxonomy) -> list[str]:
        """Problems that make the directory unusable with this taxonomy (unknown section ids), one message each."""
        problems = [
            f"section_terms: unknown section {section_id!r}"
            for section_id in self.section_terms
            if section_id not in taxonomy
        ]
        for owner in self.owners:
            for pattern in owner.chapters:
                root = pattern[:-2] if pattern.endswith(".*") else pattern
                if root not in taxonomy:
                    problems.append(f"owner {owner.id!r}: unknown section {root!r} (in {pattern!r})")
        return problems

    def default_only_sections(self, section_ids: Iterable[str]) -> list[str]:
        """Sections that no owner covers, so only the default owner would get them."""
        return [sid for sid in section_ids if not any(owner.covers(sid) for owner in self.owners)]


class OwnersFileError(ValueError):
    """The owners file cannot be read or is not a valid directory."""


def parse_owners(text: str, source: str = "<owners>") -> OwnersDirectory:
    """Parse an owners directory from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersFileError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise OwnersFileError(f"{source}: expected a mapping with 'default_owner' and 'owners'")
    try:
        return OwnersDirectory.model_validate(data)
    except ValueError as exc:
        raise OwnersFileError(f"{source}: {_compact(str(exc))}") from exc


def load_owners(path: str | Path) -> OwnersDirectory:
    """Read and validate an owners directory file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OwnersFileError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_owners(text, source=str(path))


def _compact(message: str) -> str:
    return re.sub(r"\n\s+For further information visit \S+", "", message)
