"""The workspace's API for integrations and support (bearer token from ADMIN_API_TOKENS, JSON, English errors):
a statement's paragraphs with their stable ids and current routes, corrections, and corrected paragraphs as
labels. The token acts for a role: `by_role`, by default the strategy office's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from feedback_contracts.taxonomy import load_taxonomy
from feedback_runtime.tokens import UNAUTHORIZED_DETAIL, UNAUTHORIZED_HEADERS, token_matches

from .correcting import Corrected, CorrectionsStore
from .corrections import Actor, CorrectionRequest, Refusal, StatementRoutes
from .escalation import office_owner

MAX_SECTIONS = 50


def admin_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Refuse (401) a caller without one of ADMIN_API_TOKENS."""
    if not token_matches(authorization, request.app.state.settings.admin_tokens):
        raise HTTPException(401, UNAUTHORIZED_DETAIL, headers=UNAUTHORIZED_HEADERS)


router = APIRouter(prefix="/api", dependencies=[Depends(admin_token)])


class CorrectionBody(BaseModel):
    """POST /api/corrections."""

    model_config = ConfigDict(extra="forbid")

    response_id: str = Field(min_length=1, max_length=128, description="The statement.")
    paragraph_id: str = Field(min_length=1, max_length=200, description="The paragraph's id (GET /api/statements).")
    add: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=MAX_SECTIONS)
    remove: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=MAX_SECTIONS)
    reason: str = Field(default="", max_length=10_000, description="Why; required.")
    by_role: str | None = Field(default=None, max_length=200, description="The acting role; default: the office.")
    correction_id: str | None = Field(default=None, max_length=200, description="Makes a retry safe.")


def corrections_of(request: Request) -> CorrectionsStore:
    return request.app.state.corrections


def refused(refusal: Refusal) -> JSONResponse:
    return JSONResponse({"detail": refusal.english}, status_code=refusal.status)


def acting_for(request: Request, by_role: str | None) -> Actor:
    """The role the token acts for: `by_role` (an owner, or one of the office's roles), else the office's."""
    settings = request.app.state.settings
    directory = request.app.state.owners.current
    if by_role is None:
        return Actor((office_owner(settings.workspace_office_owners, directory),), office=True)
    if by_role in settings.office_owners(directory.default_owner):
        return Actor((by_role,), office=True)
    if directory.get(by_role) is None:
        raise Refusal(422, f"unknown role {by_role!r}: not an owner in the owners directory", "Tuntematon rooli.")
    return Actor((by_role,), office=False)


@router.get("/statements/{response_id}")
async def statement(request: Request, response_id: str) -> JSONResponse:
    """The latest routing of the statement: its paragraphs with their ids, texts and current routes (section,
    title, owners, score, reasons), and every correction of it with where it stands."""
    routes = await corrections_of(request).routes(response_id[:128])
    if routes is None:
        return JSONResponse({"detail": f"no statement {response_id!r}"}, status_code=404)
    return JSONResponse(statement_json(routes))


@router.post("/corrections")
async def correct(request: Request, body: CorrectionBody) -> JSONResponse:
    """Correct a paragraph's routes: 202 with the stored correction (published to classify at once), 200 with
    the correction stored before under the same `correction_id`, or 4xx with what is wrong (nothing changes)."""
    wanted = CorrectionRequest(
        body.response_id, body.paragraph_id, tuple(body.add), tuple(body.remove), body.reason, body.correction_id
    )
    try:
        actor = acting_for(request, body.by_role)
        done: Corrected = await corrections_of(request).correct(
            wanted, actor, load_taxonomy(), request.app.state.owners.current, datetime.now(UTC), via="api"
        )
    except Refusal as refusal:
        return refused(refusal)
    if done.created:
        request.app.state.metrics.corrections.labels(actor.by).inc()
        request.app.state.corrections_publisher.kick()
    return JSONResponse(done.as_json(), status_code=202 if done.created else 200)


@router.get("/labels")
async def labels(request: Request, since: str | None = None) -> Response:
    """Every corrected paragraph (corrected at or after `since`, an ISO 8601 time or date) as JSON lines in the
    routing labels' format."""
    try:
        after = parse_time(since) if since else None
    except ValueError:
        return JSONResponse(
            {"detail": "since must be an ISO 8601 time or date, e.g. 2026-03-01T08:00:00+02:00"}, status_code=422
        )
    found = await corrections_of(request).labels(after)
    body = "".join(json.dumps(label, ensure_ascii=False) + "\n" for label in found)
    return Response(body, media_type="application/x-ndjson")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset) or date (its midnight, UTC)."""
    value = value.strip()
    if len(value) == 10:
        return datetime.combine(datetime.fromisoformat(value).date(), time(0), tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def statement_json(routes: StatementRoutes) -> dict:
    event = routes.event
    routes_of: dict[int, list[dict]] = {}
    for route in event.routes:
        for routed in route.paragraphs:
            routes_of.setdefault(routed.paragraph, []).append(
                {
                    "section_id": route.section_id,
                    "section_title": route.section_title,
                    "owners": list(route.owners),
                    "score": routed.score,
                    "reasons": [r.model_dump(mode="json", exclude_defaults=True) for r in routed.reasons],
                }
            )
    return {
        "response_id": event.response_id,
        "revision": event.revision,
        "routing": event.routing,
        "respondent_type": event.respondent_type.value,
        "organization": event.respondent.organization,
        "paragraphs": [
            {
                "paragraph_id": p.paragraph_id,
                "index": p.index,
                "question": p.question,
                "text": p.text,
                "routes": routes_of.get(p.index, []),
            }
            for p in event.paragraphs
        ],
        "corrections": corrections_json(routes),
    }


def corrections_json(routes: StatementRoutes) -> list[dict]:
    """The corrections kept here with where each stands, then any classify lists that were made elsewhere."""
    found = [c.as_json(routes.status(c.id)) for c in routes.corrections]
    known = {c.id for c in routes.corrections}
    for listed in routes.event.corrections:
        if listed.correction_id not in known:
            found.append(
                {
                    **listed.model_dump(mode="json"),
                    "add": list(listed.add),
                    "remove": list(listed.remove),
                    "response_id": routes.event.response_id,
                }
            )
    return found
