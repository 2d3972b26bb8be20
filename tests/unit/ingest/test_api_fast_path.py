"""POST /v1/responses has two ways through ingest, the fast path and the FastAPI route. They judge a body with the
same function and store with the same code, so every request gets the same answer and the same counts either way."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_contracts.responses import SurveyResponse
from feedback_ingest.app import create_app
from feedback_ingest.fast_path import FastPath
from feedback_ingest.routes import SUBMIT_PATH
from feedback_ingest.settings import IngestSettings
from feedback_ingest.submission import Rejection, read_response

FORM, ADMIN = "form-token", "admin-token"
JSON = {"Content-Type": "application/json"}
FORM_HEADERS = {**JSON, "Authorization": f"Bearer {FORM}"}


def settings(database: Path) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap_servers="127.0.0.1:1",  # nothing listens: the relay retries, accepts go on
        ingest_api_tokens=FORM,
        admin_api_tokens=ADMIN,
        database_url=f"sqlite:///{database}",
        ingest_relay_max_backoff_seconds=0.5,
    )


def without_fast_path(app):  # noqa: ANN001, ANN201
    app.fast_path = None
    return app


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[dict[str, tuple[TestClient, CollectorRegistry]]]:
    """The service as it runs, and the same service with every request going through the route."""
    made = {}
    for name, build in (("fast", lambda app: app), ("route", without_fast_path)):
        registry = CollectorRegistry()
        app = build(create_app(settings(tmp_path / f"{name}.sqlite3"), configure_logs=False, registry=registry))
        made[name] = (TestClient(app, raise_server_exceptions=False), registry)
    with made["fast"][0], made["route"][0]:
        yield made


def body(seed: dict, response_id: str, **changes: object) -> bytes:
    value = copy.deepcopy(seed)
    value["response_id"] = response_id
    value.update(changes)
    return json.dumps(value).encode()


def counts(registry: CollectorRegistry) -> dict[str, float]:
    names = ("feedback_ingest_http_requests_total", "feedback_ingest_rejected_total", "feedback_ingest_responses_total")
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name in names or s.name == "feedback_ingest_duplicates_total"
    }


def test_every_answer_and_every_count_is_the_same_on_the_fast_path_and_through_the_route(
    clients: dict, seed002_response: dict
) -> None:
    invalid = copy.deepcopy(seed002_response)
    invalid["answers"].append({"question": 71, "text": "x"})
    requests = [
        ("new", body(seed002_response, "a"), FORM_HEADERS),
        ("repeated", body(seed002_response, "a"), FORM_HEADERS),
        ("conflict", body(seed002_response, "a", survey_id="toinen-kysely"), FORM_HEADERS),
        ("edit", body(seed002_response, "a", revision=2), FORM_HEADERS),
        ("older", body(seed002_response, "a", revision=1, survey_id="x"), FORM_HEADERS),
        ("admin token", body(seed002_response, "b"), {**JSON, "Authorization": f"Bearer {ADMIN}"}),
        ("no token", body(seed002_response, "c"), JSON),
        ("wrong token", body(seed002_response, "c"), {**JSON, "Authorization": f"Bearer {FORM}x"}),
        ("malformed", b"{", FORM_HEADERS),
        ("malformed, no token", b"{", JSON),
        ("empty", b"", FORM_HEADERS),
        ("null", b"null", FORM_HEADERS),
        ("unknown field", body(seed002_response, "d", extra=1), FORM_HEADERS),
        ("invalid", json.dumps(invalid).encode(), FORM_HEADERS),
        ("invalid, no token", json.dumps(invalid).encode(), JSON),
        ("too deep", b"[" * 5000, FORM_HEADERS),
        ("lone surrogate", body(seed002_response, "e").replace(b"Kanta-H", b"Kanta-\\ud800H", 1), FORM_HEADERS),
        ("not UTF-8", b'{"a": "\xff"}', FORM_HEADERS),
        ("not UTF-8 in an answer", body(seed002_response, "i").replace(b"Kanta-H", b"Kanta-\xffH", 1), FORM_HEADERS),
        (
            "an encoded surrogate",
            body(seed002_response, "j").replace(b"Kanta-H", b"Kanta-\xed\xa0\x80H", 1),
            FORM_HEADERS,
        ),
        ("declared too large", body(seed002_response, "k"), {**FORM_HEADERS, "Content-Length": str(1024 * 1024 + 1)}),
        ("not JSON", body(seed002_response, "f"), {**FORM_HEADERS, "Content-Type": "text/plain"}),
        ("too large", b" " * (1024 * 1024 + 1), FORM_HEADERS),
    ]
    answers: dict[str, dict[str, tuple[int, object]]] = {"fast": {}, "route": {}}
    for name, (client, _) in clients.items():
        for label, content, headers in requests:
            answer = client.post(SUBMIT_PATH, content=content, headers=headers)
            answers[name][label] = (answer.status_code, answer.json(), answer.headers.get("www-authenticate"))
    assert answers["fast"] == answers["route"]
    assert {label: answer[0] for label, answer in answers["fast"].items()} == {
        "new": 202, "repeated": 200, "conflict": 409, "edit": 202, "older": 409, "admin token": 202,
        "no token": 401, "wrong token": 401, "malformed": 422, "malformed, no token": 422, "empty": 422,
        "null": 422, "unknown field": 422, "invalid": 422, "invalid, no token": 401, "too deep": 400,
        "lone surrogate": 202, "not UTF-8": 422, "not UTF-8 in an answer": 422, "an encoded surrogate": 422,
        "declared too large": 413, "not JSON": 415, "too large": 413,
    }  # fmt: skip
    assert counts(clients["fast"][1]) == counts(clients["route"][1])
    accepted = {"method": "POST", "route": SUBMIT_PATH, "status": "202"}
    assert clients["fast"][1].get_sample_value("feedback_ingest_http_requests_total", accepted) == 4


def test_when_the_store_fails_both_ways_answer_503_not_500(tmp_path: Path, seed002_response: dict) -> None:
    # No lifespan: the schema was never created, so the store fails on the first statement.
    for build in (lambda app: app, without_fast_path):
        registry = CollectorRegistry()
        app = build(create_app(settings(tmp_path / "empty.sqlite3"), configure_logs=False, registry=registry))
        client = TestClient(app, raise_server_exceptions=False)
        answer = client.post(SUBMIT_PATH, content=body(seed002_response, "down"), headers=FORM_HEADERS)
        assert answer.status_code == 503
        assert answer.json() == {"detail": "the request could not be completed; retry later"}


class _Submission:
    def __init__(self) -> None:
        self.submitted: list[SurveyResponse] = []

    async def submit(self, response: SurveyResponse) -> tuple[int, dict]:
        self.submitted.append(response)
        return 202, {"response_id": response.response_id}


async def _post(app, headers: dict[str, str], content: bytes) -> list[dict]:  # noqa: ANN001
    """One request straight into the ASGI `app`; the messages it sent."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": SUBMIT_PATH,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": content, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("headers", "content", "answered_here"),
    [
        (FORM_HEADERS, "valid", True),
        (JSON, "valid", False),
        ({**JSON, "Authorization": "Bearer wrong"}, "valid", False),
        (FORM_HEADERS, "invalid", False),
        (FORM_HEADERS, "malformed", False),
    ],
)
async def test_the_fast_path_answers_only_a_valid_response_with_a_valid_token(
    seed002_response: dict, headers: dict, content: str, answered_here: bool
) -> None:
    submission = _Submission()
    app = create_app(settings(Path("/nonexistent/unused.sqlite3")), configure_logs=False, registry=CollectorRegistry())
    route = next(r for r in app.routes if getattr(r, "path", None) == SUBMIT_PATH)
    reached: list[bool] = []

    async def the_route(scope, receive, send) -> None:  # noqa: ANN001
        reached.append(True)

    fast = FastPath(
        the_route,
        route=route,  # type: ignore[arg-type]
        tokens=(FORM,),
        submission=submission,  # type: ignore[arg-type]
        counter=app.state.metrics.http_requests,
        max_bytes=settings(Path("unused")).ingest_max_body_bytes,
    )
    raw = {"valid": body(seed002_response, "g"), "invalid": body(seed002_response, "g", revision=0), "malformed": b"{"}
    sent = await _post(fast, headers, raw[content])
    assert bool(reached) is not answered_here
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == ([202] if answered_here else [])
    assert len(submission.submitted) == int(answered_here)


