"""What a report is made of: one statement's paragraphs in one section (a share), with each owner's handling of
them, and how those read in Finnish (owners, sections, questions, and how each paragraph was routed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from feedback_contracts.events import CorrectionNote, Reason
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy
from feedback_contracts.wording import explain

from ..items import NO_SECTION, State

# Characters XML 1.0 cannot hold (control characters other than tab, newline and carriage return; lone surrogates):
# respondent text keeps everything else, markup included, as text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
NO_SECTION_LABEL = "Ei tunnistettua lukua"
UNHANDLED = "Käsittelemättä"
HANDLED = "Käsitelty"
AUTOMATIC = "automaattinen"


def clean(text: str | None) -> str:
    """`text` without the characters a file format cannot carry; None as ''."""
    return _NOT_XML.sub("", text) if text else ""


@dataclass(frozen=True, slots=True)
class Handling:
    """One owner's handling of a share: the state and note of their item. `state` None: an earlier revision,
    whose paragraphs are handled as part of the latest one."""

    owner_id: str
    state: State | None
    note: str | None

    @property
    def handled(self) -> bool:
        return self.state is State.HANDLED


@dataclass(frozen=True, slots=True)
class Share:
    """A statement's paragraphs routed to one section in one revision, and how each owner of it has handled them.
    `paragraphs` are the items' own: {"index", "question", "text", "score", "reasons"} in document order."""

    section_id: str
    section_title: str | None
    response_id: str
    revision: int
    organization: str
    respondent_type: str
    received_at: datetime
    paragraphs: list[dict]
    handlings: tuple[Handling, ...]
    latest: bool = True

    @property
    def handled(self) -> bool:
        """Whether somebody has handled it; an earlier revision counts as handled when the latest is."""
        return any(h.handled for h in self.handlings)


@dataclass(frozen=True)
class Routing:
    """How a paragraph came to a section: automatically, or moved there by a person (who, when and why)."""

    corrections: tuple[CorrectionNote, ...]
    reasons: tuple[str, ...]  # each reason in Finnish, as owners read them everywhere

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)

    @property
    def corrected_by(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(note.by_role for note in self.corrections))


def routing_of(paragraph: dict, respondent_type: str) -> Routing:
    """How `paragraph` (an item's) was routed: its reasons in Finnish, and the corrections among them."""
    rtype = _respondent_type(respondent_type)
    reasons = [Reason.model_validate(r) for r in paragraph.get("reasons", ())]
    corrections = tuple(r.correction for r in reasons if r.kind == "correction" and r.correction is not None)
    return Routing(corrections, tuple(explain(r, rtype) for r in reasons))


def _respondent_type(code: str) -> RespondentType:
    try:
        return RespondentType(code)
    except ValueError:
        return RespondentType.MUNICIPALITY  # only the wording of a respondent_type reason uses it


class Labels:
    """Names as the office reads them: owner roles from the directory, sections from the taxonomy, questions
    from the questionnaire, respondent types in Finnish."""

    def __init__(self, taxonomy: Taxonomy, directory: OwnersDirectory | None = None) -> None:
        self.taxonomy = taxonomy
        self.directory = directory
        self._order = {s.id: n for n, s in enumerate(taxonomy.sections)}

    def owner(self, owner_id: str) -> str:
        found = self.directory.get(owner_id) if self.directory is not None else None
        return found.name if found is not None else owner_id

    def routing(self, routing: Routing) -> str:
        """'automaattinen', or 'korjattu (<role>)' for a paragraph a person moved here."""
        if not routing.corrected:
            return AUTOMATIC
        return "korjattu (" + ", ".join(self.owner(role) for role in routing.corrected_by) + ")"

    def section(self, section_id: str, title: str | None) -> str:
        if section_id == NO_SECTION:
            return NO_SECTION_LABEL
        return f"{section_id} {title}" if title else section_id

    def section_title(self, section_id: str, title: str | None) -> str:
        if section_id == NO_SECTION:
            return NO_SECTION_LABEL
        known = self.taxonomy.get(section_id)
        return title or (known.title if known is not None else "")

    def section_order(self, section_id: str) -> tuple[int, str]:
        """Where a section goes in a report: the strategy's order; sections the draft no longer has after it, and
        the paragraphs that matched no section last."""
        if section_id == NO_SECTION:
            return (len(self._order) + 1, "")
        return (self._order.get(section_id, len(self._order)), section_id)

    @staticmethod
    def question(number: int) -> str:
        return question_text(number)

    @staticmethod
    def respondent_type(code: str) -> str:
        """'Kunta tai kaupunki': the type's Finnish name, capitalised to stand alone."""
        try:
            label = RespondentType(code).label_fi
        except ValueError:
            label = code
        return label[:1].upper() + label[1:]


@lru_cache(maxsize=128)
def question_text(number: int) -> str:
    """The form's question, where its text is known; '' where not."""
    try:
        return load_questionnaire().question(number).text or ""
    except (KeyError, LookupError, ValueError):
        return ""


RESPONDENT_TYPE_ORDER = {rtype.value: n for n, rtype in enumerate(RespondentType)}


def share_key(share: Share, labels: Labels) -> tuple:
    """The order of a report: strategy section, respondent type, organisation, statement, revision."""
    return (
        labels.section_order(share.section_id),
        RESPONDENT_TYPE_ORDER.get(share.respondent_type, len(RESPONDENT_TYPE_ORDER)),
        share.organization,
        share.response_id,
        share.revision,
    )
