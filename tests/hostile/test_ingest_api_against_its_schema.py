"""Schemathesis against ingest's own OpenAPI document, served by a real uvicorn with its store (SQLite) and its
outbox relay (a real broker) running: no generated request gets a 5xx, and every answer is one the document
describes (status code documented, content type and body conforming)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from feedback_cli.devstack import free_port
from feedback_contracts.respondents import RespondentType
from feedback_ingest.app import create_app
from feedback_ingest.settings import IngestSettings

from .conftest import ADMIN_TOKEN, FORM_TOKEN, HOSTILE_ANSWERS, HOSTILE_ORGANISATIONS

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
HEALTH_CHECKS_OFF = list(HealthCheck)  # generation is slowed by the HTTP round trip, not by the strategies


@pytest.fixture(scope="module")
def ingest_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """ingest under uvicorn on a free port: migrated SQLite store, relay connected to the broker."""
    database = tmp_path_factory.mktemp("schemathesis") / "ingest.sqlite3"
    settings_ = IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        ingest_api_tokens=FORM_TOKEN,
        admin_api_tokens=ADMIN_TOKEN,
        database_url=f"sqlite:///{database}",
        ingest_relay_poll_seconds=0.2,
    )
    app = create_app(settings_, configure_logs=False, registry=CollectorRegistry())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="ingest-under-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "ingest did not start"
        time.sleep(0.05)
    try:
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        assert ready["database"] == "ok", ready
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def ingest_openapi() -> dict:
    """The OpenAPI document ingest serves, built without starting anything (a test checks it is the served one).

    Loaded at import, so schemathesis' eager `parametrize` can name one test per operation.
    """
    settings_ = IngestSettings(
        kafka_bootstrap_servers="127.0.0.1:1", ingest_api_tokens=FORM_TOKEN, database_url="sqlite:///unused.sqlite3"
    )
    return create_app(settings_, configure_logs=False, registry=CollectorRegistry()).openapi()


OPENAPI = ingest_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_schema_under_test_is_the_one_the_running_service_serves(ingest_url: str) -> None:
    served = httpx.get(f"{ingest_url}/openapi.json", timeout=10).json()
    assert served == OPENAPI
    assert {"/v1/responses", "/v1/responses/{response_id}/contact"} <= set(served["paths"])


def parses_as_json(body: object) -> bool:
    if not isinstance(body, (bytes, str)):
        return True  # schemathesis serialises generated objects as JSON
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF, derandomize=True)
def test_with_the_form_token_no_generated_request_gets_a_5xx_or_an_undocumented_answer(case, ingest_url: str) -> None:  # noqa: ANN001
    case.call_and_validate(
        base_url=ingest_url, headers={"Authorization": f"Bearer {FORM_TOKEN}"}, checks=CHECKS, timeout=30
    )


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF, derandomize=True)
def test_with_the_admin_token_no_generated_request_gets_a_5xx_or_an_undocumented_answer(case, ingest_url: str) -> None:  # noqa: ANN001
    case.call_and_validate(
        base_url=ingest_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS, timeout=30
    )


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF, derandomize=True)
def test_without_a_token_every_generated_request_gets_a_documented_refusal(case, ingest_url: str) -> None:  # noqa: ANN001
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call_and_validate(base_url=ingest_url, checks=CHECKS, timeout=30)
    if case.method.upper() != case.operation.method.upper():
        assert response.status_code == 405  # schemathesis also tries methods the path does not have
    else:
        # 401, or a refusal of the request itself before the token is looked at: too large (413), not JSON
        # (415), or JSON that does not parse (422, FastAPI parses the body before it runs dependencies).
        assert response.status_code in (401, 413, 415, 422), response.status_code
        if response.status_code == 422:
            assert not parses_as_json(case.body), f"a JSON body was judged before the token: {response.text}"


# --- well-formed submissions with edge values ------------------------------------------------------------------
# Schemathesis rarely builds a body that passes the model's own checks (answers in the respondent type's block,
# one non-empty answer), so these post submissions that do, with values at the edges, through the same checks.

SUBMIT = schema["/v1/responses"]["POST"]
SEED = json.loads((Path(__file__).parents[1] / "fixtures" / "seed002_response.json").read_text(encoding="utf-8"))
EDGE_TEXTS = ["\ud800", "a\udfffb", "\x00", "\ufffe\uffff", "\U0010ffff", "e\u0301" * 50, "\u202e" * 300, " \n\t "]


def submit(ingest_url: str, body: dict, token: str = FORM_TOKEN):  # noqa: ANN201
    case = SUBMIT.Case(body=body, media_type="application/json")
    return case.call_and_validate(
        base_url=ingest_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30
    )


def edited(response_id: str, **changes: object) -> dict:
    body = json.loads(json.dumps(SEED))
    body["response_id"] = response_id
    for dotted, value in changes.items():
        target, *path, last = [body, *dotted.split("__")]
        for key in path:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(last) if isinstance(target, list) else last] = value
    return body


@pytest.mark.parametrize(
    "changes",
    [
        {"revision": 2**31 - 1},
        {"revision": 2**31},
        {"revision": 2**63},
        {"revision": 10**30},
        {"submitted_at": "9999-12-31T23:59:59-23:59"},
        {"submitted_at": "0001-01-01T00:00:00+23:59"},
        {"answers__0__text": "\ud800 yksinäinen sijaiskoodipiste"},
        {"answers__0__text": "a\x00b"},
        {"respondent__organization": "\udfff"},
        {"respondent__title": "\ud83d"},
        {"respondent__organization": "=?utf-8?q?Kunta=0D=0ABcc:=20x@evil.example?="},
    ],
    ids=lambda changes: ",".join(f"{k}={v!r}"[:48] for k, v in changes.items()),
)
def test_a_well_formed_submission_with_an_edge_value_gets_a_documented_answer_never_a_5xx(
    ingest_url: str, changes: dict, unique: str
) -> None:
    response = submit(ingest_url, edited(f"edge-{unique}", **changes))
    assert response.status_code in (200, 202, 422), response.text


@st.composite
def submissions(draw: st.DrawFn) -> dict:
    """A response the form could post: the right block of questions, values drawn wide (and hostile)."""
    rtype = draw(st.sampled_from(list(RespondentType)))
    questions = draw(st.lists(st.sampled_from(list(rtype.questions)), min_size=1, max_size=4, unique=True))
    text = st.one_of(st.text(max_size=300), st.sampled_from(EDGE_TEXTS), st.sampled_from(HOSTILE_ANSWERS[:2]))
    line = st.one_of(st.text(min_size=1, max_size=60), st.sampled_from(EDGE_TEXTS + HOSTILE_ORGANISATIONS))
    moment = draw(st.datetimes(timezones=st.timezones(), allow_imaginary=False))
    return {
        "survey_id": "palvelustrategia-2026",
        "response_id": draw(st.from_regex(r"\Ahyp-[A-Za-z0-9._:-]{1,40}\Z")),
        "revision": draw(st.one_of(st.integers(1, 3), st.integers(1, 2**70))),
        "submitted_at": moment.isoformat(),
        "respondent": {
            "first_name": draw(st.none() | line),
            "last_name": draw(st.none() | line),
            "email": draw(st.none() | st.sampled_from(["a@example.org", "ö@esimerkki.fi", "not-an-email"])),
            "phone": draw(st.none() | st.sampled_from(["+358 40 123 4567", "(09) 123", "x"])),
            "organization": draw(line),
            "title": draw(st.none() | line),
        },
        "respondent_type": draw(st.sampled_from([rtype.value, rtype.form_label, rtype.label_fi.upper()])),
        "answers": [{"question": q, "text": draw(text)} for q in questions],
    }


@settings(max_examples=120, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF, derandomize=True)
@given(body=submissions())
def test_any_well_formed_submission_gets_a_documented_answer_never_a_5xx(ingest_url: str, body: dict) -> None:
    response = submit(ingest_url, body)
    assert response.status_code in (200, 202, 409, 422), response.text
