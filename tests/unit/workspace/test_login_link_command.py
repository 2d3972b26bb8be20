"""`feedback workspace login-link`, run as support runs it: the link it prints signs in that owner role."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from feedback_runtime.signin import SignInLinks

OWNERS = Path(__file__).parents[3] / "config" / "owners.example.yaml"
SECRET = "support-secret-for-the-test"


def login_link(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSPACE_")} | {"OWNERS_FILE": str(OWNERS)}
    if secret is not None:
        env["WORKSPACE_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", "workspace", "login-link", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_the_printed_link_signs_in_the_named_owner_and_opens_the_asked_page() -> None:
    result = login_link("--owner", "turvallisuus", "--next", "/saapuneet", "--url", "https://tyotila.example.org")
    assert result.returncode == 0, result.stderr
    link = urlsplit(result.stdout.strip())
    assert (link.scheme, link.netloc, link.path) == ("https", "tyotila.example.org", "/kirjaudu")
    query = parse_qs(link.query)
    assert query["seuraava"] == ["/saapuneet"]
    assert SignInLinks(SECRET).owner(query["t"][0], max_age_seconds=60) == "turvallisuus"


def test_an_owner_the_directory_does_not_know_gets_no_link() -> None:
    result = login_link("--owner", "nobody")
    assert result.returncode == 2 and result.stdout == ""
    assert "no owner 'nobody'" in result.stderr


def test_without_the_workspace_secret_no_link_is_made() -> None:
    result = login_link("--owner", "turvallisuus", secret=None)
    assert result.returncode == 2 and "WORKSPACE_SECRET is not set" in result.stderr
