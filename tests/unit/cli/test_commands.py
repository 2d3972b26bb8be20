"""The `feedback` command's own checks, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OWNERS = Path(__file__).parents[3] / "config" / "owners.example.yaml"


def feedback(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", *args], capture_output=True, text=True, timeout=60
    )


def test_owners_check_accepts_the_example_and_lists_default_only_sections() -> None:
    result = feedback("owners", "check", str(OWNERS))
    assert result.returncode == 0, result.stderr
    assert "31 owners, default owner 'strategiatoimisto': valid" in result.stdout
    assert "  2.4 Palveluverkon määritysperiaatteet" in result.stdout
    assert "  5.3.1.2 " not in result.stdout


def test_owners_check_names_an_unknown_section(tmp_path: Path) -> None:
    broken = tmp_path / "owners.yaml"
    broken.write_text(OWNERS.read_text(encoding="utf-8").replace('"5.3.1.7"', '"5.3.1.8"'), encoding="utf-8")
    result = feedback("owners", "check", str(broken))
    assert result.returncode == 1
    assert "owner 'ministeriot-thl': unknown section '5.3.1.8'" in result.stderr


def test_owners_check_reports_invalid_yaml_without_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "owners.yaml"
    broken.write_text("default_owner: [unclosed", encoding="utf-8")
    result = feedback("owners", "check", str(broken))
    assert result.returncode == 1 and "not valid YAML" in result.stderr and "Traceback" not in result.stderr


def test_submit_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "response.json"
    bad.write_text("{not json", encoding="utf-8")
    result = feedback("submit", str(bad), "--token", "t", "--url", "http://127.0.0.1:9")
    assert result.returncode == 2 and "is not JSON" in result.stderr


def test_submit_says_when_ingest_cannot_be_reached(tmp_path: Path) -> None:
    good = tmp_path / "response.json"
    good.write_text("{}", encoding="utf-8")
    result = feedback("submit", str(good), "--token", "t", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "cannot reach http://127.0.0.1:9" in result.stderr


def test_dev_up_starts_the_workspace_on_its_own_port() -> None:
    result = feedback("dev", "up", "--help")
    assert result.returncode == 0, result.stderr
    assert "--workspace-port WORKSPACE_PORT" in result.stdout
    assert "the owners' workspace (default 8003)" in " ".join(result.stdout.split())


def test_dev_up_names_the_directorys_default_owner_in_its_sign_in_hint(tmp_path: Path) -> None:
    from feedback_cli.dev import _default_owner

    assert _default_owner(OWNERS) == "strategiatoimisto"
    broken = tmp_path / "owners.yaml"
    broken.write_text("default_owner: [unclosed", encoding="utf-8")
    assert _default_owner(broken) == "ID"
    assert _default_owner(tmp_path / "missing.yaml") == "ID"
