"""Events on Kafka, versioned; each model lives beside its topic name.

Events are named in the past tense. Keys of the statement events are the response id, so every revision of
one response lands on the same partition and is processed in order; the workspace's reminders are keyed by
the owner they are for.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .respondents import RespondentType
from .responses import Answer, ResponseId

RESPONSES_TOPIC = "feedback.responses.v1"
CLASSIFIED_TOPIC = "feedback.classified.v1"
# The workspace's reminders to owners and notices to the strategy office, delivered by notify.
REMINDERS_TOPIC = "feedback.reminders.v1"
DLQ_SUFFIX = ".dlq"
RESPONSES_DLQ_TOPIC = RESPONSES_TOPIC + DLQ_SUFFIX
CLASSIFIED_DLQ_TOPIC = CLASSIFIED_TOPIC + DLQ_SUFFIX
REMINDERS_DLQ_TOPIC = REMINDERS_TOPIC + DLQ_SUFFIX
ALL_TOPICS = (
    RESPONSES_TOPIC,
    CLASSIFIED_TOPIC,
    REMINDERS_TOPIC,
    RESPONSES_DLQ_TOPIC,
    CLASSIFIED_DLQ_TOPIC,
    REMINDERS_DLQ_TOPIC,
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


class Reason(_Event):
    """Why a paragraph was routed to a section: shown to the owner who receives it."""

    kind: Literal["reference", "title", "terms", "similarity", "respondent_type", "question", "default"] = Field(
        description=(
            "reference: the text names the section; title: it names the section's title; terms: words of the section; "
            "similarity: the paragraph resembles the section's text; respondent_type: the respondent's partner section; "
            "question: the question the paragraph answers resembles the section's text and leaned the paragraph towards "
            "it (which question: the paragraph's `question`); default: nothing matched, sent to the default owner."
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
            "Base forms of the matching words: for 'terms' the section's listed words found in the paragraph; for "
            "'similarity' and 'question' the words the paragraph or the question shares with the section's text."
        ),
    )
    score: float | None = Field(default=None, description="The signal's own score, where it has one.")


class Paragraph(_Event):
    """One paragraph of an answer, as a reader would see it."""

    index: int = Field(ge=0, description="Position of the paragraph in the whole response, from 0.")
    question: int = Field(ge=1, le=84, description="The global number of the question it answers.")
    text: str = Field(description="The paragraph's text.")


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


class ResponseClassified(_Event):
    """A response revision was split into paragraphs and routed. Topic `feedback.classified.v1`, key `response_id`."""

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

    def owners(self) -> list[str]:
        """Every owner who receives something of this response, in first-seen order."""
        seen: dict[str, None] = {}
        for route in self.routes:
            for owner in route.owners:
                seen.setdefault(owner, None)
        return list(seen)


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
