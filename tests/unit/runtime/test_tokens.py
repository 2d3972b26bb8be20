"""Bearer tokens, checked one way everywhere."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from feedback_runtime.tokens import UNAUTHORIZED_DETAIL, require_bearer, token_matches


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer alpha", True),
        ("bearer beta", True),
        ("Bearer  alpha ", True),
        ("Bearer alph", False),
        ("Bearer alphaa", False),
        ("Basic alpha", False),
        ("alpha", False),
        ("Bearer ", False),
        ("", False),
        (None, False),
    ],
)
def test_a_header_matches_only_with_one_of_the_configured_tokens(header: str | None, expected: bool) -> None:
    assert token_matches(header, ("alpha", "beta")) is expected


def test_no_configured_token_means_nobody_matches() -> None:
    assert not token_matches("Bearer ", ())
    assert not token_matches("Bearer anything", ())


def test_the_fastapi_dependency_refuses_with_the_same_401_everywhere() -> None:
    app = FastAPI()

    @app.get("/secret", dependencies=[Depends(require_bearer(lambda: ("alpha",)))])
    def secret() -> dict[str, str]:
        return {"ok": "yes"}

    client = TestClient(app)
    refused = client.get("/secret", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert refused.json() == {"detail": UNAUTHORIZED_DETAIL}
    assert refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/secret", headers={"Authorization": "Bearer alpha"}).json() == {"ok": "yes"}
