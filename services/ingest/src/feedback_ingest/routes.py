"""Ingest's HTTP API: the routes (one `APIRouter`), the answers to errors, and the OpenAPI description of the
one body that is not a FastAPI body parameter."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX, REF_TEMPLATE
from fastapi.openapi.models import Schema
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic.json_schema import models_json_schema

from feedback_contracts.responses import SurveyResponse

from .api_models import (
    RETRY_LATER,
    Accepted,
    ContactView,
    Problem,
    ReplayAnswer,
    ReplayRequest,
    ResponseView,
    RevisionView,
)
from .deps import (
    AdminToken,
    FormOrAdminToken,
    RelayDep,
    StoreDep,
    SubmissionDep,
    SubmittedResponse,
)
from .submission import validation_errors

log = logging.getLogger("feedback.ingest")
router = APIRouter()
SUBMIT_PATH = "/v1/responses"

# POST /v1/responses reads its body through `read_response` (shared with the fast path), not as a FastAPI body
# parameter, so its request body and its 422 are described here, as FastAPI would have described them.
_SUBMIT_OPENAPI = {
    "requestBody": {
        "content": {"application/json": {"schema": {"$ref": f"{REF_PREFIX}SurveyResponse"}}},
        "required": True,
    },
    "responses": {
        "422": {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": f"{REF_PREFIX}HTTPValidationError"}}},
        }
    },
}


@router.post(
    SUBMIT_PATH,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": Accepted, "description": "The same revision with the same content was already accepted."},
        401: {"model": Problem},
        409: {"model": Problem, "description": "Same revision with other content, or an older revision."},
        413: {"model": Problem},
        415: {"model": Problem},
    },
    summary="Submit a response (or an edit of one)",
    response_model=Accepted,
    openapi_extra=_SUBMIT_OPENAPI,
)
async def submit_response(response: SubmittedResponse, submission: SubmissionDep) -> Response:
    """Accept one response revision: 202 once it is stored durably with its outbox row.

    The outbox relay publishes it to `feedback.responses.v1` as soon as the broker acknowledges; while
    the broker is away, responses keep being accepted and wait in the outbox.
    """
    status_code, body = await submission.submit(response)
    return JSONResponse(body, status_code=status_code)


@router.get(
    "/v1/responses/{response_id}",
    responses={401: {"model": Problem}, 404: {"model": Problem}},
    summary="A response's latest revision and its state",
)
async def get_response(response_id: str, _: FormOrAdminToken, store: StoreDep) -> ResponseView:
    stored = await store.revisions_of(response_id)
    if not stored:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
    return ResponseView(
        response_id=response_id,
        survey_id=stored[-1].survey_id,
        latest=RevisionView.of(stored[-1]),
        revisions=len(stored),
    )


@router.get(
    "/v1/responses/{response_id}/revisions",
    responses={401: {"model": Problem}, 404: {"model": Problem}},
    summary="Every stored revision of a response",
)
async def get_revisions(response_id: str, _: FormOrAdminToken, store: StoreDep) -> list[RevisionView]:
    stored = await store.revisions_of(response_id)
    if not stored:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
    return [RevisionView.of(state) for state in stored]


@router.get(
    "/v1/responses/{response_id}/contact",
    responses={401: {"model": Problem}, 404: {"model": Problem}},
    summary="The respondent's contact data (admin)",
)
async def get_contact(response_id: str, _: AdminToken, store: StoreDep) -> ContactView:
    contact = await store.contact(response_id)
    if contact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact data stored for response {response_id!r}")
    return ContactView(**contact.__dict__)


@router.delete(
    "/v1/responses/{response_id}/contact",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Problem}, 404: {"model": Problem}},
    summary="Erase the respondent's contact data (admin); the statement stays",
)
async def erase_contact(response_id: str, _: AdminToken, store: StoreDep) -> Response:
    if not await store.exists(response_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no response {response_id!r}")
    erased = await store.erase_contact(response_id)
    log.info("contact data of response %s erased (%s)", response_id, "deleted" if erased else "none stored")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/admin/accepted",
    responses={401: {"model": Problem}},
    summary="Every response's latest accepted revision (admin; for feedback reconcile)",
)
async def accepted(_: AdminToken, store: StoreDep) -> dict[str, int]:
    return await store.latest_revisions()


@router.post(
    "/v1/admin/replay",
    responses={401: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem}},
    summary="Publish the latest revision of the given responses again (admin; for feedback reconcile)",
)
async def replay_latest(request: ReplayRequest, _: AdminToken, store: StoreDep, relay: RelayDep) -> ReplayAnswer:
    queued = await store.enqueue_latest(request.response_ids)
    relay.notify()
    log.info("replay of %d response(s) queued", queued)
    return ReplayAnswer(queued=queued)


# --- operations: open to all, not in the OpenAPI document ------------------------------------------------------


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(store: StoreDep, relay: RelayDep) -> JSONResponse:
    # Ready means able to accept: the store answers. The broker may be away; the outbox holds the backlog.
    database = await store.ping()
    body = {
        "database": "ok" if database else "unreachable",
        "broker": "connected" if relay.connected else "unreachable",
    }
    return JSONResponse(body, status_code=200 if database else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi(request: Request) -> Response:
    return Response(request.app.state.asyncapi.to_specification().to_json(), media_type="application/json")


# --- answers to errors -------------------------------------------------------------------------------------------


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    request.app.state.metrics.rejected.labels("invalid").inc()
    return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(RETRY_LATER, status_code=503)


EXCEPTION_HANDLERS: dict[Any, Any] = {RequestValidationError: invalid_request, Exception: unexpected_error}


def describe_submit_body(app: FastAPI) -> None:
    """Add SurveyResponse (read by hand, not as a FastAPI body parameter) to the app's OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _, schemas = models_json_schema([(SurveyResponse, "validation")], ref_template=REF_TEMPLATE)
            components = document.setdefault("components", {}).setdefault("schemas", {})
            added = {
                **schemas.get("$defs", {}),
                "ValidationError": validation_error_definition,  # the 422's, present when other routes have one
                "HTTPValidationError": validation_error_response_definition,
            }
            # Through FastAPI's own Schema model, as get_openapi passes every schema (it drops `default: null`).
            for name, schema in added.items():
                components[name] = jsonable_encoder(Schema(**schema), by_alias=True, exclude_none=True)
            document["components"]["schemas"] = dict(sorted(components.items()))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