@pytest.mark.parametrize(
    ("raw", "status", "first_error"),
    [
        (b"{", 422, {"loc": ["body", 1], "msg": "JSON decode error", "type": "json_invalid"}),
        (b"", 422, {"loc": ["body"], "msg": "Field required", "type": "missing"}),
        (b"[]", 422, {"loc": ["body"], "type": "model_attributes_type"}),
        (b"{}", 422, {"loc": ["body", "survey_id"], "msg": "Field required", "type": "missing"}),
        (b"[" * 5000, 400, None),
    ],
)
def test_read_response_judges_a_body_as_fastapi_judges_a_body_parameter(
    raw: bytes, status: int, first_error: dict | None
) -> None:
    judged = read_response(raw)
    assert isinstance(judged, Rejection) and judged.status == status
    if first_error is None:
        assert judged.detail == "There was an error parsing the body"
    else:
        assert isinstance(judged.detail, list) and first_error.items() <= judged.detail[0].items()
    # Not JSON at all is refused before the token is looked at; anything else after it.
    assert judged.malformed is (raw in (b"{", b"[" * 5000))


def test_read_response_takes_what_json_loads_takes_and_never_echoes_the_input(seed002_response: dict) -> None:
    lone = body(seed002_response, "h").replace(b"Kanta-H", b"Kanta-\\ud800H", 1)
    judged = read_response(lone)
    assert isinstance(judged, SurveyResponse)
    assert "\ud800" not in judged.model_dump_json()
    seed002_response["respondent"]["email"] = "salainen@@example.org"
    refused = read_response(json.dumps(seed002_response).encode())
    assert isinstance(refused, Rejection) and "salainen" not in json.dumps(refused.detail)


