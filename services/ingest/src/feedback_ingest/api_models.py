"""The bodies of ingest's HTTP answers (and of the one request body FastAPI reads for it, the replay's)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from feedback_contracts.responses import ResponseId

from .store import RevisionState

# The answer to a request that failed for a reason of the service's own (the store is away): retry later.
RETRY_LATER = {"detail": "the request could not be completed; retry later"}


class Accepted(BaseModel):
    """The answer to an accepted (202) or repeated (200) response revision."""

    response_id: str
    revision: int
    status: Literal["accepted"] = "accepted"
    replaces_revision: int | None = Field(default=None, description="The revision this edit replaces, if any.")


class Problem(BaseModel):
    """An error answer."""

    detail: str = Field(description="What went wrong, in English.")


class RevisionView(BaseModel):
    """One stored revision and how far it got."""

    revision: int
    state: Literal["accepted", "published"] = Field(description="published: the broker acknowledged it.")
    replaces_revision: int | None
    source: Literal["form", "import"]
    submitted_at: datetime
    received_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, state: RevisionState) -> RevisionView:
        return cls(
            revision=state.revision,
            state=state.state,
            replaces_revision=state.replaces_revision,
            source=state.source,
            submitted_at=state.submitted_at,
            received_at=state.received_at,
            published_at=state.published_at,
        )


class ResponseView(BaseModel):
    """A response's latest revision and its state."""

    response_id: str
    survey_id: str
    latest: RevisionView
    revisions: int = Field(description="How many revisions are stored.")


class ReplayRequest(BaseModel):
    """Responses whose latest revision is to be published again."""

    model_config = {"extra": "forbid"}
    response_ids: list[ResponseId] = Field(max_length=100_000)


class ReplayAnswer(BaseModel):
    queued: int = Field(description="How many revisions were queued for publishing.")


class ContactView(BaseModel):
    """The respondent's contact data, as stored in ingest only."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
