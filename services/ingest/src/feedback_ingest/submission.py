"""Submitting a response, for the route and the fast path alike: the one judgement of a request body
(`read_response`) and the one way a valid response is stored and answered (`Submission`)."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from feedback_contracts.responses import SurveyResponse

from .metrics import IngestMetrics
from .relay import OutboxRelay
from .store import ConflictError, IngestStore, Outcome

log = logging.getLogger("feedback.ingest")


@dataclass(frozen=True)
class Rejection:
    """Why a body holds no response: the status code (422, or 400 for JSON too deep to read) and the detail.

    `malformed`: the body is not JSON at all (FastAPI refuses such a body before it runs any dependency).
    """

    status: int
    detail: list[dict] | str
    malformed: bool = False


def read_response(body: bytes) -> SurveyResponse | Rejection:
    """The response revision a JSON body holds, or why it holds none, as FastAPI would judge a body parameter.

    Parsed and validated in one pass first. What that refuses is judged again the framework's way, json.loads
    and then the model, so the answers stay what they were: pydantic's parser is stricter on lone surrogate
    escapes (the contracts' text cleaning removes them) and names the errors of malformed JSON differently.
    """
    try:
        return SurveyResponse.model_validate_json(body)
    except ValidationError:
        pass
    if not body:
        return Rejection(422, [{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        error = {"loc": ["body", exc.pos], "msg": "JSON decode error", "type": "json_invalid"}
        return Rejection(422, [error], malformed=True)
    except (ValueError, RecursionError):  # nested too deep (or not text at all, which BodyLimit refuses first)
        return Rejection(400, "There was an error parsing the body", malformed=True)
    try:
        return SurveyResponse.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        return Rejection(422, validation_errors(exc.errors(), ("body",)))


def validation_errors(errors: object, prefix: tuple = ()) -> list[dict]:
    """Field, reason and error type only: echoing the input would send contact data (and unencodable text) back."""
    return [
        {"loc": [*prefix, *error.get("loc", ())], "msg": _text(error.get("msg", "")), "type": error.get("type", "")}
        for error in errors  # type: ignore[attr-defined]
    ]


def _text(value: object) -> str:
    return str(value).encode("utf-8", "replace").decode("utf-8")


class Submission:
    """Stores a valid response revision and says how to answer: 202 accepted, 200 repeated, 409 conflict."""

    def __init__(self, store: IngestStore, relay: OutboxRelay, metrics: IngestMetrics) -> None:
        self.store = store
        self.relay = relay
        self.metrics = metrics
        # The counter's children, looked up once each (labels() takes a lock and checks its input).
        self._received = functools.cache(metrics.received.labels)

    async def submit(self, response: SurveyResponse) -> tuple[int, dict]:
        """The status code and body of the answer; an error of the store propagates (the caller answers 503)."""
        try:
            result = await self.store.accept(response, datetime.now(UTC))
        except ConflictError as exc:
            self.metrics.rejected.labels("conflict").inc()
            return 409, {"detail": str(exc)}
        # Accepted's fields, in its order.
        body = {
            "response_id": result.response_id,
            "revision": result.revision,
            "status": "accepted",
            "replaces_revision": result.replaces_revision,
        }
        if result.outcome is Outcome.DUPLICATE:
            self.metrics.duplicates.inc()
            return 200, body
        self.relay.notify()
        self._received(response.respondent_type.value).inc()
        log.info(
            "accepted response %s revision %d",
            response.response_id,
            response.revision,
            extra={"response_id": response.response_id, "revision": response.revision},
        )
        return 202, body
