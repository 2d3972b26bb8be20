"""`feedback route correct` and `feedback labels export` say what is wrong before reaching the workspace: no token
(exit 2), or a workspace that cannot be reached (exit 1)."""

from __future__ import annotations

import pytest

from feedback_cli.devstack import free_port
from feedback_cli.main import main

CORRECT = ["route", "correct", "--response-id", "r-1", "--paragraph", "q38-0123456789ab", "--add", "5.4.3", "--reason", "Syy."]  # fmt: skip


@pytest.fixture(autouse=True)
def no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FEEDBACK_ADMIN_TOKEN", "ADMIN_API_TOKENS", "WORKSPACE_URL", "WORKSPACE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_token_the_commands_say_which_variable_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(CORRECT) == 2
    assert capsys.readouterr().err.strip() == (
        "error: no token: set FEEDBACK_ADMIN_TOKEN (one of the workspace's ADMIN_API_TOKENS)"
    )
    assert main(["labels", "export"]) == 2


def test_a_workspace_that_cannot_be_reached_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("FEEDBACK_ADMIN_TOKEN", "tunnus")
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert main([*CORRECT, "--url", nowhere]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot reach the workspace at {nowhere}/api/corrections")
    monkeypatch.setenv("WORKSPACE_URL", nowhere)
    assert main(["labels", "export"]) == 1
    assert f"{nowhere}/api/labels" in capsys.readouterr().err
