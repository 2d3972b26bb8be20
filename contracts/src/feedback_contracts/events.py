"""Events on Kafka, versioned; each model lives beside its topic name.

Events are named in the past tense. Keys of the statement events are the response id, so every revision of
one response lands on the same partition and is processed in order; the workspace's reminders are keyed by
the owner they are for.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .respondents import RespondentType
from .responses import Answer, ResponseId

RESPONSES_TOPIC = "feedback.responses.v1"
CLASSIFIED_TOPIC = "feedback.classified.v1"
# The workspace's reminders to owners and notices to the strategy office, delivered by notify.
REMINDERS_TOPIC = "feedback.reminders.v1"
# Corrections of routes made in the workspace, applied by classify (which publishes the routes again).
CORRECTIONS_TOPIC = "feedback.corrections.v1"
DLQ_SUFFIX = ".dlq"
RESPONSES_DLQ_TOPIC = RESPONSES_TOPIC + DLQ_SUFFIX
CLASSIFIED_DLQ_TOPIC = CLASSIFIED_TOPIC + DLQ_SUFFIX
REMINDERS_DLQ_TOPIC = REMINDERS_TOPIC + DLQ_SUFFIX
CORRECTIONS_DLQ_TOPIC = CORRECTIONS_TOPIC + DLQ_SUFFIX
ALL_TOPICS = (
    RESPONSES_TOPIC,
    CLASSIFIED_TOPIC,
    REMINDERS_TOPIC,
    CORRECTIONS_TOPIC,
    RESPONSES_DLQ_TOPIC,
    CLASSIFIED_DLQ_TOPIC,
    REMINDERS_DLQ_TOPIC,
    CORRECTIONS_DLQ_TOPIC,
)

# Header carrying the event's schema name, so a consumer can refuse what it does not understand.
EVENT_TYPE_HEADER = "event-type"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublicRespondent(_Event):
    """What downstream services may know about the respondent: the organisation and the role, no contact data."""

    organization: str = Field(description="The organisation represented.")
    title: str | None = Field(description="The respondent's title in that organisation, if known.")


class ResponseReceived(_Event):
    """A response revision was accepted by ingest. Topic `feedback.responses.v1`, key `response_id`.

    Carries no email address, phone number or name of the respondent: those stay in ingest's store.
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    survey_id: str = Field(description="The survey's id in the form tool.")
    response_id: ResponseId
    revision: int = Field(ge=1, description="The revision of the response this event carries.")
    replaces_revision: int | None = Field(
        default=None,
        ge=1,
        description="The revision this one replaces when it is an edit; None for a first submission.",
    )
    submitted_at: AwareDatetime = Field(description="When the respondent submitted this revision.")
    received_at: AwareDatetime = Field(description="When ingest accepted it; the start of end-to-end latency.")
    source: Literal["form", "import"] = Field(
        description="'form' for the survey form, 'import' for the document importer."
    )
    respondent: PublicRespondent
    respondent_type: RespondentType
    answers: tuple[Answer, ...] = Field(description="The answers, in question order.")


# A correction id names one correction for good (notify's delivery key of the alert it causes is made of it):
# letters, digits, "-", "_" and ".", never only digits.
CORRECTION_ID_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z_.-][A-Za-z0-9_.-]*$"
SECTION_ID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"


class PrecedentSource(_Event):
    """The earlier paragraph a `precedent` reason follows: a corrected route, or a labelled paragraph of a file."""

    source: Literal["correction", "labels"] = Field(
        description="correction: a route an owner or the office corrected; labels: a labels file loaded at start."
    )
    response_id: str | None = Field(
        default=None, description="The earlier statement (its response id, or the labels file's document name)."
    )
    paragraph_id: str | None = Field(default=None, description="The earlier paragraph's id, where it has one.")
    similarity: float = Field(ge=0, le=1, description="How closely this paragraph resembles the earlier one, 0-1.")


class CorrectionNote(_Event):
    """Who corrected a route, when and why: carried by a `correction` reason."""

    correction_id: str = Field(pattern=CORRECTION_ID_PATTERN, max_length=100, description="The correction's id.")
    by_role: str = Field(description="The role (owner id or the strategy office) that made the correction.")
    reason: str = Field(description="Why, in the corrector's words.")
    corrected_at: AwareDatetime = Field(description="When the correction was made.")


