"""The routes' dependencies, as `Annotated` aliases. Each reads what `create_app` put on `app.state`.

All are async: FastAPI runs a plain `def` dependency on a worker thread, one hop per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from feedback_contracts.responses import SurveyResponse
from feedback_runtime.tokens import require_bearer

from .metrics import IngestMetrics
from .relay import OutboxRelay
from .settings import IngestSettings
from .store import IngestStore
from .submission import Rejection, Submission, read_response

# Documents the scheme in OpenAPI (and /docs lets one enter a token); feedback_runtime decides.
_BEARER = HTTPBearer(
    auto_error=False, description="A token from INGEST_API_TOKENS (admin endpoints: ADMIN_API_TOKENS)."
)


class Gates:
    """Who may call: the form's tokens (an admin token passes too) and the admins' tokens."""

    def __init__(self, settings: IngestSettings) -> None:
        self.form_tokens = settings.tokens + settings.admin_tokens
        self.admin_tokens = settings.admin_tokens
        self.form = require_bearer(lambda: self.form_tokens)
        self.admin = require_bearer(lambda: self.admin_tokens)


async def _settings(request: Request) -> IngestSettings:
    return request.app.state.settings


async def _store(request: Request) -> IngestStore:
    return request.app.state.store


async def _relay(request: Request) -> OutboxRelay:
    return request.app.state.relay


async def _metrics(request: Request) -> IngestMetrics:
    return request.app.state.metrics


async def _submission(request: Request) -> Submission:
    return request.app.state.submission


SettingsDep = Annotated[IngestSettings, Depends(_settings)]
StoreDep = Annotated[IngestStore, Depends(_store)]
RelayDep = Annotated[OutboxRelay, Depends(_relay)]
MetricsDep = Annotated[IngestMetrics, Depends(_metrics)]
SubmissionDep = Annotated[Submission, Depends(_submission)]
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


def _passes(gate: Callable[[str | None], None], request: Request, metrics: IngestMetrics) -> None:
    try:
        gate(request.headers.get("authorization"))
    except HTTPException:  # 401 {"detail": "missing or invalid bearer token"}, WWW-Authenticate: Bearer
        metrics.rejected.labels("unauthorized").inc()
        raise


async def _form_or_admin_token(request: Request, metrics: MetricsDep, _: _Credentials) -> None:
    _passes(request.app.state.gates.form, request, metrics)


async def _admin_token(request: Request, metrics: MetricsDep, _: _Credentials) -> None:
    _passes(request.app.state.gates.admin, request, metrics)


FormOrAdminToken = Annotated[None, Depends(_form_or_admin_token)]
AdminToken = Annotated[None, Depends(_admin_token)]


def _refusal(rejection: Rejection) -> Exception:
    if rejection.status == 422:
        return RequestValidationError(rejection.detail)  # answered and counted by routes.invalid_request
    return HTTPException(rejection.status, rejection.detail)


async def _read_body(request: Request) -> SurveyResponse | Rejection:
    judged = read_response(await request.body())
    if isinstance(judged, Rejection) and judged.malformed:
        raise _refusal(judged)  # not JSON at all: refused before the token, as for FastAPI's own body parameters
    return judged


async def _submitted_response(
    judged: Annotated[SurveyResponse | Rejection, Depends(_read_body)], _: FormOrAdminToken
) -> SurveyResponse:
    """The body of POST /v1/responses, judged by `read_response` as on the fast path, and the caller's token."""
    if isinstance(judged, Rejection):
        raise _refusal(judged)
    return judged


# The body and the token, in FastAPI's order for a body parameter: malformed JSON (422), the token (401), then
# the response itself (422).
SubmittedResponse = Annotated[SurveyResponse, Depends(_submitted_response)]
