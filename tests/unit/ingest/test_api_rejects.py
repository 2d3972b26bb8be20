"""The ingest API refuses what it must refuse before anything is published."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_ingest.app import create_app
from feedback_ingest.settings import IngestSettings

TOKEN = "form-token-1"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry, tmp_path) -> TestClient:
    # No lifespan: no schema and no relay, so these requests must be refused before anything is stored.
    settings = IngestSettings(
        kafka_bootstrap_servers="127.0.0.1:1",
        ingest_api_tokens=f" {TOKEN}, other ",
        database_url=f"sqlite:///{tmp_path}/ingest.sqlite3",
    )
    return TestClient(create_app(settings, registry=registry))


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic Zm9ybTp4", f"Bearer {TOKEN}x", "Bearer "])
def test_a_missing_or_wrong_token_is_401(
    client: TestClient, registry: CollectorRegistry, seed002_response: dict, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = client.post("/v1/responses", json=seed002_response, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert registry.get_sample_value("feedback_ingest_rejected_total", {"reason": "unauthorized"}) == 1


def test_an_invalid_response_is_422_naming_the_field_and_the_reason(
    client: TestClient, registry: CollectorRegistry, seed002_response: dict
) -> None:
    seed002_response["answers"].append({"question": 71, "text": "x"})
    answer = client.post("/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body"]
    assert "question 71 is not asked of respondent type organization_or_parish" in error["msg"]
    assert registry.get_sample_value("feedback_ingest_rejected_total", {"reason": "invalid"}) == 1


def test_a_missing_field_is_422_with_its_location(client: TestClient, seed002_response: dict) -> None:
    del seed002_response["respondent"]["organization"]
    answer = client.post("/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "respondent", "organization"]


def test_the_service_refuses_to_start_without_tokens() -> None:
    with pytest.raises(ValueError, match="INGEST_API_TOKENS is empty"):
        create_app(IngestSettings(ingest_api_tokens=" , "))


def test_the_openapi_document_describes_the_submit_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/responses"]["post"]
    assert set(operation["responses"]) >= {"200", "202", "401", "409", "413", "415", "422"}
    assert "SurveyResponse" in spec["components"]["schemas"]


def test_http_answers_are_counted_by_route_template_not_by_raw_path(
    client: TestClient, registry: CollectorRegistry
) -> None:
    client.get("/v1/responses/some-id-123")
    client.get("/nowhere")
    assert (
        registry.get_sample_value(
            "feedback_ingest_http_requests_total",
            {"method": "GET", "route": "/v1/responses/{response_id}", "status": "401"},
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "feedback_ingest_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
        )
        == 1
    )