class Reason(_Event):
    """Why a paragraph was routed to a section: shown to the owner who receives it."""

    kind: Literal[
        "reference", "title", "terms", "similarity", "respondent_type", "question", "precedent", "correction", "default"
    ] = Field(
        description=(
            "reference: the text names the section; title: it names the section's title; terms: words of the section; "
            "similarity: the paragraph resembles the section's text; respondent_type: the respondent's partner section; "
            "question: the question the paragraph answers resembles the section's text and leaned the paragraph towards "
            "it (which question: the paragraph's `question`); precedent: the paragraph closely resembles one routed here "
            "before by a person (`precedent`); correction: a person moved the paragraph here (`correction`); "
            "default: nothing matched, sent to the default owner."
        )
    )
    match: str | None = Field(
        default=None, description="The evidence as it stands in the paragraph, e.g. 'luvussa 5.2.2'."
    )
    span: tuple[int, int] | None = Field(
        default=None, description="Character offsets [start, end) of `match` in the paragraph's text."
    )
    terms: tuple[str, ...] = Field(
        default=(),
        description=(
            "The matching words as the text writes them (whole words, never base forms or compound parts): for "
            "'terms' the paragraph's words that are the section's listed words; for 'similarity' and 'question' the "
            "paragraph's or the question's words that share a base form with the section's text."
        ),
    )
    score: float | None = Field(default=None, description="The signal's own score, where it has one.")
    precedent: PrecedentSource | None = Field(default=None, description="For 'precedent': the earlier paragraph.")
    correction: CorrectionNote | None = Field(default=None, description="For 'correction': who, when and why.")


class Paragraph(_Event):
    """One paragraph of an answer, as a reader would see it."""

    index: int = Field(ge=0, description="Position of the paragraph in the whole response, from 0.")
    question: int = Field(ge=1, le=84, description="The global number of the question it answers.")
    text: str = Field(description="The paragraph's text.")

    @property
    def paragraph_id(self) -> str:
        """The paragraph's stable id: the same for the same text of the same question in every revision."""
        return paragraph_id(self.question, self.text)


def paragraph_id(question: int, text: str) -> str:
    """A paragraph's id, "q<question>-<12 hex digits of its text's SHA-256>": stable across revisions while the
    paragraph does not change, so a correction made on one revision finds its paragraph in the next. Two
    identical paragraphs of one question share it (and a correction of one applies to both)."""
    return f"q{question}-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RoutedParagraph(_Event):
    """A paragraph routed to a section, with its score and reasons."""

    paragraph: int = Field(ge=0, description="Index into the event's `paragraphs`.")
    score: float = Field(ge=0, description="Confidence of the route, 0-1.")
    reasons: tuple[Reason, ...] = Field(min_length=1, description="Why the paragraph was routed here; at least one.")


class SectionRoute(_Event):
    """Everything of one response that concerns one section, and who owns it."""

    section_id: str | None = Field(
        description="Strategy section id (e.g. '5.3.1.2'); None for paragraphs that matched no section."
    )
    section_title: str | None = Field(description="The section's title from the strategy draft.")
    owners: tuple[str, ...] = Field(
        min_length=1, description="Ids of the owners who receive it (the default owner if nobody covers the section)."
    )
    paragraphs: tuple[RoutedParagraph, ...] = Field(
        min_length=1, description="The routed paragraphs, in document order."
    )


class AppliedCorrection(_Event):
    """A correction as it stands for one revision: applied, or dropped because its paragraph changed."""

    correction_id: str = Field(pattern=CORRECTION_ID_PATTERN, max_length=100, description="The correction's id.")
    paragraph_id: str = Field(description="The corrected paragraph's id.")
    revision: int = Field(ge=1, description="The revision the correction was made on.")
    add: tuple[str, ...] = Field(default=(), description="Sections the paragraph was sent to.")
    remove: tuple[str, ...] = Field(default=(), description="Sections the paragraph was taken from.")
    by_role: str = Field(description="The role that made the correction.")
    reason: str = Field(description="Why, in the corrector's words.")
    corrected_at: AwareDatetime = Field(description="When the correction was made.")
    status: Literal["applied", "dropped"] = Field(
        description="applied: in force on this revision; dropped: the paragraph changed in this revision, so the "
        "correction no longer applies to it."
    )


