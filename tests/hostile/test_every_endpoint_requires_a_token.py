"""Every endpoint that is not health, metrics or documentation refuses a caller without a token, and tokens
are compared in constant time (through `hmac.compare_digest`, against every configured token)."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

import feedback_ingest.app as ingest_app
import feedback_notify.app as notify_app
from feedback_classify.app import create_app as create_classify
from feedback_classify.settings import ClassifySettings
from feedback_ingest.settings import IngestSettings
from feedback_notify.settings import NotifySettings

from .conftest import OWNERS_FILE

FORM_TOKENS = ("form-token-a", "form-token-b")
ADMIN_TOKENS = ("admin-token-a", "admin-token-b")
UNREACHABLE_BROKER = "127.0.0.1:1"  # nothing here is started: refusals happen before any I/O
HEALTH = {"/healthz", "/readyz"}
METRICS = {"/metrics"}
# Documents to read, served by GET. Anything that acts (a POST, even under a docs path) is not one.
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/asyncapi", "/asyncapi.json"}
OPEN = HEALTH | METRICS | DOCS


def ingest_settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap_servers=UNREACHABLE_BROKER,
        ingest_api_tokens=",".join(FORM_TOKENS),
        admin_api_tokens=",".join(ADMIN_TOKENS),
        database_url=f"sqlite:///{tmp_path}/ingest.sqlite3",
    )


def notify_settings(tmp_path: Path) -> NotifySettings:
    return NotifySettings(
        kafka_bootstrap_servers=UNREACHABLE_BROKER,
        owners_file=OWNERS_FILE,
        database_url=f"sqlite:///{tmp_path}/notify.sqlite3",
        admin_api_tokens=",".join(ADMIN_TOKENS),
    )


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[TestClient]:
    # No lifespan: no database and no relay, so a refusal cannot depend on anything but the token.
    app = ingest_app.create_app(ingest_settings(tmp_path), registry=CollectorRegistry())
    yield TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def notify(tmp_path: Path):  # noqa: ANN201
    return notify_app.create_app(notify_settings(tmp_path), configure_logs=False, registry=CollectorRegistry())


@pytest.fixture
def classify():  # noqa: ANN201
    settings = ClassifySettings(
        kafka_bootstrap_servers=UNREACHABLE_BROKER, owners_file=OWNERS_FILE, admin_api_tokens=",".join(ADMIN_TOKENS)
    )
    return create_classify(settings, configure_logs=False, registry=CollectorRegistry())


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "any-response-id", path)


def ingest_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    routes = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                routes.append((method, route.path))
    return routes


def asgi_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """(method, path) of every route of a FastStream ASGI app (its `routes` are (path, handler) pairs)."""
    return [
        (method, path)
        for path, handler in app.routes
        for method in getattr(handler, "methods", ("GET",))
        if method != "HEAD"
    ]


def is_open(method: str, path: str) -> bool:
    return path in HEALTH | METRICS or (path in DOCS and method == "GET")


def ask_asgi(app, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:  # noqa: ANN001
    """One request straight into the ASGI app, without starting it (no broker, no database)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.request(
                method, path, content=b"{}", headers={"content-type": "application/json", **(headers or {})}
            )

    return asyncio.run(call())


# --- every protected route refuses a caller without a token --------------------------------------------------


def test_every_ingest_endpoint_but_health_metrics_and_docs_answers_401_without_a_token(ingest: TestClient) -> None:
    protected = [(m, p) for m, p in ingest_routes(ingest.app) if not is_open(m, p)]
    assert {("POST", "/v1/responses"), ("GET", "/v1/responses/{response_id}/contact")} <= set(protected)
    assert all(
        isinstance(r, APIRoute) for r in ingest.app.routes if getattr(r, "path", None) in {p for _, p in protected}
    )
    answers = {}
    for method, path in protected:
        # A well-formed JSON request: the only thing missing is the token.
        answer = ingest.request(method, concrete(path), content=b"{}", headers={"content-type": "application/json"})
        answers[f"{method} {path}"] = answer.status_code
    assert answers == dict.fromkeys(answers, 401)


def test_every_ingest_endpoint_refuses_a_wrong_token_and_admin_ones_refuse_the_form_token(ingest: TestClient) -> None:
    protected = [(m, p) for m, p in ingest_routes(ingest.app) if not is_open(m, p)]
    admin_only = {("GET", "/v1/responses/{response_id}/contact"), ("DELETE", "/v1/responses/{response_id}/contact")}
    admin_only |= {(m, p) for m, p in protected if p.startswith("/v1/admin/")}
    answers = {}
    for method, path in protected:
        for label, token in (
            ("wrong", FORM_TOKENS[0] + "x"),
            ("prefix", FORM_TOKENS[0][:-1]),
            ("form", FORM_TOKENS[1]),
        ):
            if label == "form" and (method, path) not in admin_only:
                continue
            headers = {"content-type": "application/json", "Authorization": f"Bearer {token}"}
            answer = ingest.request(method, concrete(path), content=b"{}", headers=headers)
            answers[f"{method} {path} ({label} token)"] = answer.status_code
    assert answers == dict.fromkeys(answers, 401)


def test_every_notify_endpoint_but_health_metrics_and_docs_answers_401_without_a_token(notify) -> None:  # noqa: ANN001
    protected = [(m, p) for m, p in asgi_routes(notify) if not is_open(m, p)]
    assert ("POST", "/v1/admin/flush-digests") in protected
    answers = {f"{m} {p}": ask_asgi(notify, m, p).status_code for m, p in protected}
    wrong = {
        f"{m} {p} (wrong token)": ask_asgi(notify, m, p, {"Authorization": f"Bearer {ADMIN_TOKENS[0]}x"}).status_code
        for m, p in protected
    }
    assert answers | wrong == dict.fromkeys(answers | wrong, 401)