def _streamed(messages: list[dict]) -> tuple[dict, list[dict], object, object]:
    """A POST /v1/responses with a form token whose body comes in `messages` (the client may go away among them)."""
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {FORM}".encode())]
    scope = {"type": "http", "method": "POST", "path": SUBMIT_PATH, "headers": headers}
    pending = iter(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        return next(pending, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        sent.append(message)

    return scope, sent, receive, send


@pytest.mark.parametrize(
    ("messages", "statuses"),
    [
        # Over the limit, with no Content-Length to say so beforehand: 413 once the stream passes it.
        ([{"type": "http.request", "body": b" " * (600 * 1024), "more_body": True}] * 2, [413]),
        # The client goes away half-way: no answer.
        ([{"type": "http.request", "body": b'{"survey_id": ', "more_body": True}, {"type": "http.disconnect"}], []),
    ],
    ids=["streamed over the limit", "client gone"],
)
async def test_a_body_the_fast_path_cannot_take_gets_the_same_answer_and_count_either_way(
    tmp_path: Path, messages: list[dict], statuses: list[int]
) -> None:
    results = {}
    for name, build in (("fast", lambda app: app), ("route", without_fast_path)):
        registry = CollectorRegistry()
        app = build(create_app(settings(tmp_path / f"{name}.sqlite3"), configure_logs=False, registry=registry))
        scope, sent, receive, send = _streamed(messages)
        await app(scope, receive, send)
        results[name] = ([(m["type"], m.get("status"), m.get("body")) for m in sent], counts(registry))
    assert results["fast"] == results["route"]
    assert [status for _, status, _ in results["fast"][0] if status] == statuses