class ResponseClassified(_Event):
    """A response revision was split into paragraphs and routed. Topic `feedback.classified.v1`, key `response_id`.

    A revision is routed again (`routing` one higher) when a correction of its routes is applied; consumers order
    by (revision, routing).
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    survey_id: str = Field(description="The survey's id in the form tool.")
    response_id: ResponseId
    revision: int = Field(ge=1, description="The revision that was classified.")
    replaces_revision: int | None = Field(default=None, ge=1, description="The revision this one replaces, if an edit.")
    received_at: AwareDatetime = Field(description="When ingest accepted the revision (for end-to-end latency).")
    classified_at: AwareDatetime = Field(description="When classify routed it.")
    respondent: PublicRespondent
    respondent_type: RespondentType
    paragraphs: tuple[Paragraph, ...] = Field(description="All paragraphs of the response.")
    routes: tuple[SectionRoute, ...] = Field(description="Per routed section: its owners, paragraphs and reasons.")
    routing: int = Field(
        default=1, ge=1, description="1 for the revision's first routing; one higher each time a correction re-routes it."
    )
    correction_id: str | None = Field(
        default=None,
        pattern=CORRECTION_ID_PATTERN,
        max_length=100,
        description="The correction this routing was published for; None for the routing of a new revision.",
    )
    corrections: tuple[AppliedCorrection, ...] = Field(
        default=(), description="Every correction of this response, applied to this revision or dropped from it."
    )

    def owners(self) -> list[str]:
        """Every owner who receives something of this response, in first-seen order."""
        seen: dict[str, None] = {}
        for route in self.routes:
            for owner in route.owners:
                seen.setdefault(owner, None)
        return list(seen)


class RouteCorrected(_Event):
    """A person corrected where a paragraph is routed. Topic `feedback.corrections.v1`, key `response_id`.

    Published by the workspace after checking the response, paragraph, sections and the corrector's right to
    make it; classify applies it to the response's latest routing and publishes `ResponseClassified` again.
    Each correction id is applied once, however often it is published.
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    correction_id: str = Field(
        pattern=CORRECTION_ID_PATTERN, max_length=100, description="This correction's id: applied once."
    )
    response_id: ResponseId
    revision: int = Field(ge=1, description="The revision the corrector saw.")
    paragraph_id: str = Field(max_length=64, description="The paragraph's id (`Paragraph.paragraph_id`).")
    question: int = Field(ge=1, le=84, description="The question the paragraph answers.")
    text: str = Field(description="The paragraph's text as the corrector saw it (what precedents learn from).")
    respondent_type: RespondentType
    add: tuple[str, ...] = Field(default=(), description="Section ids the paragraph belongs to as well.")
    remove: tuple[str, ...] = Field(default=(), description="Section ids the paragraph does not belong to.")
    by_role: str = Field(min_length=1, max_length=64, description="The role that made it: an owner id or the office.")
    reason: str = Field(min_length=1, max_length=1000, description="Why, in the corrector's words.")
    corrected_at: AwareDatetime = Field(description="When it was made.")

    @model_validator(mode="after")
    def _changes_something(self) -> RouteCorrected:
        if not self.add and not self.remove:
            raise ValueError("a correction adds or removes at least one section")
        if set(self.add) & set(self.remove):
            raise ValueError("a correction cannot both add and remove the same section")
        for section in (*self.add, *self.remove):
            if not re.fullmatch(SECTION_ID_PATTERN, section):
                raise ValueError(f"not a section id: {section!r}")
        if not self.reason.strip():
            raise ValueError("a correction needs a reason")
        return self

    def note(self) -> CorrectionNote:
        return CorrectionNote(
            correction_id=self.correction_id, by_role=self.by_role, reason=self.reason, corrected_at=self.corrected_at
        )