def test_every_classify_endpoint_but_health_metrics_and_docs_answers_401_without_a_token(
    classify,  # noqa: ANN001
) -> None:
    protected = [(m, p) for m, p in asgi_routes(classify) if not is_open(m, p)]
    assert ("POST", "/v1/classify") in protected
    answers = {f"{m} {p}": ask_asgi(classify, m, p).status_code for m, p in protected}
    wrong = {
        f"{m} {p} (wrong token)": ask_asgi(classify, m, p, {"Authorization": f"Bearer {ADMIN_TOKENS[0]}x"}).status_code
        for m, p in protected
    }
    assert answers | wrong == dict.fromkeys(answers | wrong, 401)
    # And with a token the same endpoint answers: the 401 above is the token's doing, not a broken route.
    allowed = ask_asgi(classify, "POST", "/v1/classify", {"Authorization": f"Bearer {ADMIN_TOKENS[1]}"})
    assert allowed.status_code == 422  # the body "{}" has no text: the token itself was accepted


# --- tokens are compared in constant time ------------------------------------------------------------------------


class CompareDigest:
    """Stands in for hmac.compare_digest: records each comparison and answers as told (or as the real one)."""

    def __init__(self, forced: bool | None = None) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        self.forced = forced
        self.real: Callable[..., bool] = hmac.compare_digest

    def __call__(self, a, b) -> bool:  # noqa: ANN001
        self.calls.append((a if isinstance(a, bytes) else a.encode(), b if isinstance(b, bytes) else b.encode()))
        return self.real(a, b) if self.forced is None else self.forced


def patch_compare_digest(monkeypatch: pytest.MonkeyPatch, forced: bool | None = None) -> CompareDigest:
    recorder = CompareDigest(forced)
    monkeypatch.setattr(hmac, "compare_digest", recorder)
    for module in (ingest_app, notify_app):  # in case a module imported the function by name
        if hasattr(module, "compare_digest"):
            monkeypatch.setattr(module, "compare_digest", recorder)
    return recorder


def test_ingest_compares_a_presented_token_with_every_configured_token_through_compare_digest(
    ingest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = patch_compare_digest(monkeypatch)
    headers = {"content-type": "application/json", "Authorization": "Bearer not-a-token"}
    assert ingest.post("/v1/responses", content=b"{}", headers=headers).status_code == 401
    compared = {token for presented, token in recorder.calls if presented == b"not-a-token"}
    assert compared == {t.encode() for t in FORM_TOKENS + ADMIN_TOKENS}  # every one, not up to the first match


def test_ingest_decides_on_what_compare_digest_says_and_nothing_else(
    ingest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"content-type": "application/json"}
    patch_compare_digest(monkeypatch, forced=False)
    right = ingest.post(
        "/v1/responses", content=b"{}", headers={**headers, "Authorization": f"Bearer {FORM_TOKENS[0]}"}
    )
    assert right.status_code == 401  # the right token, refused because compare_digest said no
    patch_compare_digest(monkeypatch, forced=True)
    wrong = ingest.post("/v1/responses", content=b"{}", headers={**headers, "Authorization": "Bearer wrong"})
    assert wrong.status_code == 422  # a wrong token let through to validation because compare_digest said yes
    admin = ingest.get("/v1/responses/x/contact", headers={"Authorization": "Bearer wrong"})
    assert admin.status_code != 401


def test_notify_compares_an_admin_token_with_every_configured_token_through_compare_digest(
    notify,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = patch_compare_digest(monkeypatch)
    answer = ask_asgi(notify, "POST", "/v1/admin/flush-digests", {"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    compared = {token for presented, token in recorder.calls if presented == b"not-a-token"}
    assert compared == {t.encode() for t in ADMIN_TOKENS}


def test_notify_decides_on_what_compare_digest_says_and_nothing_else(notify, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    patch_compare_digest(monkeypatch, forced=False)
    right = ask_asgi(
        notify, "POST", "/v1/admin/flush-digests?owner=nobody", {"Authorization": f"Bearer {ADMIN_TOKENS[0]}"}
    )
    assert right.status_code == 401
    patch_compare_digest(monkeypatch, forced=True)
    wrong = ask_asgi(notify, "POST", "/v1/admin/flush-digests?owner=nobody", {"Authorization": "Bearer wrong"})
    assert wrong.status_code == 404  # past the token check: "no owner 'nobody'"


def test_classify_compares_a_token_with_every_configured_token_through_compare_digest_and_obeys_it(
    classify,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = patch_compare_digest(monkeypatch)
    assert ask_asgi(classify, "POST", "/v1/classify", {"Authorization": "Bearer not-a-token"}).status_code == 401
    compared = {token for presented, token in recorder.calls if presented == b"not-a-token"}
    assert compared == {t.encode() for t in ADMIN_TOKENS}
    patch_compare_digest(monkeypatch, forced=False)
    assert ask_asgi(classify, "POST", "/v1/classify", {"Authorization": f"Bearer {ADMIN_TOKENS[0]}"}).status_code == 401
    patch_compare_digest(monkeypatch, forced=True)
    assert ask_asgi(classify, "POST", "/v1/classify", {"Authorization": "Bearer wrong"}).status_code == 422