# A reminder id names one reminder for good (notify's delivery key is made of it): letters, digits, "-", "_"
# and ".", never only digits.
REMINDER_ID_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z_.-][A-Za-z0-9_.-]*$"


class OverdueItem(_Event):
    """An owner's item in the workspace (one statement, one section) still waiting to be read."""

    item_id: int = Field(ge=1, description="The item's id in the workspace: its page is <workspace_url>/kohteet/<id>.")
    owner_id: str = Field(description="The owner role the item was routed to.")
    response_id: ResponseId
    section_id: str | None = Field(description="The strategy section; None for paragraphs that matched no section.")
    section_title: str | None = Field(description="The section's title from the strategy draft.")
    organization: str = Field(description="The organisation the statement came from.")
    respondent_type: RespondentType
    paragraph_count: int = Field(ge=1, description="How many of the statement's paragraphs the item holds.")
    waiting_since: AwareDatetime = Field(description="When the item arrived, or became new again.")
    reminded_at: AwareDatetime | None = Field(
        default=None, description="When its owner was reminded of it (in an escalation)."
    )


class ItemsOverdue(_Event):
    """Items of the owners' workspace are still new after the configured working days. Topic
    `feedback.reminders.v1`, key `recipient_owner_id`.

    kind 'reminder': the recipient's own items waited `working_days` working days since they arrived;
    'escalation': the recipient is the strategy office, and the items are still new `working_days` working
    days after their owners were reminded. Each reminder id is delivered once, however often it is published.
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    reminder_id: str = Field(
        pattern=REMINDER_ID_PATTERN, max_length=100, description="This reminder's id: notify delivers each id once."
    )
    kind: Literal["reminder", "escalation"] = Field(
        description="reminder: to the items' owner; escalation: to the strategy office."
    )
    recipient_owner_id: str = Field(description="The owner role to tell.")
    working_days: int = Field(
        ge=1, description="reminder: working days the items have waited; escalation: working days since the reminder."
    )
    items: tuple[OverdueItem, ...] = Field(
        min_length=1, description="The items, longest waiting first (at most a hundred of them are listed)."
    )
    item_count: int = Field(ge=1, description="How many items the reminder is about in all.")
    workspace_url: str = Field(description="The workspace's address, for links to its pages.")
    created_at: AwareDatetime = Field(description="When the workspace decided to remind.")

    @model_validator(mode="after")
    def _counts_every_listed_item(self) -> ItemsOverdue:
        if self.item_count < len(self.items):
            raise ValueError("item_count is less than the items listed")
        return self


class DeadLetter(_Event):
    """A message a service could not process, parked on `<topic>.dlq` with everything needed to replay it."""

    schema_version: Literal[1] = Field(default=1, description="Version of this envelope's schema.")
    original_topic: str = Field(description="Topic the message was read from.")
    partition: int = Field(ge=0, description="Its partition.")
    offset: int = Field(ge=0, description="Its offset.")
    key: str | None = Field(description="Its key, decoded as UTF-8 (with replacement characters if it was not).")
    payload: str = Field(description="The payload as received, decoded per `payload_encoding`.")
    payload_encoding: Literal["utf-8", "base64"] = Field(description="'base64' when the payload was not valid UTF-8.")
    error_type: str = Field(description="The exception's class name.")
    error_message: str = Field(description="What went wrong.")
    service: str = Field(description="The service that gave up on it.")
    attempts: int = Field(ge=1, description="How many times processing was tried.")
    failed_at: datetime = Field(description="When the service gave up.")


def dead_letter_for(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException,
    service: str,
    attempts: int,
    failed_at: datetime,
) -> DeadLetter:
    """The envelope that parks an unprocessable record on `<topic>.dlq`, payload kept byte for byte."""
    raw = value or b""
    try:
        payload, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return DeadLetter(
        original_topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        payload=payload,
        payload_encoding=encoding,  # type: ignore[arg-type]
        error_type=type(error).__name__,
        error_message=str(error)[:2000],
        service=service,
        attempts=attempts,
        failed_at=failed_at,
    )
